"""The desktop of a kernel: start its X server, and the websocket noVNC talks RFB over.

``POST /stardock/api/kernels/<id>/desktop`` starts Xtigervnc in the kernel's
container (once; kernels/desktop.py) and answers where the websocket is;
``GET /stardock/api/kernels/<id>/desktop/websocket`` is an ExecSocket whose
process is the relay inside the container, so the server never connects to a
path the kernel can change. Both find the kernel among the caller's own (another
user's is a 404); on a hub user's server the service answers them.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..engine.exec import Execs
from ..kernels.desktop import relay_command, start_command, start_problem
from ..kernels.shell import KernelPlace, locate
from .exec_socket import ExecSocket
from .handlers import StarDock, StarDockHandler

__all__ = ["DesktopHandler", "DesktopSocket", "start_desktop"]


async def start_desktop(stardock: StarDock, place: KernelPlace) -> None:
    """Xtigervnc runs in the kernel's container once this returns (raises a sentence if not)."""
    engine = stardock.engine
    execs = Execs(engine.address, timeout=max(engine.timeout, 10.0))
    code, output = await engine.run(execs.run, place.container_id, start_command(), user=place.user)
    problem = start_problem(code, output)
    if problem is not None:
        raise problem


class DesktopHandler(StarDockHandler):
    """Start the desktop of one of the caller's kernels."""

    @web.authenticated
    @authorized
    async def post(self, kernel_id: str) -> None:
        stardock = self.stardock
        viewer = stardock.viewer(self)
        place = await locate(
            stardock.engine, await stardock.running_kernels(viewer), viewer, kernel_id
        )
        await start_desktop(stardock, place)
        self.finish({"kernel": kernel_id, "websocket": f"kernels/{kernel_id}/desktop/websocket"})


class DesktopSocket(ExecSocket):
    """RFB between noVNC and the kernel's X server, through the relay in its container."""

    tty = False

    async def get(self, *args: Any, **kwargs: Any) -> None:
        """The upgrade: ExecSocket checks the caller, finds their kernel, starts its desktop."""
        await super().get(*args, **kwargs)

    async def prepare_place(self, place: KernelPlace) -> None:
        await start_desktop(self.stardock, place)

    def command(self, place: KernelPlace) -> list[str]:
        return list(relay_command())

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        # noVNC may ask for "binary"; the frames are binary whatever it asks.
        return "binary" if "binary" in subprotocols else None
