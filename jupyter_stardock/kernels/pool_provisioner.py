"""The provisioner's side of the warm pool (issue 14): take a slot at a start, or start cold.

A mixin of StarDockProvisioner, so provisioner.py keeps jupyter_client's side:
``_from_pool`` (in pre_launch) notes the start's key and claims a ready slot;
``_claim`` (in launch_kernel) makes the slot the kernel, or starts cold when
that fails; ``_pool_quiet`` holds the pool's refills while a cold start runs.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_client.connect import KernelConnectionInfo

from ..core.datasets import Dataset
from ..core.users import server_user
from ..engine import ImageInfo
from .container import ContainerKernel
from .host import KernelHost, host_for
from .launch import KernelSettings, MountedDataset
from .pool_slots import Slot
from .pool_start import slot_template

if TYPE_CHECKING:
    from ..config import StarDockSettings

__all__ = ["PooledStarts"]


class PooledStarts:
    """What StarDockProvisioner adds for the warm pool."""

    _slot: Slot | None = None
    _kernel: ContainerKernel | None

    if TYPE_CHECKING:  # the provisioner's own, which this mixin uses
        kernel_id: str
        kernel_spec: Any
        parent: Any
        image: str
        environment: str
        log: Any

        def _host(self) -> KernelHost: ...
        def _outputs_place(self, app: StarDockSettings, owner: str | None) -> tuple[Path, Path]: ...
        def kernel_settings(self) -> KernelSettings: ...
        async def _make_kernel(
            self,
            host: KernelHost,
            owner: str | None,
            groups: list[str] | None,
            adopt: bool = False,
            client_id: str | None = None,
            work: str | None = None,
            notebook: str | None = None,
            cold: bool = False,
        ) -> ContainerKernel: ...

    def _names(self) -> tuple[str, str]:
        """The kernelspec's name and display name."""
        display = self.kernel_spec.display_name if self.kernel_spec else ""
        return getattr(self.parent, "kernel_name", "") or "", display

    def _from_pool(
        self,
        host: KernelHost,
        image: ImageInfo,
        dataset: Dataset | MountedDataset | None,
        uid: int,
        gid: int,
        owner: str | None,
    ) -> ContainerKernel | None:
        """issue 14: note this start's key for the pool; take a ready slot of it if there is one."""
        assert host.pool is not None
        spec_name, display = self._names()
        template = slot_template(
            self.kernel_settings(),
            image=image,
            image_ref=self.image,
            environment=self.environment,
            dataset=dataset,
            uid=uid,
            gid=gid,
            owner=owner,
            server_user=server_user(),
            spec_name=spec_name,
            kernel_name=display,
            outputs_place=self._outputs_place(host.settings, owner),
            archive_dir=Path(host.settings.archive_dir),
        )
        if template is None:
            return None
        host.pool.note_use(template)
        self._slot = host.pool.claim(template.key)
        return self._slot.kernel if self._slot is not None else None

    async def _claim(self, env: dict[str, str]) -> KernelConnectionInfo:
        """issue 14: make the claimed slot this kernel; if that fails, start cold instead."""
        slot, self._slot = self._slot, None
        host = self._host()
        assert slot is not None and host.pool is not None
        spec_name, display = self._names()
        try:
            return await host.pool.finish_claim(
                slot,
                kernel_id=self.kernel_id,
                client_id=self.kernel_id,
                spec_name=spec_name,
                kernel_name=display,
                env=env,
            )
        except Exception as err:  # whatever went wrong with the slot, a cold start may work
            self.log.warning(
                "StarDock: a warm kernel could not be claimed (%s); starting cold", err
            )
        self._kernel = await self._make_kernel(host, None, None, cold=True)
        return await self._kernel.start(env)

    def _pool_quiet(self) -> contextlib.AbstractContextManager[None]:
        """issue 14: while a cold start runs, the pool makes no slot (it must not slow it)."""
        host = host_for(self.parent)
        pool = host.pool if host is not None else None
        return pool.starting() if pool is not None else contextlib.nullcontext()
