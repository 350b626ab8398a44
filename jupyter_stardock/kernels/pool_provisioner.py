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
from ..core.languages import PYTHON
from ..core.users import server_user
from ..engine import ImageInfo
from .container import ContainerKernel
from .host import KernelHost, host_for
from .launch import KernelSettings, MountedDataset
from .pool_slots import Slot, SlotTemplate
from .pool_start import slot_template

if TYPE_CHECKING:
    from ..config import StarDockSettings

__all__ = ["PooledStarts"]


class PooledStarts:
    """What StarDockProvisioner adds for the warm pool."""

    _slot: Slot | None = None
    #: Whose start took the slot (Hub user, groups, the id their server knows), for a cold retry.
    _slot_start: tuple[str | None, list[str] | None, str | None] = (None, None, None)
    _kernel: ContainerKernel | None

    if TYPE_CHECKING:  # the provisioner's own, which this mixin uses
        kernel_id: str
        kernel_spec: Any
        parent: Any
        image: str
        environment: str
        dataset: str
        language: str
        log: Any

        def _host(self) -> KernelHost: ...
        def _outputs_place(self, app: StarDockSettings, owner: str | None) -> tuple[Path, Path]: ...
        def _outputs_view(self, app: StarDockSettings, owner: str) -> tuple[Path, Path]: ...
        def _uid_gid(self, owner: str | None = None) -> tuple[int, int]: ...
        def _dataset(
            self, host: KernelHost, owner: str | None, groups: list[str] | None
        ) -> Dataset: ...
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

    def _template(
        self,
        host: KernelHost,
        image: ImageInfo,
        dataset: Dataset | MountedDataset | None,
        ids: tuple[int, int],
        owner: str | None,
        groups: list[str] | None,
        spec_name: str,
    ) -> SlotTemplate | None:
        """The template of a start of this kernelspec by ``owner`` (pool_start.slot_template)."""
        view = self._outputs_view(host.settings, owner) if owner is not None else None
        return slot_template(
            self.kernel_settings(),
            image=image,
            image_ref=self.image,
            environment=self.environment,
            dataset=dataset,
            uid=ids[0],
            gid=ids[1],
            owner=owner,
            server_user=server_user(),
            spec_name=spec_name,
            kernel_name=self._names()[1],
            outputs_place=self._outputs_place(host.settings, owner),
            archive_dir=Path(host.settings.archive_dir),
            groups=groups or (),
            outputs_view=view,
        )

    def _from_pool(
        self,
        host: KernelHost,
        image: ImageInfo,
        dataset: Dataset | MountedDataset | None,
        uid: int,
        gid: int,
        owner: str | None,
        groups: list[str] | None = None,
        client_id: str | None = None,
    ) -> ContainerKernel | None:
        """issue 14: note this start's key for the pool; take a ready slot of it if there is one.

        In the hub service (``owner``) the key is the Hub user's: only their start
        claims its slots. Their access to the dataset was checked by the caller
        (_dataset, as for a cold start) before this runs.
        """
        assert host.pool is not None
        template = self._template(host, image, dataset, (uid, gid), owner, groups, self._names()[0])
        if template is None:
            return None
        host.pool.note_use(template)
        self._slot = host.pool.claim(template.key)
        self._slot_start = (owner, groups, client_id)
        return self._slot.kernel if self._slot is not None else None

    async def _restored_template(
        self, host: KernelHost, owner: str | None, groups: list[str] | None, spec_name: str
    ) -> SlotTemplate | None:
        """issue 14: after a restart, the template a start of this kernelspec would note.

        Decided as a start decides it, now: the image the kernelspec names, the
        dataset if ``owner`` (with the groups of their last start) may still use it,
        their uid:gid and folders. None when such a start would not be pooled.
        """
        if self.language != PYTHON or host.engine is None:
            return None
        image = await host.engine.image(self.image)
        if image is None:
            return None
        dataset = self._dataset(host, owner, groups) if self.dataset else None
        return self._template(host, image, dataset, self._uid_gid(owner), owner, groups, spec_name)

    async def _claim(self, env: dict[str, str]) -> KernelConnectionInfo:
        """issue 14: make the claimed slot this kernel; if that fails, start cold instead."""
        slot, self._slot = self._slot, None
        host = self._host()
        assert slot is not None and host.pool is not None
        spec_name, display = self._names()
        owner, groups, client_id = self._slot_start
        try:
            return await host.pool.finish_claim(
                slot,
                kernel_id=self.kernel_id,
                client_id=client_id or self.kernel_id,
                spec_name=spec_name,
                kernel_name=display,
                env=env,
            )
        except Exception as err:  # whatever went wrong with the slot, a cold start may work
            self.log.warning(
                "StarDock: a warm kernel could not be claimed (%s); starting cold", err
            )
        self._kernel = await self._make_kernel(host, owner, groups, client_id=client_id, cold=True)
        return await self._kernel.start(env)

    def _pool_quiet(self) -> contextlib.AbstractContextManager[None]:
        """issue 14: while a cold start runs, the pool makes no slot (it must not slow it)."""
        host = host_for(self.parent)
        pool = host.pool if host is not None else None
        return pool.starting() if pool is not None else contextlib.nullcontext()
