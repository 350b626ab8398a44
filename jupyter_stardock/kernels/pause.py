"""Pause and resume a container kernel (issue 17): the engine's freezer keeps its memory, frees the CPU.

While a kernel is paused, what is sent to it waits: ZeroMQ queues the messages
of every connected client (an execute sent from JupyterLab gets its reply once
the kernel is resumed), and nothing is lost or refused. Waiting, rather than an
error, because a paused kernel is not broken: its state is all there, and
jupyter_server has no way to tell a client "paused" on the kernel channels. A
new websocket to a paused kernel waits for its kernel_info up to
jupyter_server's ``kernel_info_timeout`` and then opens. Only StarDock's own
requests (pause, resume, suspend) answer at once, with a sentence.

jupyter_client's restarter asks the provisioner's ``poll()``: the engine counts
a paused container as running, so it stays alive there. jupyter_server's culler
looks only at a kernel's last activity, execution state and connections
(``MappingKernelManager.cull_kernel_if_idle``), so a paused kernel would look
idle: :func:`guard_culler` makes it skip paused kernels.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ..core.users import Viewer
from ..engine import Engine
from ..errors import InUse, NotFound, StarDockError
from ..hub.service_client import ServiceClient
from .container import ContainerKernel

__all__ = [
    "KernelPauses",
    "Managers",
    "RemotePauses",
    "guard_culler",
    "idle_pauser",
    "pause_idle_kernels",
    "thaw",
]

log = logging.getLogger(__name__)


class Managers(Protocol):
    """The part of jupyter_server's mapping kernel manager pausing uses."""

    def __contains__(self, kernel_id: str) -> bool: ...
    def get_kernel(self, kernel_id: str) -> Any: ...
    def list_kernel_ids(self) -> list[str]: ...


#: (viewer, the id the viewer knows a kernel by) -> the kernel manager's id; NotFound if not theirs.
Resolve = Callable[[Viewer, str], str]


def container_state(data: dict[str, Any] | None) -> str:
    """'paused', 'running' or 'stopped', from an engine inspect."""
    state = (data or {}).get("State") or {}
    if state.get("Paused"):
        return "paused"
    return "running" if state.get("Running") else "stopped"


class KernelPauses:
    """Pause and resume this server's container kernels, by the ids their owners know them by."""

    def __init__(self, engine: Engine, managers: Callable[[], Managers], resolve: Resolve) -> None:
        self.engine = engine
        self._managers = managers
        self._resolve = resolve

    def container(self, internal: str) -> ContainerKernel:
        """The container kernel behind the kernel manager's id ``internal``."""
        kernel = self._managers().get_kernel(internal)
        # The StarDockProvisioner's container (not imported here: it imports this module).
        target = getattr(getattr(kernel, "provisioner", None), "container", None)
        if not isinstance(target, ContainerKernel) or target.container_id is None:
            raise NotFound(
                f"Kernel {internal!r} does not run in a StarDock container, so it cannot be "
                "paused or suspended."
            )
        return target

    def lookup(self, viewer: Viewer, kernel_id: str) -> tuple[str, ContainerKernel]:
        internal = self._resolve(viewer, kernel_id)
        return internal, self.container(internal)

    async def state_of(self, kernel: ContainerKernel) -> str:
        data = await self.engine.run(self.engine.inspect_container_sync, kernel.container_id or "")
        return container_state(data)

    async def pause(self, viewer: Viewer, kernel_id: str) -> dict[str, Any]:
        _, kernel = self.lookup(viewer, kernel_id)
        state = await self.state_of(kernel)
        if state == "paused":
            raise InUse(f"Kernel {kernel_id} is paused already; resume it to go on working.")
        if state != "running":
            raise InUse(
                f"Kernel {kernel_id} is not running (it may be restarting), so it cannot be paused."
            )
        await self.engine.run(self.engine.pause_container_sync, kernel.container_id or "")
        return {"id": kernel_id, "state": "paused"}

    async def resume(self, viewer: Viewer, kernel_id: str) -> dict[str, Any]:
        internal, kernel = self.lookup(viewer, kernel_id)
        if await self.state_of(kernel) != "paused":
            raise InUse(f"Kernel {kernel_id} is not paused, so there is nothing to resume.")
        await self.engine.run(self.engine.unpause_container_sync, kernel.container_id or "")
        touch(self._managers().get_kernel(internal))
        return {"id": kernel_id, "state": "running"}

    async def is_paused(self, internal: str) -> bool:
        """Whether the kernel manager's kernel ``internal`` is a paused container (False if unsure)."""
        try:
            return await self.state_of(self.container(internal)) == "paused"
        except (StarDockError, KeyError):
            return False


async def thaw(kernel: ContainerKernel) -> None:
    """Resume the container if it is paused (before a shutdown or restart); never raises."""
    engine, container = kernel.engine, kernel.container_id
    if not container:
        return
    try:
        if container_state(await engine.run(engine.inspect_container_sync, container)) == "paused":
            await engine.run(engine.unpause_container_sync, container)
    except StarDockError:
        pass  # the shutdown goes on as for any kernel: after its wait, a kill


def touch(kernel: Any) -> None:
    # A resume is activity: the time spent paused must not count as idle for the culler.
    if hasattr(kernel, "last_activity"):
        kernel.last_activity = datetime.now(UTC)


class PausedCheck(Protocol):
    async def is_paused(self, internal: str) -> bool: ...


class RemotePauses:
    """Remote mode: the hub service holds the containers, so it says which kernels are paused."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def is_paused(self, internal: str) -> bool:
        try:
            kernels = (await self.client.request("GET", "kernels"))["kernels"]
        except (StarDockError, KeyError, TypeError):
            return False  # unsure: the culler judges it as any kernel
        return any(k.get("id") == internal and k.get("state") == "paused" for k in kernels)


def guard_culler(managers: Any, pauses: PausedCheck) -> None:
    """Make jupyter_server's culler pass over paused kernels (their idleness is chosen, not dead).

    Wraps the manager instance's ``cull_kernel_if_idle``, which its periodic
    ``cull_kernels`` calls for every kernel: a kernel that is paused is left,
    every other kernel is judged exactly as before.
    """
    original = managers.cull_kernel_if_idle

    async def cull_unless_paused(kernel_id: str) -> None:
        if await pauses.is_paused(kernel_id):
            log.debug("StarDock: kernel %s is paused; the culler leaves it", kernel_id)
            return
        await original(kernel_id)

    managers.cull_kernel_if_idle = cull_unless_paused


def idle_since(kernel: Any, connections: int, now: datetime) -> float | None:
    """Seconds a kernel has been idle with no client connected (as the culler counts), else None."""
    last = getattr(kernel, "last_activity", None)
    if last is None or connections or getattr(kernel, "execution_state", "") == "busy":
        return None
    return (now - last) / timedelta(seconds=1)


async def pause_idle_kernels(
    managers: Any, pauses: KernelPauses, after: float, ids: Iterable[str] | None = None
) -> list[str]:
    """Pause each container kernel idle (no client, not busy) for more than ``after`` seconds."""
    now = datetime.now(UTC)
    connected: dict[str, int] = getattr(managers, "_kernel_connections", {})
    paused = []
    for internal in list(ids if ids is not None else managers.list_kernel_ids()):
        try:
            idle = idle_since(managers.get_kernel(internal), connected.get(internal, 0), now)
            if idle is None or idle <= after:
                continue
            kernel = pauses.container(internal)
            if await pauses.state_of(kernel) != "running":
                continue
            await pauses.engine.run(pauses.engine.pause_container_sync, kernel.container_id or "")
        except (StarDockError, KeyError):
            continue  # not a container kernel, or gone meanwhile
        log.info("StarDock: paused kernel %s after %.0f s idle (pause_idle_after)", internal, idle)
        paused.append(internal)
    return paused


async def idle_pauser(managers: Any, pauses: KernelPauses, after: float) -> None:
    """Run :func:`pause_idle_kernels` for ever, a few times per ``after``."""
    every = max(1.0, min(60.0, after / 4))
    while True:
        await asyncio.sleep(every)
        try:
            await pause_idle_kernels(managers, pauses, after)
        except Exception:  # the loop must outlive one bad round
            log.exception("StarDock: pausing idle kernels failed")
