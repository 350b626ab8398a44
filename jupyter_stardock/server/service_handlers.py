"""The hub service's own routes: kernelspecs and the kernels it runs for users' servers."""

from __future__ import annotations

import json
import re

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..errors import RecipeError
from ..services.hub_kernels import HubKernels
from .handlers import JSONBodyMixin, UserMixin

__all__ = [
    "KernelspecsHandler",
    "ServiceKernelActionHandler",
    "ServiceKernelHandler",
    "ServiceKernelsHandler",
]

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class KernelspecsHandler(UserMixin):
    """The viewer's environment + dataset pairs, for their server to publish as kernelspecs."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        specs = await self.service.kernelspecs_of(self.viewer)
        self.finish(json.dumps({"kernelspecs": specs}))


class ServiceKernelMixin(UserMixin):
    @property
    def kernels(self) -> HubKernels:
        return self.stardock.hub_kernels


class ServiceKernelsHandler(JSONBodyMixin, ServiceKernelMixin):
    """Start a kernel for the token's user; answers with its connection info."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body()
        kernel_id = str(body.get("kernel_id") or "")
        if not _UUID.fullmatch(kernel_id):
            raise RecipeError("kernel_id must be a kernel's UUID.")
        environment = str(body.get("environment") or "")
        dataset = body.get("dataset") or None
        # issue 18: the notebook's folder on the user's server (checked against their home).
        work = str(body["work"]) if body.get("work") else None
        language = str(body.get("language") or "python")
        connection = await self.kernels.start(
            self.viewer, kernel_id, environment, dataset, work, language
        )
        self.set_status(201)
        self.finish(json.dumps({"id": kernel_id, "connection": connection}))


class ServiceKernelHandler(ServiceKernelMixin):
    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        status = await self.kernels.poll(self.viewer, kernel_id)
        self.finish(json.dumps({"id": kernel_id, "alive": status is None, "exit_code": status}))

    @web.authenticated
    @authorized
    async def delete(self, kernel_id: str) -> None:
        """Shut down for good: the container goes and the outputs are archived."""
        await self.kernels.shutdown(self.viewer, kernel_id)
        self.set_status(204)
        self.finish()


class ServiceKernelActionHandler(JSONBodyMixin, ServiceKernelMixin):
    """``signal`` (interrupt fallback), ``stop`` (before a restart) and ``restart``."""

    @web.authenticated
    @authorized
    async def post(self, kernel_id: str, action: str) -> None:
        viewer = self.viewer
        self.kernels.owned_id(viewer, kernel_id)  # 404 before the body is read
        body = self.json_body()
        if action == "signal":
            await self.kernels.signal(viewer, kernel_id, int(body.get("signum", 2)))
            self.finish(json.dumps({"id": kernel_id}))
        elif action == "stop":
            await self.kernels.stop(viewer, kernel_id, graceful=bool(body.get("graceful", True)))
            self.finish(json.dumps({"id": kernel_id}))
        else:  # restart: same outputs and key, a fresh container
            connection = await self.kernels.restart(viewer, kernel_id)
            self.finish(json.dumps({"id": kernel_id, "connection": connection}))
