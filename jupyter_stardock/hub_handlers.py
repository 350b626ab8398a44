"""Handlers of hub deployments: the service's kernel API, and remote mode's proxy.

The service starts kernels on behalf of users' servers (``kernels`` below);
every call is scoped to the token's user: someone else's kernel is "not found".
A user's server in remote mode forwards its ``/stardock/api/...`` requests to
the service with its own Hub token (:class:`RemoteProxyHandler`).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import httpclient, web
from tornado.iostream import StreamClosedError

from .errors import Forbidden, NotFound, RecipeError
from .handlers import API, JSONBodyMixin, StarDockHandler, UserMixin
from .kernelspecs import kernelspec_name
from .quotas import check_kernel_quota
from .recipe import recipe_from_labels

__all__ = ["RemoteProxyHandler", "remote_routes", "service_routes"]

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


class RemoteProxyHandler(StarDockHandler):
    """Remote mode: this server has no engine; the hub service answers instead.

    The request goes on with this server's own Hub token, so the service sees
    the server's owner, whatever the request says. Server-Sent Events stream
    through as they come.
    """

    async def _forward(self, path: str) -> None:
        remote = self.stardock.remote
        if remote is None:
            raise web.HTTPError(
                503,
                "This server is set up for a StarDock hub service but has no Hub API token to call it.",
            )
        url = remote.url(_forwardable(self.request.path, path))
        if self.request.query:
            url += "?" + self.request.query
        headers = remote.headers()
        for name in ("Accept", "Last-Event-ID"):
            if name in self.request.headers:
                headers[name] = self.request.headers[name]
        streaming = "text/event-stream" in self.request.headers.get("Accept", "")

        def on_chunk(chunk: bytes) -> None:
            self.write(chunk)
            self.flush()

        def on_header(line: str) -> None:
            # The status must be set before the first chunk flushes the headers out.
            if line.startswith("HTTP/"):
                parts = line.split(" ", 2)
                if len(parts) >= 2 and parts[1].isdigit():
                    self.set_status(int(parts[1]), parts[2].strip() if len(parts) > 2 else None)
            elif line.lower().startswith(("content-type:", "content-disposition:")):
                name, _, value = line.partition(":")
                self.set_header(name.strip(), value.strip())

        request = httpclient.HTTPRequest(
            url,
            method=self.request.method or "GET",
            headers=headers,
            body=self.request.body if self.request.method in ("POST", "PUT", "PATCH") else None,
            allow_nonstandard_methods=True,
            # A redirect would send this server's Hub token to wherever it points.
            follow_redirects=False,
            request_timeout=3600 if streaming else 120,
            streaming_callback=on_chunk,
            header_callback=on_header,
        )
        try:
            response = await httpclient.AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, StreamClosedError) as err:
            raise web.HTTPError(
                503,
                f"The StarDock service at {remote.base_url} cannot be reached ({err}). "
                "Ask the hub's operator to check that it runs.",
            ) from err
        if response.code == 599:
            raise web.HTTPError(503, f"The StarDock service at {remote.base_url} did not answer.")
        if path.startswith(("builds", "environments")) and self.request.method in (
            "POST",
            "DELETE",
        ):
            await self.stardock.sync_kernelspecs_soon()
        self.finish()

    @web.authenticated
    @authorized
    async def get(self, path: str) -> None:
        await self._forward(path)

    @web.authenticated
    @authorized
    async def post(self, path: str) -> None:
        await self._forward(path)

    @web.authenticated
    @authorized
    async def delete(self, path: str) -> None:
        await self._forward(path)


def _forwardable(raw_path: str, path: str) -> str:
    """The API path to send on, exactly as it arrived; refused when it could leave the API.

    Tornado hands handlers the decoded path, so ``..%2Fhub`` would arrive as
    ``../hub`` and reach another route of the service. StarDock's own paths
    never need an escaped character or a dot segment.
    """
    tail = raw_path.partition(f"{API}/")[2]
    segments = tail.split("/")
    if "%" in tail or any(seg in (".", "..") for seg in segments) or tail != path:
        raise NotFound(f"There is no StarDock API path {tail!r}.")
    return tail


_KID = r"(?P<kernel_id>[0-9a-f-]{36})"


def service_routes() -> list[tuple[str, type[StarDockHandler]]]:
    return [
        (rf"{API}/kernelspecs", KernelspecsHandler),
        (rf"{API}/service/kernels", ServiceKernelsHandler),
        (rf"{API}/service/kernels/{_KID}", ServiceKernelHandler),
        (
            rf"{API}/service/kernels/{_KID}/(?P<action>signal|stop|restart)",
            ServiceKernelActionHandler,
        ),
    ]


def remote_routes() -> list[tuple[str, type[StarDockHandler]]]:
    return [(rf"{API}/(?P<path>.*)", RemoteProxyHandler)]
