"""The hub service's own routes: kernelspecs and the kernels it runs for users' servers."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..core.kernelspecs import kernelspec_name
from ..core.quotas import check_kernel_quota
from ..errors import Forbidden, NotFound, RecipeError
from ..labels import recipe_from_labels
from .handlers import JSONBodyMixin, StarDockHandler, UserMixin

__all__ = [
    "KernelspecsHandler",
    "ServiceKernelActionHandler",
    "ServiceKernelHandler",
    "ServiceKernelsHandler",
]

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _connection_json(info: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in info.items()}


class ServiceKernelMixin(UserMixin):
    def owned_kernel_id(self: Any, kernel_id: str) -> str:
        """The service's own id of the viewer's kernel ``kernel_id`` (else 404).

        Users choose their kernels' ids (their servers do); the service runs each
        under an id of its own, so one user's id can never meet another's: a
        kernel of someone else answers exactly as an unknown one.
        """
        app, viewer = self.stardock, self.viewer
        internal = app.kernel_aliases.get((viewer.name, kernel_id))
        if internal is None and viewer.admin:
            internal = next((i for (_, c), i in app.kernel_aliases.items() if c == kernel_id), None)
        if internal is None or internal not in app.serverapp.kernel_manager:
            raise NotFound(f"There is no kernel {kernel_id!r}.")
        return str(internal)

    def owned_kernel(self: Any, kernel_id: str) -> Any:
        """The service's kernel manager of the viewer's kernel ``kernel_id`` (else 404)."""
        return self.stardock.serverapp.kernel_manager.get_kernel(self.owned_kernel_id(kernel_id))


class KernelspecsHandler(UserMixin, StarDockHandler):
    """The viewer's environment + dataset pairs, for their server to publish as kernelspecs."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        app, viewer = self.stardock, self.viewer
        existing = {e["id"]: e for e in await app.builds.environments()}
        specs = []
        for environment, datasets in app.claims.of(viewer.name).items():
            env = existing.get(environment)
            if env is None:
                continue
            titles = [a.title for a in app.catalog.apps.values() if a.id in set(env["apps"])]
            for dataset in datasets:
                title = None
                if dataset:
                    try:
                        title = app.dataset_registry.for_user(
                            dataset, viewer.name, viewer.groups, admin=viewer.admin
                        ).title
                    except (NotFound, Forbidden):
                        continue  # access withdrawn since
                specs.append(
                    {
                        "name": kernelspec_name(environment, dataset or None),
                        "environment": environment,
                        "image": env["tags"][0] if env["tags"] else env["image_id"],
                        "dataset": dataset or None,
                        "dataset_title": title,
                        "app_titles": titles,
                        "recipe": {**env["recipe"], "dataset": dataset or None},
                    }
                )
        self.finish(json.dumps({"kernelspecs": specs}))


class ServiceKernelsHandler(JSONBodyMixin, ServiceKernelMixin, StarDockHandler):
    """Start a kernel for the token's user; answers with its connection info."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        app, viewer = self.stardock, self.viewer
        body = self.json_body()
        kernel_id = str(body.get("kernel_id") or "")
        if not _UUID.fullmatch(kernel_id):
            raise RecipeError("kernel_id must be a kernel's UUID.")
        km = app.serverapp.kernel_manager
        alias = (viewer.name, kernel_id)
        if app.kernel_aliases.get(alias) in km:
            raise web.HTTPError(409, f"Your kernel {kernel_id} is running already.")
        environment = str(body.get("environment") or "")
        image = await self.environment_for(environment)  # someone else's image: 404
        dataset = body.get("dataset") or None
        if dataset is not None:  # 404 unknown, 403 not granted
            app.dataset_registry.for_user(dataset, viewer.name, viewer.groups, admin=viewer.admin)
        await check_kernel_quota(app, viewer)
        recipe = {**recipe_from_labels(image.labels), "dataset": dataset}
        spec = app.publish_kernelspec(
            recipe, environment, image.tags[0] if image.tags else image.id
        )
        internal = str(uuid.uuid4())
        app.register_service_kernel(internal, viewer.name, kernel_id)
        try:
            await km.start_kernel(
                kernel_id=internal,
                kernel_name=spec,
                stardock_owner=viewer.name,
                stardock_groups=list(viewer.groups),
                stardock_client_id=kernel_id,
            )
        except Exception:
            app.forget_service_kernel(internal)
            raise
        info = km.get_kernel(internal).get_connection_info()
        self.set_status(201)
        self.finish(json.dumps({"id": kernel_id, "connection": _connection_json(info)}))


class ServiceKernelHandler(ServiceKernelMixin, StarDockHandler):
    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        km = self.owned_kernel(kernel_id)
        status = await km.provisioner.poll() if km.provisioner else 0
        self.finish(json.dumps({"id": kernel_id, "alive": status is None, "exit_code": status}))

    @web.authenticated
    @authorized
    async def delete(self, kernel_id: str) -> None:
        """Shut down for good: the container goes and the outputs are archived."""
        internal = self.owned_kernel_id(kernel_id)
        await self.stardock.serverapp.kernel_manager.shutdown_kernel(internal, now=True)
        self.stardock.forget_service_kernel(internal)
        self.set_status(204)
        self.finish()


class ServiceKernelActionHandler(JSONBodyMixin, ServiceKernelMixin, StarDockHandler):
    """``signal`` (interrupt fallback), ``stop`` (before a restart) and ``restart``."""

    @web.authenticated
    @authorized
    async def post(self, kernel_id: str, action: str) -> None:
        km = self.owned_kernel(kernel_id)
        body = self.json_body()
        if action == "signal":
            await km.provisioner.send_signal(int(body.get("signum", 2)))
            self.finish(json.dumps({"id": kernel_id}))
        elif action == "stop":
            if body.get("graceful", True):
                await km.provisioner.terminate()
            else:
                await km.provisioner.kill()
            self.finish(json.dumps({"id": kernel_id}))
        else:  # restart: same outputs and key, a fresh container
            await self.stardock.serverapp.kernel_manager.restart_kernel(
                self.owned_kernel_id(kernel_id), now=True
            )
            info = km.get_connection_info()
            self.finish(json.dumps({"id": kernel_id, "connection": _connection_json(info)}))
