"""Pause, resume, suspend and restore a kernel (issue 17): thin handlers and their wiring.

A kernel is named by the id its owner's server knows it by. In a single-user
server that is the kernel manager's own id, and only this server's kernels are
found (a neighbour server on the same engine has its own kernel manager, so
never reaches them). In the hub service it is the id the user's server chose,
mapped to the service's kernel by the token's user (another user's kernel
answers as an unknown one); a user's server forwards these routes to the
service like the rest of the API.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.ioloop import IOLoop

from ..core.users import Viewer
from ..errors import NotFound
from ..kernels.pause import KernelPauses, RemotePauses, guard_culler, idle_pauser
from ..kernels.suspend import KernelSuspender
from .handlers import JSONBodyMixin, UserMixin

__all__ = [
    "KernelPauseHandler",
    "KernelRestoreHandler",
    "KernelResumeHandler",
    "KernelSuspendHandler",
    "SuspendedHandler",
    "start_idle_pauser",
    "wire_pauses",
    "wire_remote_pauses",
]


def wire_pauses(app: Any) -> None:
    """Give the StarDockApp its pauser and suspender; make the culler pass over paused kernels."""
    managers = app.serverapp.kernel_manager

    def resolve(viewer: Viewer, kernel_id: str) -> str:
        if app.mode == "service":
            return str(app.hub_kernels.owned_id(viewer, kernel_id))
        if kernel_id not in managers:
            raise NotFound(
                f"There is no kernel {kernel_id!r} on this server. The running kernels and "
                "their ids are in the StarDock panel and in `%stardock kernels`."
            )
        return kernel_id

    app.kernel_pauses = KernelPauses(app.engine, lambda: managers, resolve)
    app.kernel_suspender = KernelSuspender(
        app.kernel_pauses,
        lambda: managers,
        Path(app.state_dir),
        local=app.mode == "local",
        forget_kernel=app.forget_service_kernel if app.mode == "service" else lambda _: None,
    )
    guard_culler(managers, app.kernel_pauses)
    start_idle_pauser(app)


def wire_remote_pauses(app: Any) -> None:
    """Remote mode: the culler here asks the service which kernels are paused, and leaves those."""
    if app.remote is not None and app.serverapp is not None:
        guard_culler(app.serverapp.kernel_manager, RemotePauses(app.remote))


def start_idle_pauser(app: Any) -> None:
    """c.StarDockApp.pause_idle_after: pause idle kernels, in a task for the server's life.

    Scheduled on the server's loop rather than in the extension's start hook, which
    servers embedded in other programs (pytest-jupyter's among them) never call.
    """
    after = float(getattr(app, "pause_idle_after", 0) or 0)
    if after <= 0:
        return

    def start() -> None:
        app._idle_pause_task = asyncio.ensure_future(
            idle_pauser(app.serverapp.kernel_manager, app.kernel_pauses, after)
        )

    IOLoop.current().add_callback(start)


class KernelPauseHandler(JSONBodyMixin, UserMixin):
    """Pause a kernel: its container is frozen, its memory kept."""

    @property
    def pauses(self) -> KernelPauses:
        pauses: KernelPauses = self.settings["stardock"].kernel_pauses
        return pauses

    @property
    def suspender(self) -> KernelSuspender:
        suspender: KernelSuspender = self.settings["stardock"].kernel_suspender
        return suspender

    @web.authenticated
    @authorized
    async def post(self, kernel_id: str) -> None:
        self.finish(json.dumps(await self.pauses.pause(self.viewer, kernel_id)))


class KernelResumeHandler(KernelPauseHandler):
    """Resume a paused kernel: what was sent to it meanwhile is answered now."""

    @web.authenticated
    @authorized
    async def post(self, kernel_id: str) -> None:
        self.finish(json.dumps(await self.pauses.resume(self.viewer, kernel_id)))


class KernelSuspendHandler(KernelPauseHandler):
    """Save the kernel's variables to its outputs folder, then shut it down."""

    @web.authenticated
    @authorized
    async def post(self, kernel_id: str) -> None:
        record = await self.suspender.suspend(self.viewer, kernel_id)
        self.finish(json.dumps(record.to_json()))


class KernelRestoreHandler(KernelPauseHandler):
    """Start the suspended kernel's environment again and load its saved variables."""

    @web.authenticated
    @authorized
    async def post(self, kernel_id: str) -> None:
        reply = await self.suspender.restore(self.viewer, kernel_id)
        self.set_status(201)
        self.finish(json.dumps(reply))


class SuspendedHandler(KernelPauseHandler):
    """The viewer's suspended kernels, each with what was saved and what was not."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        records = self.suspender.records.list(self.viewer.owner_filter)
        self.finish(json.dumps({"suspended": [r.to_json() for r in records]}))
