"""A hub user's server relays a kernel's websockets (desktop, shell) to the StarDock service.

Remote mode forwards the REST API with plain HTTP (proxy_handlers); a websocket
needs a relay. The browser authenticates to its own server as for everything
else; the relay connects to the service with the server's Hub token, so the
service sees the same user and finds the kernel among theirs (another user's
kernel is the service's 404, passed on before the upgrade).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import httpclient, web
from tornado.websocket import (
    WebSocketClientConnection,
    WebSocketClosedError,
    WebSocketHandler,
    websocket_connect,
)

from .exec_socket import authorize_socket
from .handlers import StarDock

__all__ = ["RemoteDesktopSocket", "RemoteShellSocket", "RemoteSocket"]


class RemoteSocket(ExtensionHandlerMixin, WebSocketMixin, WebSocketHandler, JupyterHandler):
    """Relays one websocket of a kernel to the same path at the service."""

    auth_resource = "stardock"
    #: The websocket's path below the kernel, at the service.
    target = ""
    upstream: WebSocketClientConnection | None = None

    def initialize(self, name: str = "jupyter_stardock", *args: Any, **kwargs: Any) -> None:
        super().initialize(name, *args, **kwargs)

    def set_default_headers(self) -> None:
        """No JupyterHandler's default headers on a websocket upgrade."""

    async def get(self, *args: Any, **kwargs: Any) -> None:
        await authorize_socket(self)
        stardock: StarDock = self.settings["stardock"]
        remote = stardock.remote
        if remote is None:
            raise web.HTTPError(404)
        url = remote.url(f"kernels/{kwargs['kernel_id']}/{self.target}")
        url = (
            "ws"
            + url.removeprefix("http")
            + (f"?{self.request.query}" if self.request.query else "")
        )
        request = httpclient.HTTPRequest(url, headers={"Authorization": f"token {remote.token}"})
        try:
            self.upstream = await websocket_connect(request, subprotocols=["binary"])
        except httpclient.HTTPClientError as err:
            raise web.HTTPError(err.code, "The StarDock service refused.") from err
        except OSError as err:
            raise web.HTTPError(503, f"The StarDock service cannot be reached ({err}).") from err
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        self._pump = asyncio.ensure_future(self._down())

    async def _down(self) -> None:
        upstream = self.upstream
        while upstream is not None and (message := await upstream.read_message()) is not None:
            with contextlib.suppress(WebSocketClosedError):
                await self.write_message(message, binary=isinstance(message, bytes))
        reason = upstream.close_reason if upstream is not None else None
        self.close(1000, reason)

    async def on_message(self, message: str | bytes) -> None:
        if self.upstream is not None:
            await self.upstream.write_message(message, binary=isinstance(message, bytes))

    def on_close(self) -> None:
        if self.upstream is not None:
            self.upstream.close()
            self.upstream = None

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return "binary" if "binary" in subprotocols else None


class RemoteShellSocket(RemoteSocket):
    target = "shell"


class RemoteDesktopSocket(RemoteSocket):
    target = "desktop/websocket"
