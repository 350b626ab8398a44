"""Which kernel containers are this server instance's, and how the API lists them.

Several servers share one engine, often with one user and one state folder.
Each lists only the kernels it started or adopted (core/leases.py says how an
instance knows them): another server's kernels are not its to show or stop.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import labels
from ..core.exits import exit_records
from ..core.leases import Lease, ServerIdentity
from ..core.users import Viewer
from ..engine import Engine
from ..labels import KernelLabels
from .pool_claim import as_kernel_container

__all__ = ["OwnKernels", "kernel_containers"]


async def kernel_containers(engine: Engine) -> list[dict[str, Any]]:
    """Every StarDock kernel container on the engine, running or not (``containers_sync`` entries)."""
    return await engine.run(engine.containers_sync, label=labels.KERNEL)


class OwnKernels:
    """The kernel containers of one server instance: which are its, and how they are listed."""

    def __init__(
        self,
        engine: Engine,
        *,
        identity: ServerIdentity,
        lease: Lease,
        archive_dir: Path,
        root_dir: Path | None,
        home_of: Callable[[str], Path | None] | None = None,
    ) -> None:
        self.engine = engine
        self.identity = identity
        self.lease = lease
        self.archive_dir = archive_dir
        #: Outputs folders are shown relative to the server's root folder...
        self.root = root_dir.expanduser().resolve() if root_dir is not None else None
        #: ...or, in the hub service, to their owner's home, as the user's own server shows them.
        self.home_of = home_of

    def is_mine(self, kernel: KernelLabels, container_id: str) -> bool:
        """Whether a kernel container belongs to this server instance (started or adopted here)."""
        if kernel.server is None:
            # Started by a StarDock without leases: shown where it was shown before.
            return kernel.archives == str(self.archive_dir)
        return kernel.server.instance == self.identity.instance or (
            container_id in self.lease.adopted
        )

    async def running(self, viewer: Viewer | None = None) -> list[dict[str, Any]]:
        """Its kernels (the viewer's own, when scoped), as ``GET /stardock/api/kernels`` lists them."""
        kernels = []
        for found in await kernel_containers(self.engine):
            # issue 14: a warm pool's unclaimed slot is nobody's kernel; a claimed one is its kernel's.
            c = as_kernel_container(found, self.identity.state_dir)
            if c is None:
                continue
            kernel = KernelLabels.from_labels(c.get("Labels"))
            if kernel is None or not self.is_mine(kernel, c.get("Id", "")):
                continue
            owner = kernel.owner or None
            if viewer is not None and not viewer.may_see(owner):
                continue
            base = self.home_of(owner) if self.home_of is not None and owner else self.root
            outputs = Path(kernel.outputs_view or kernel.outputs)
            relative = None
            if base is not None and outputs.is_relative_to(base):
                relative = outputs.relative_to(base).as_posix()
            # The id the owner's server knows it by (the hub service's own may differ).
            kernel_id = kernel.client_id
            last_exit = exit_records.last(kernel_id, owner)
            kernels.append(
                {
                    "id": kernel_id,
                    "name": kernel.name,
                    "environment": kernel.environment,
                    "dataset": kernel.dataset or None,
                    "outputs": relative,
                    "started": kernel.started,
                    "state": c.get("State", ""),
                    "container": c["Id"][:12],
                    "owner": owner,
                    "last_exit": last_exit.to_json() if last_exit else None,
                }
            )
        return kernels
