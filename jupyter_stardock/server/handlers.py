"""Thin REST handlers over the StarDock services; routes.py lists them.

Each handler parses and authorizes the request, calls one service method and shapes
the answer; a StarDockError becomes a JSON error carrying the sentence for the user.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Protocol

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.iostream import StreamClosedError

from .._version import __version__
from ..core.buildlog import BuildLog
from ..core.catalog import Catalog
from ..core.datasets import DatasetRegistry
from ..core.exits import exit_records
from ..core.users import Viewer
from ..engine import Engine
from ..errors import EngineUnavailable, NotFound, RecipeError, StarDockError
from ..hub.service_client import ServiceClient
from ..services.environments import EnvironmentsService
from ..services.hub_kernels import HubKernels
from ..services.listings import archive_of, archives_of, visible_datasets
from ..services.status import EngineHealth, PoolSizes, engine_status_within, registry_status

__all__ = ["API", "JSONBodyMixin", "StarDock", "StarDockHandler", "UserMixin"]

API = "/stardock/api"
_COUNT = re.compile(r"[0-9]{1,15}")


class StarDock(Protocol):
    """What handlers use of the server application (the StarDockApp in settings["stardock"])."""

    environments: EnvironmentsService
    hub_kernels: HubKernels
    engine: Engine
    engine_health: EngineHealth
    catalog: Catalog
    dataset_registry: DatasetRegistry
    remote: ServiceClient | None
    pool: PoolSizes | None  # issue 14: the warm kernel pool

    @property
    def max_request_bytes(self) -> int: ...
    @property
    def engine_timeout(self) -> float: ...
    @property
    def base_alias(self) -> str: ...
    @property
    def archive_dir(self) -> Path: ...
    def viewer(self, handler: APIHandler) -> Viewer: ...
    async def running_kernels(self, viewer: Viewer | None = None) -> list[dict[str, Any]]: ...
    async def sync_kernelspecs_soon(self) -> None: ...


class StarDockHandler(ExtensionHandlerMixin, APIHandler):
    """Base of every StarDock handler: authorization resource and error mapping."""

    auth_resource = "stardock"

    def initialize(self, name: str = "jupyter_stardock", *args: Any, **kwargs: Any) -> None:
        super().initialize(name, *args, **kwargs)

    @property
    def stardock(self) -> StarDock:
        app: StarDock = self.settings["stardock"]
        return app

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
    body: dict[str, Any] = {
        "message": str(err),
        "reason": type(err).__name__,
        "version": __version__,
    }
    item = getattr(err, "item", None)
    if item is not None:
        body["item"] = item  # e.g. "command 2": the panel marks that line
    return body


class EngineOutageMixin(StarDockHandler):
    """An engine outage is logged once when it starts and once when it ends (EngineHealth).

    jupyter_server logs every 5xx as an error with the request's headers; the panel
    polls the status and its lists every few seconds, so an outage would otherwise
    be one error per poll.
    """

    _outage = False

    def engine_down(self, err: StarDockError) -> None:
        if isinstance(err, EngineUnavailable):
            self._outage = True
            self.stardock.engine_health.failed(str(err))

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, EngineUnavailable) and not self._finished:
            self.engine_down(e)
            self.send_error(e.status_code, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)

    def _log(self) -> None:
        if self._outage:
            self.log.debug(
                "%s %s: 503, the engine is unreachable", self.request.method, self.request.path
            )
            return
        super()._log()


class StatusHandler(EngineOutageMixin):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        app = self.stardock
        try:
            reply = await engine_status_within(
                app.engine,
                app.base_alias,
                app.engine_timeout,
                pool=app.pool,  # issue 14
            )
        except StarDockError as err:
            self.engine_down(err)
            self.set_status(err.status_code)
            self.finish(json.dumps({**error_body(err), "engine": None}))
            return
        app.engine_health.answered()
        # issue 16: the site's registry (null without c.StarDockApp.registry)
        registry = app.environments.builds.registry
        reply["registry"] = await registry_status(registry, app.engine_timeout)
        self.finish(json.dumps(reply))


class JSONBodyMixin(StarDockHandler):
    """Reads a bounded JSON body: 413 past the operator's limit, 400 when not JSON."""

    def json_body(self) -> dict[str, Any]:
        limit = self.stardock.max_request_bytes
        if len(self.request.body) > limit:
            raise web.HTTPError(
                413,
                f"The request is {len(self.request.body):,} bytes; the limit is {limit:,}. "
                "Send fewer or shorter commands.",
            )
        if not self.request.body:
            return {}
        try:
            body = json.loads(self.request.body)
        except ValueError as err:
            raise RecipeError(f"The request body is not valid JSON: {err}.") from err
        except RecursionError as err:
            raise RecipeError(
                "The request body nests lists or objects too deeply to read; a recipe is a "
                "flat object of lists of text."
            ) from err
        if not isinstance(body, dict):
            raise RecipeError("The request body must be a JSON object (a recipe).")
        return body


class UserMixin(StarDockHandler):
    @property
    def viewer(self) -> Viewer:
        # A single-user server belongs to the account it runs as (jupyter_server's
        # identity for token requests is an anonymous name that changes per client);
        # in the hub service, the token's Hub user.
        return self.stardock.viewer(self)

    @property
    def service(self) -> EnvironmentsService:
        return self.stardock.environments


class AppsHandler(StarDockHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        catalog = self.stardock.catalog
        self.finish(
            json.dumps({"apps": catalog.to_json(), "problems": [str(p) for p in catalog.problems]})
        )


class DatasetsHandler(UserMixin):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        described = await visible_datasets(self.stardock.dataset_registry, self.viewer)
        self.finish(json.dumps({"datasets": described}))


class DockerfileHandler(JSONBodyMixin, UserMixin):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        recipe = self.service.recipe_for(self.viewer, self.json_body())
        self.finish(json.dumps(await self.service.preview(recipe)))


class BuildsHandler(JSONBodyMixin, UserMixin):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish(json.dumps({"builds": self.service.build_views(self.viewer)}))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        viewer = self.viewer
        recipe = self.service.recipe_for(viewer, self.json_body())
        answer = await self.service.request_build(viewer, recipe)
        if answer.build is None:
            self.set_status(200)
            self.finish(json.dumps({"build": None, "environment": answer.environment}))
            return
        self.set_status(202)
        self.set_header("Location", f"{self.base_url.rstrip('/')}{API}/builds/{answer.build.id}")
        build = self.service.build_view(answer.build, viewer)
        self.finish(json.dumps({"build": build, "environment": None}))


class BuildHandler(UserMixin):
    @web.authenticated
    @authorized
    async def get(self, build_id: str) -> None:
        self.finish(json.dumps(self.service.build(self.viewer, build_id)))

    @web.authenticated
    @authorized
    async def delete(self, build_id: str) -> None:
        self.finish(json.dumps(await self.service.cancel(self.viewer, build_id)))


class BuildLogHandler(UserMixin):
    """The log as Server-Sent Events (``Accept: text/event-stream``) or as JSON pages.

    SSE resumes from ``Last-Event-ID`` or ``?offset=N``; each event's id is its
    line number. ``progress`` and the final ``end`` event carry the build (with
    its ``environment`` and ``kernelspec`` once it succeeded).
    """

    @web.authenticated
    @authorized
    async def get(self, build_id: str) -> None:
        buildlog = self.service.build_log(self.viewer, build_id)  # 404 for someone else's
        offset = self._offset()
        if "text/event-stream" not in self.request.headers.get("Accept", ""):
            limit = min(self._number("limit", "5000", "a number of lines (1 or more)", 1), 50000)
            self.finish(json.dumps(self.service.log_page(self.viewer, build_id, offset, limit)))
            return
        await self._stream(build_id, buildlog, offset)

    def _offset(self) -> int:
        raw = (self.request.headers.get("Last-Event-ID") or "").strip()
        if _COUNT.fullmatch(raw):
            return int(raw) + 1
        return self._number("offset", "0", "a line number (0 or more)")

    def _number(self, name: str, default: str, what: str, least: int = 0) -> int:
        """A query argument that must be a whole number (400 with a sentence otherwise)."""
        value = self.get_query_argument(name, default).strip()
        # Plain ASCII digits, few enough for int(): "²", "1e3", "-5" and a
        # 5000-digit number are refused with a sentence, not a 500.
        if not _COUNT.fullmatch(value) or int(value) < least:
            raise RecipeError(f"The {name} {value[:40]!r} is not {what}.", item=name)
        return int(value)

    async def _stream(self, build_id: str, buildlog: BuildLog, offset: int) -> None:
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # no proxy buffering of a live stream
        viewer = self.viewer
        try:
            while True:
                page = buildlog.read(offset, 2000)
                chunks = []
                number = page.next - (len(page.lines) - (1 if page.dropped else 0))
                if page.dropped:
                    chunks.append(f"event: dropped\ndata: {page.lines[0]}\n\n")
                for i, line in enumerate(page.lines[1 if page.dropped else 0 :]):
                    chunks.append(f"id: {number + i}\ndata: {line}\n\n")
                if page.starts_a_step:
                    # Progress bars need no second request: the build rides along.
                    build = self.service.build(viewer, build_id)
                    chunks.append(f"event: progress\ndata: {json.dumps(build)}\n\n")
                if chunks:
                    self.write("".join(chunks))
                    await self.flush()
                offset = page.next
                if page.closed and offset >= buildlog.count:
                    build = self.service.build(viewer, build_id)
                    self.write(f"event: end\ndata: {json.dumps(build)}\n\n")
                    await self.flush()
                    break
                if not await buildlog.wait(offset, timeout=15):
                    self.write(": keep-alive\n\n")
                    await self.flush()
        except StreamClosedError:
            return  # the viewer went away; the build goes on
        self.finish()


class EnvironmentsHandler(EngineOutageMixin, UserMixin):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish(json.dumps({"environments": await self.service.listed(self.viewer)}))


class EnvironmentHandler(UserMixin):
    @web.authenticated
    @authorized
    async def get(self, env_id: str) -> None:
        self.finish(json.dumps(await self.service.describe(self.viewer, env_id)))

    @web.authenticated
    @authorized
    async def delete(self, env_id: str) -> None:
        await self.service.remove(self.viewer, env_id)
        self.set_status(204)
        self.finish()


class EnvironmentDockerfileHandler(UserMixin):
    @web.authenticated
    @authorized
    async def get(self, env_id: str) -> None:
        dockerfile = await self.service.dockerfile(self.viewer, env_id)
        self.finish(json.dumps({"id": env_id, "dockerfile": dockerfile}))


class KernelsHandler(EngineOutageMixin, UserMixin):
    """Running StarDock kernels (their containers), with the outputs folder of each."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish(json.dumps({"kernels": await self.stardock.running_kernels(self.viewer)}))


class ArchivesHandler(UserMixin):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        app = self.stardock
        archives = await archives_of(app.engine, app.archive_dir, self.viewer)
        self.finish(json.dumps({"archives": [a.to_json() for a in archives]}))


class ArchiveHandler(UserMixin):
    """Download one archive (tar.gz with manifest.json and outputs/)."""

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        app = self.stardock
        archive = await archive_of(app.engine, app.archive_dir, self.viewer, kernel_id)
        self.set_header("Content-Type", "application/gzip")
        self.set_header(
            "Content-Disposition", f'attachment; filename="stardock-{kernel_id}.tar.gz"'
        )
        with archive.path.open("rb") as f:
            while chunk := f.read(1 << 20):
                self.write(chunk)
                await self.flush()
        self.finish()


class KernelExitHandler(UserMixin):
    """How a kernel's container last ended, in a sentence (JupyterLab shows it when it dies)."""

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        # By the id the viewer's server knows the kernel by, and only the viewer's own.
        record = exit_records.last(kernel_id, self.viewer.owner_filter)
        if record is None:
            raise NotFound(f"Kernel {kernel_id!r} has not stopped since this server started.")
        self.finish(json.dumps(record.to_json()))
