"""The kernels the hub service runs for its users' servers.

Users choose their kernels' ids (their servers do); the service runs each under
an id of its own, so one user's id can never meet another's, and someone
else's kernel answers exactly as an unknown one. Before a kernel starts, the
environment must be the user's, the dataset theirs to use and the kernel quota
not reached.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ..core.gpus import environment_wants_gpus
from ..core.kernelspecs import language_kernelspec_name
from ..core.languages import PYTHON
from ..core.quotas import check_gpu_quota, check_kernel_quota, slot_room
from ..core.users import Viewer
from ..errors import Forbidden, InUse, NotFound
from ..labels import recipe_from_labels
from .environments import EnvironmentsService

__all__ = ["HubKernels", "KernelManagers", "KernelSite"]


class _Provisioner(Protocol):
    async def poll(self) -> int | None: ...
    async def send_signal(self, signum: int) -> None: ...
    async def terminate(self, restart: bool = False) -> None: ...
    async def kill(self, restart: bool = False) -> None: ...


class _Kernel(Protocol):
    @property
    def provisioner(self) -> _Provisioner | None: ...
    def get_connection_info(self, session: bool = False) -> Mapping[str, Any]: ...


class KernelManagers(Protocol):
    """The part of jupyter_server's (async) mapping kernel manager the service uses."""

    def __contains__(self, kernel_id: str) -> bool: ...
    def get_kernel(self, kernel_id: str) -> _Kernel: ...
    async def start_kernel(self, **kwargs: Any) -> str: ...
    async def shutdown_kernel(self, kernel_id: str, now: bool = False) -> None: ...
    async def restart_kernel(self, kernel_id: str, now: bool = False) -> None: ...


class KernelSite(Protocol):
    """What the service asks of the hub service application (the StarDockApp)."""

    @property
    def kernel_aliases(self) -> dict[tuple[str, str], str]: ...
    def register_service_kernel(self, internal: str, owner: str, client_id: str) -> None: ...
    def forget_service_kernel(self, internal: str) -> None: ...
    async def running_kernels(self, viewer: Viewer | None = None) -> list[dict[str, Any]]: ...


def connection_json(info: Mapping[str, Any]) -> dict[str, Any]:
    """Connection info as JSON: the key is bytes for jupyter_client, text on the wire."""
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in info.items()}


class HubKernels:
    """Start, look up, signal, restart and shut down users' kernels by the ids they chose."""

    def __init__(
        self,
        environments: EnvironmentsService,
        site: KernelSite,
        kernel_manager: Callable[[], KernelManagers],
    ) -> None:
        self.environments = environments
        self.site = site
        self._kernel_manager = kernel_manager
        # issue 14: each user as their last start request showed them (groups, admin), so the
        # warm pool checks a slot against what that user may use now; told on a change.
        self.viewers: dict[str, Viewer] = {}
        self.on_viewer: Callable[[], None] | None = None

    # What check_kernel_quota reads (core.quotas.KernelQuotaContext).
    @property
    def quota_kernels(self) -> int | None:
        return self.environments.quotas.kernels

    async def running_kernels(self, viewer: Viewer | None = None) -> list[dict[str, Any]]:
        return await self.site.running_kernels(viewer)

    # issue 18
    async def _running_with_gpus(self, viewer: Viewer) -> int:
        if viewer.admin or self.environments.quotas.gpu_kernels is None:
            return 0
        count = 0
        for kernel in await self.running_kernels(Viewer(viewer.name, scoped=True)):
            try:
                image = await self.environments.environment_for(viewer, kernel["environment"])
            except NotFound:
                continue
            count += environment_wants_gpus(recipe_from_labels(image.labels))
        return count

    async def start(
        self,
        viewer: Viewer,
        kernel_id: str,
        environment: str,
        dataset: str | None,
        work: str | None = None,
        language: str = PYTHON,
    ) -> dict[str, Any]:
        """Start the viewer's kernel ``kernel_id``; its connection info, as JSON."""
        self._note_viewer(viewer)  # issue 14
        km = self._kernel_manager()
        running = self.site.kernel_aliases.get((viewer.name, kernel_id))
        if running is not None and running in km:
            raise InUse(f"Your kernel {kernel_id} is running already.")
        image = await self.environments.environment_for(viewer, environment)  # another's: 404
        if dataset is not None:  # 404 unknown, 403 not granted
            self.environments.datasets.for_user(
                dataset, viewer.name, viewer.groups, admin=viewer.admin
            )
        await check_kernel_quota(self, viewer)
        recipe = {**recipe_from_labels(image.labels), "dataset": dataset}
        # issue 18: the per-user GPU quota counts the user's running kernels of GPU environments.
        if environment_wants_gpus(recipe):
            check_gpu_quota(
                self.environments.quotas.gpu_kernels, viewer, await self._running_with_gpus(viewer)
            )
        spec = self.environments.publish_kernelspec(
            recipe, environment, image.tags[0] if image.tags else image.id
        )
        # issue 18: the environment's kernelspec of that language, written beside Python's.
        if language != PYTHON:
            spec = language_kernelspec_name(environment, dataset, language)
            if self.environments.kernelspecs.read(spec) is None:
                raise NotFound(f"The environment {environment!r} has no {language!r} kernel.")
        internal = str(uuid.uuid4())
        self.site.register_service_kernel(internal, viewer.name, kernel_id)
        try:
            await km.start_kernel(
                kernel_id=internal,
                kernel_name=spec,
                stardock_owner=viewer.name,
                stardock_groups=list(viewer.groups),
                stardock_client_id=kernel_id,
                stardock_work=work,  # issue 18: refused unless inside the viewer's home
            )
        except Exception:
            self.site.forget_service_kernel(internal)
            raise
        return connection_json(km.get_kernel(internal).get_connection_info())

    def owned_id(self, viewer: Viewer, kernel_id: str) -> str:
        """The service's own id of the viewer's kernel ``kernel_id`` (else 404)."""
        aliases = self.site.kernel_aliases
        internal = aliases.get((viewer.name, kernel_id))
        if internal is None and viewer.admin:
            internal = next((i for (_, c), i in aliases.items() if c == kernel_id), None)
        if internal is None or internal not in self._kernel_manager():
            raise NotFound(f"There is no kernel {kernel_id!r}.")
        return str(internal)

    def _provisioner(self, viewer: Viewer, kernel_id: str) -> _Provisioner:
        provisioner = (
            self._kernel_manager().get_kernel(self.owned_id(viewer, kernel_id)).provisioner
        )
        if provisioner is None:  # not started by this service: nothing to act on
            raise NotFound(f"There is no kernel {kernel_id!r}.")
        return provisioner

    async def poll(self, viewer: Viewer, kernel_id: str) -> int | None:
        """None while the kernel lives, else its exit code."""
        kernel = self._kernel_manager().get_kernel(self.owned_id(viewer, kernel_id))
        return await kernel.provisioner.poll() if kernel.provisioner else 0

    async def shutdown(self, viewer: Viewer, kernel_id: str) -> None:
        """Shut down for good: the container goes and the outputs are archived."""
        internal = self.owned_id(viewer, kernel_id)
        await self._kernel_manager().shutdown_kernel(internal, now=True)
        self.site.forget_service_kernel(internal)

    async def signal(self, viewer: Viewer, kernel_id: str, signum: int) -> None:
        """The interrupt fallback of the user's server."""
        await self._provisioner(viewer, kernel_id).send_signal(signum)

    async def stop(self, viewer: Viewer, kernel_id: str, graceful: bool) -> None:
        """Before a restart the user's server asks for: end the kernel's process."""
        provisioner = self._provisioner(viewer, kernel_id)
        if graceful:
            await provisioner.terminate()
        else:
            await provisioner.kill()

    async def restart(self, viewer: Viewer, kernel_id: str) -> dict[str, Any]:
        """Same outputs and key, a fresh container; the new connection info, as JSON."""
        internal = self.owned_id(viewer, kernel_id)
        km = self._kernel_manager()
        kernel = km.get_kernel(internal)
        await km.restart_kernel(internal, now=True)
        return connection_json(kernel.get_connection_info())

    # -- issue 14: the warm pool's slots are per user and count against their quotas ----

    def _note_viewer(self, viewer: Viewer) -> None:
        if self.viewers.get(viewer.name) != viewer:
            self.viewers[viewer.name] = viewer
            if self.on_viewer is not None:
                self.on_viewer()  # their slots are checked again (groups may have changed)

    async def slot_room(
        self, owner: str, groups: Sequence[str], environment: str, dataset: str | None
    ) -> int | None:
        """How many slots ``owner`` may hold in all (kernels/pool.SlotOwners); None: no limit.

        None of a dataset or environment they may no longer use (a cold start checks
        both too); else their kernel quota (and, for a GPU environment, their GPU quota)
        less their running kernels.
        """
        viewer = self.viewers.get(owner) or Viewer(owner, tuple(groups), scoped=True)
        try:
            image = await self.environments.environment_for(viewer, environment)
            if dataset is not None:  # as the provisioner checks it at a start
                self.environments.datasets.for_user(dataset, owner, viewer.groups)
        except (NotFound, Forbidden):
            return 0
        quotas = self.environments.quotas
        mine = Viewer(owner, scoped=True)
        room = slot_room(quotas.kernels, viewer, len(await self.running_kernels(mine)))
        if quotas.gpu_kernels is not None and environment_wants_gpus(
            recipe_from_labels(image.labels)
        ):
            gpus = slot_room(quotas.gpu_kernels, viewer, await self._running_with_gpus(viewer))
            room = gpus if room is None or (gpus is not None and gpus < room) else room
        return room
