"""The warm pool told of builds (issue 14): a new environment's first kernel is warm too.

And after a restart, of the kernelspecs used recently (:meth:`PoolFeeder.restore`).

The environments service announces each kernelspec a successful build
published and each environment removed (services never import kernels: the
server wires these callbacks). A published kernelspec gets one slot at once, made
as a cold start from that kernelspec would make its kernel: the provisioner's
own settings (c.StarDockProvisioner) from the server's config, the uid:gid and
outputs folder of a kernel of the server's user. The slots of a rebuilt or
removed environment go.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Protocol

from jupyter_client.kernelspec import KernelSpec
from traitlets.config import Config

from ..core.datasets import DatasetRegistry
from ..core.users import server_user
from ..errors import StarDockError
from ..services.environments import EnvironmentsService
from .host import KernelHost
from .pool import KernelPool
from .pool_recent import RecentUse
from .pool_slots import SlotTemplate
from .pool_start import slot_template
from .provisioner import StarDockProvisioner
from .settings import ContainerSettings

__all__ = ["KernelSpecs", "PoolFeeder", "kernel_ids"]

log = logging.getLogger(__name__)


class _SpecManager(Protocol):
    def get_kernel_spec(self, kernel_name: str) -> KernelSpec: ...


class KernelSpecs(Protocol):
    """jupyter_server's kernel manager: a provisioner's parent, with the kernelspecs."""

    @property
    def kernel_spec_manager(self) -> _SpecManager: ...


def kernel_ids(settings: ContainerSettings) -> tuple[int, int]:
    """The uid:gid of a server user's kernel: a root server's kernels run as root_kernel_uid."""
    if os.geteuid() == 0:
        return settings.root_kernel_uid, settings.root_kernel_gid
    return os.getuid(), os.getgid()


class PoolFeeder:
    """Pre-starts a slot for each kernelspec a build published; recycles on rebuild or removal."""

    def __init__(self, pool: KernelPool, host: KernelHost, config: Config, root_dir: Path) -> None:
        self.pool = pool
        self.host = host
        # The provisioner's section, read by the same traitlets as a provisioner reads it.
        section = Config({"ContainerSettings": config.get("StarDockProvisioner", Config())})
        self.settings = ContainerSettings(config=section)
        self.root_dir = root_dir
        self._tasks: set[asyncio.Future[None]] = set()

    def attach(self, environments: EnvironmentsService) -> None:
        """Hear of the builds and removals of this server's environments service."""
        environments.on_published, environments.on_removing = self.published, self.removing

    def published(self, spec_name: str, environment: str, image: str, dataset: str | None) -> None:
        """A build made (or remade) ``image``: its old slots go, one new slot is started."""
        self.pool.recycle(image=image)
        if self.host.mode != "local":
            return  # the hub service: a slot is one user's, kept once they start a kernel of it
        task = asyncio.ensure_future(self._prestart(spec_name, environment, image, dataset))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def removing(self, environment: str) -> None:
        """Its slots go before its image does (a running container holds an image)."""
        await self.pool.drop(environment=environment)

    async def restore(self, kernel_manager: KernelSpecs) -> None:
        """After a restart: keep slots of the kernelspecs used recently (pool_recent.py).

        Each template is made as a start of that kernelspec by that user would make
        it now (the provisioner's own decisions, checks included); a kernelspec
        that is gone, or a dataset its user may no longer use, is passed over.
        """
        recent, engine = self.pool.recent, self.host.engine
        if recent is None or engine is None:
            return
        for use in await engine.run(recent.load):
            try:
                template = await self._restored(use, kernel_manager)
            except (StarDockError, OSError, KeyError, ValueError, TypeError) as err:
                log.info("StarDock: no warm kernel for %s after the restart: %s", use.spec, err)
                continue
            if template is not None:
                self.pool.note_use(template, at=use.used, built=use.built)

    async def _restored(self, use: RecentUse, kernel_manager: KernelSpecs) -> SlotTemplate | None:
        owner = use.owner or None
        if (owner is None) != (self.host.mode == "local"):
            return None  # a record of the other mode's state folder
        spec = kernel_manager.kernel_spec_manager.get_kernel_spec(use.spec)  # KeyError if gone
        provisioning = (spec.metadata or {}).get("kernel_provisioner") or {}
        if provisioning.get("provisioner_name") != "stardock-provisioner":
            return None
        # The provisioner a start of this kernelspec gets (jupyter_client makes it so).
        provisioner = StarDockProvisioner(
            kernel_id=f"pool-{use.spec}",
            kernel_spec=spec,
            parent=kernel_manager,
            **dict(provisioning.get("config") or {}),
        )
        return await provisioner._restored_template(self.host, owner, list(use.groups), use.spec)

    async def _prestart(
        self, spec_name: str, environment: str, image_ref: str, dataset_id: str | None
    ) -> None:
        engine = self.host.engine
        assert engine is not None
        try:
            image = await engine.image(image_ref)
            if image is None:
                return
            dataset = None
            if dataset_id:
                registry: DatasetRegistry = self.host.datasets()
                dataset = registry.get(dataset_id)
            uid, gid = kernel_ids(self.settings)
            root = self.root_dir.expanduser()
            template = slot_template(
                self.settings.kernel_settings(),
                image=image,
                image_ref=image_ref,
                environment=environment,
                dataset=dataset,
                uid=uid,
                gid=gid,
                owner=None,
                server_user=server_user(),
                spec_name=spec_name,
                kernel_name="",
                outputs_place=(root / self.settings.outputs_subdir, root),
                archive_dir=Path(self.host.settings.archive_dir),
            )
        except (StarDockError, OSError) as err:
            log.warning("StarDock: no warm kernel for %s: %s", spec_name, err)
            return
        if template is not None:
            self.pool.note_use(template, built=True)
