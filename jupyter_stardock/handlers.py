"""Thin REST handlers over the StarDock core; the route table is at the bottom.

Handlers parse the request, call the core, and turn a StarDockError into a JSON
error carrying the sentence written for the user. They hold no logic of their own.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from ._version import __version__
from .errors import EngineUnavailable, StarDockError
from .status import engine_status

__all__ = ["StarDockHandler", "routes"]

API = "/stardock/api"


class StarDockHandler(ExtensionHandlerMixin, APIHandler):
    """Base of every StarDock handler: authorization resource and error mapping."""

    auth_resource = "stardock"

    def initialize(self, name: str = "jupyter_stardock", *args: Any, **kwargs: Any) -> None:
        super().initialize(name, *args, **kwargs)

    @property
    def stardock(self) -> Any:
        return self.settings["stardock"]

    def _handle_request_exception(self, e: BaseException) -> None:
        # A core error carries its own status and user sentence; let handlers just
        # raise it instead of wrapping every call in try/except.
        if isinstance(e, StarDockError) and not self._finished:
            self.log.info("%s %s: %s", self.request.method, self.request.path, e)
            self.send_error(e.status_code, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """JSON errors whose ``message`` is the sentence written for the user."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, StarDockError):
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(error_body(exc)))
            return
        super().write_error(status_code, **kwargs)


def error_body(err: StarDockError) -> dict[str, Any]:
    return {"message": str(err), "reason": type(err).__name__, "version": __version__}


class StatusHandler(StarDockHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        app = self.stardock
        try:
            # The engine client has its own socket timeout; this cap also covers a
            # query pool that is busy, so the answer comes within the limit anyway.
            reply = await asyncio.wait_for(
                engine_status(app.engine, app.base_alias), timeout=app.engine_timeout + 0.5
            )
        except TimeoutError:
            err = EngineUnavailable(
                f"The Docker Engine at {app.engine.address} did not answer within "
                f"{app.engine_timeout:g} seconds. Check that it is running and not overloaded."
            )
            self._send_error(err)
            return
        except StarDockError as err:
            self._send_error(err)
            return
        self.finish(json.dumps(reply))

    def _send_error(self, err: StarDockError) -> None:
        self.set_status(err.status_code)
        self.finish(json.dumps({**error_body(err), "engine": None}))


def routes() -> list[tuple[str, type[StarDockHandler]]]:
    """The route table, as data."""
    return [
        (rf"{API}/status", StatusHandler),
    ]
