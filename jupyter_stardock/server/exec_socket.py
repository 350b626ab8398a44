"""A websocket bridged to a process inside a kernel's container (an exec's stdio).

The shell (terminal_handlers) and the desktop relay (desktop_handlers) are both
one of these: the handler authenticates and authorizes like every StarDock route,
finds the kernel among the caller's own (another user's kernel is a 404), starts
the exec as the kernel's user and then copies bytes. The server never opens a
path inside the kernel's folders: whatever the kernel can reach, it reaches with
its own rights, from inside its container.

Messages from the browser or the CLI: binary frames are the process's stdin; a
text frame is JSON, ``{"resize": [rows, cols]}`` for a tty. Binary frames back
are its stdout. When the process ends (the kernel stopped, the shell exited),
the websocket closes with the exit status in its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
from typing import Any, Protocol, cast

from jupyter_core.utils import ensure_async
from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.httputil import HTTPServerRequest
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ..engine.exec import Execs, ExecStream, frames
from ..errors import NotFound, StarDockError
from ..kernels.shell import KernelPlace, locate
from .handlers import StarDock

__all__ = ["ExecSocket", "authorize_socket"]

_CLOSE = object()


class JupyterSocket(Protocol):
    """What authorize_socket uses of a Jupyter websocket handler (WebSocketMixin's check)."""

    request: HTTPServerRequest

    @property
    def current_user(self) -> Any: ...
    @property
    def authorizer(self) -> Authorizer: ...
    def check_origin(self, origin: str | None = None) -> bool: ...


async def authorize_socket(handler: JupyterSocket) -> None:
    """What @authenticated and @authorized do for the REST routes, before an upgrade.

    The origin first: tornado checks it only in the upgrade, and the handlers act
    (start an exec, reach the service) before that.
    """
    if not handler.check_origin(handler.request.headers.get("Origin")):
        raise web.HTTPError(403)
    user = handler.current_user
    if not user:
        raise web.HTTPError(403)
    authorized = handler.authorizer.is_authorized(
        cast(JupyterHandler, handler), user, "execute", "stardock"
    )
    if not await ensure_async(authorized):
        raise web.HTTPError(403)


class ExecSocket(ExtensionHandlerMixin, WebSocketMixin, WebSocketHandler, JupyterHandler):
    """Base of the kernel-side websockets: subclasses say what runs and whether on a tty."""

    auth_resource = "stardock"
    tty = True

    place: KernelPlace
    exec_stream: ExecStream | None = None

    def initialize(self, name: str = "jupyter_stardock", *args: Any, **kwargs: Any) -> None:
        super().initialize(name, *args, **kwargs)

    def set_default_headers(self) -> None:
        """No JupyterHandler's default headers (CSP and the like) on a websocket upgrade."""

    @property
    def stardock(self) -> StarDock:
        app: StarDock = self.settings["stardock"]
        return app

    async def get(self, *args: Any, **kwargs: Any) -> None:
        await authorize_socket(self)
        kernel_id = kwargs["kernel_id"]
        stardock = self.stardock
        if stardock.remote is not None:
            # A hub user's server holds no engine: the CLI and terminals go to the service.
            raise web.HTTPError(404, "Open this through the StarDock service.")
        # The viewer needs only the request's user, which this handler has as any other.
        viewer = stardock.viewer(cast(APIHandler, self))
        try:
            self.place = await locate(
                stardock.engine, await stardock.running_kernels(viewer), viewer, kernel_id
            )
            await self.prepare_place(self.place)
        except NotFound as err:
            raise web.HTTPError(404, str(err)) from err
        except StarDockError as err:
            raise web.HTTPError(err.status_code, str(err)) from err
        await super().get(*args, **kwargs)

    # -- what subclasses say ----------------------------------------------

    async def prepare_place(self, place: KernelPlace) -> None:
        """Anything to do in the container before the exec (e.g. start the X server)."""

    def command(self, place: KernelPlace) -> list[str]:
        raise NotImplementedError

    def environment(self, place: KernelPlace) -> dict[str, str]:
        return {}

    def initial_size(self) -> tuple[int, int] | None:
        rows, cols = self.get_argument("rows", ""), self.get_argument("cols", "")
        if rows.isdigit() and cols.isdigit() and 0 < int(rows) < 1000 and 0 < int(cols) < 1000:
            return int(rows), int(cols)
        return None

    # -- the bridge --------------------------------------------------------

    @property
    def execs(self) -> Execs:
        engine = self.stardock.engine
        return Execs(engine.address, timeout=max(engine.timeout, 10.0))

    async def open(self, *args: Any, **kwargs: Any) -> None:
        place, execs = self.place, self.execs
        try:
            self.exec_stream = await self.stardock.engine.run(
                execs.open,
                place.container_id,
                self.command(place),
                user=place.user,
                workdir=place.workdir,
                environment=self.environment(place),
                tty=self.tty,
                size=self.initial_size() if self.tty else None,
            )
        except StarDockError as err:
            self.close(1011, str(err)[:120])
            return
        self._loop = asyncio.get_running_loop()
        self._stdin: queue.Queue[object] = queue.Queue()
        threading.Thread(target=self._read, args=(self.exec_stream,), daemon=True).start()
        threading.Thread(target=self._write, args=(self.exec_stream,), daemon=True).start()

    def _read(self, stream: ExecStream) -> None:
        try:
            if self.tty:
                while chunk := stream.sock.recv(65536):
                    self._loop.call_soon_threadsafe(self._send, chunk)
            else:
                for kind, chunk in frames(stream.sock):
                    if kind == 1:
                        self._loop.call_soon_threadsafe(self._send, chunk)
                    else:
                        self.log.info("%s: %s", type(self).__name__, chunk[:500])
        except OSError:
            pass
        code: int | None = None
        with contextlib.suppress(StarDockError):
            code = stream.exit_code()
        self._loop.call_soon_threadsafe(self._ended, code)

    def _write(self, stream: ExecStream) -> None:
        while (data := self._stdin.get()) is not _CLOSE:
            assert isinstance(data, bytes)
            try:
                stream.sock.sendall(data)
            except OSError:
                return

    def _send(self, chunk: bytes) -> None:
        with contextlib.suppress(WebSocketClosedError):
            self.write_message(chunk, binary=True)

    def _ended(self, code: int | None) -> None:
        self.close(1000, "exited" if code is None else f"exit {code}")

    async def on_message(self, message: str | bytes) -> None:
        if self.exec_stream is None:
            return
        if isinstance(message, bytes):
            self._stdin.put(message)
            return
        try:
            request = json.loads(message)
        except ValueError:
            return
        size = request.get("resize") if isinstance(request, dict) else None
        if self.tty and isinstance(size, list) and len(size) == 2:
            rows, cols = (int(n) for n in size)
            if 0 < rows < 1000 and 0 < cols < 1000:
                with contextlib.suppress(StarDockError):
                    await self.stardock.engine.run(self.exec_stream.resize, rows, cols)

    def on_close(self) -> None:
        stream, self.exec_stream = self.exec_stream, None
        if stream is not None:
            self._stdin.put(_CLOSE)
            stream.close()
