"""The warm pool told of builds (issue 14): a new environment's first kernel is warm too.

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

from traitlets.config import Config

from ..core.datasets import DatasetRegistry
from ..core.users import server_user
from ..errors import StarDockError
from ..services.environments import EnvironmentsService
from .host import KernelHost
from .pool import KernelPool
from .pool_start import slot_template
from .settings import ContainerSettings

__all__ = ["PoolFeeder", "kernel_ids"]

log = logging.getLogger(__name__)


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
        task = asyncio.ensure_future(self._prestart(spec_name, environment, image, dataset))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def removing(self, environment: str) -> None:
        """Its slots go before its image does (a running container holds an image)."""
        await self.pool.drop(environment=environment)

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
