"""A JupyterLab terminal whose shell runs inside a kernel's container.

``POST /stardock/api/kernels/<id>/terminal`` creates a *named terminal* with
jupyter_server_terminals' own manager, so JupyterLab's terminal view, the Running
panel, resizing and culling work as for any terminal. Only its ``shell_command``
differs: ``python -m jupyter_stardock.cli.shell <kernel>``, which opens
``/stardock/api/kernels/<id>/shell`` (this module's websocket, bridged to a
``docker exec`` of the user's shell) and is the terminal's tty. In a hub user's
server, which holds no engine, that program talks to the StarDock service with
the user's Hub token; the service finds the kernel among the caller's own.
When the kernel stops, the exec ends, the program exits and the terminal closes.
"""

from __future__ import annotations

import sys
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..errors import NotFound
from ..hub.app import StarDockServiceApp
from ..kernels.shell import SHELL, KernelPlace, locate
from .exec_socket import ExecSocket
from .handlers import StarDockHandler

__all__ = ["KernelShellSocket", "KernelTerminalHandler", "shell_program"]


def shell_program(kernel_id: str) -> list[str]:
    """The terminal's command: this interpreter's ``jupyter stardock shell``."""
    return [sys.executable, "-m", "jupyter_stardock.cli.shell", kernel_id]


class KernelShellSocket(ExecSocket):
    """The user's login shell in the kernel's container, on a tty, in /outputs."""

    tty = True

    async def get(self, *args: Any, **kwargs: Any) -> None:
        """The upgrade: ExecSocket checks the caller and finds their kernel first."""
        await super().get(*args, **kwargs)

    def command(self, place: KernelPlace) -> list[str]:
        return list(SHELL)

    def environment(self, place: KernelPlace) -> dict[str, str]:
        return {"TERM": "xterm-256color"}


class KernelTerminalHandler(StarDockHandler):
    """Create the JupyterLab terminal of one of the caller's kernels."""

    @web.authenticated
    @authorized
    async def post(self, kernel_id: str) -> None:
        if isinstance(self.serverapp, StarDockServiceApp):
            # The hub service runs as root: a terminal is the user's own server's to make.
            raise NotFound("Open a kernel's terminal from your own Jupyter server.")
        url, token = await self._api_for(kernel_id)
        manager = self.settings.get("terminal_manager")
        if manager is None:
            raise web.HTTPError(
                503,
                "This Jupyter server has no terminals (jupyter_server_terminals is not "
                "enabled); use `jupyter stardock shell KERNEL` from a shell instead.",
            )
        model: dict[str, Any] = manager.create(
            shell_command=shell_program(kernel_id),
            extra_env={"JUPYTER_SERVER_URL": url, "JUPYTER_TOKEN": token},
        )
        name = model["name"]
        base = self.settings.get("base_url", "/")
        self.finish({"name": name, "kernel": kernel_id, "url": f"{base}lab/terminals/{name}"})

    async def _api_for(self, kernel_id: str) -> tuple[str, str]:
        """Where the terminal's program finds the kernel's shell, and its token."""
        stardock = self.stardock
        remote = stardock.remote
        if remote is not None:
            # The service knows the kernel by the id this server gave it: check it is there
            # now, so that a typo gets its sentence here rather than in a closing terminal.
            listed = await remote.request("GET", "kernels")
            ids = [k["id"] for k in (listed or {}).get("kernels", [])]
            if kernel_id not in ids:
                raise NotFound(f"There is no running StarDock kernel {kernel_id!r} of yours.")
            return remote.base_url, remote.token
        viewer = stardock.viewer(self)
        await locate(stardock.engine, await stardock.running_kernels(viewer), viewer, kernel_id)
        app = self.serverapp
        return app.connection_url, str(app.identity_provider.token or "")
