"""Thin REST handlers over the StarDock core; the route table is at the bottom.

Handlers parse the request, call the core, and turn a StarDockError into a JSON
error carrying the sentence written for the user. They hold no logic of their own.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.iostream import StreamClosedError

from .._version import __version__
from ..core.buildlog import step_progress
from ..core.outputs import ArchiveStore
from ..core.quotas import check_build_quotas
from ..core.recipe import Recipe
from ..core.users import Viewer
from ..errors import EngineUnavailable, NotFound, RecipeError, StarDockError
from ..labels import EnvironmentLabels
from ..services.builds import environment_json
from ..services.status import engine_status

__all__ = ["API", "JSONBodyMixin", "StarDockHandler", "UserMixin"]

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
    body: dict[str, Any] = {
        "message": str(err),
        "reason": type(err).__name__,
        "version": __version__,
    }
    item = getattr(err, "item", None)
    if item is not None:
        body["item"] = item  # e.g. "command 2": the panel marks that line
    return body


class EngineOutageMixin:
    """An engine outage is logged once when it starts and once when it ends (EngineHealth).

    jupyter_server logs every 5xx as an error with the request's headers; the panel
    polls the status and its lists every few seconds, so an outage would otherwise
    be one error per poll.
    """

    _outage = False

    def engine_down(self: Any, err: StarDockError) -> None:
        if isinstance(err, EngineUnavailable):
            self._outage = True
            self.stardock.engine_health.failed(str(err))

    def _handle_request_exception(self: Any, e: BaseException) -> None:
        if isinstance(e, EngineUnavailable) and not self._finished:
            self.engine_down(e)
            self.send_error(e.status_code, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)  # type: ignore[misc]

    def _log(self: Any) -> None:
        if self._outage:
            self.log.debug(
                "%s %s: 503, the engine is unreachable", self.request.method, self.request.path
            )
            return
        super()._log()  # type: ignore[misc]


class StatusHandler(EngineOutageMixin, StarDockHandler):
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
        app.engine_health.answered()
        self.finish(json.dumps(reply))

    def _send_error(self, err: StarDockError) -> None:
        self.engine_down(err)
        self.set_status(err.status_code)
        self.finish(json.dumps({**error_body(err), "engine": None}))


class JSONBodyMixin:
    """Reads a bounded JSON body: 413 past the operator's limit, 400 when not JSON."""

    def json_body(self: Any) -> dict[str, Any]:
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


class UserMixin:
    @property
    def viewer(self: Any) -> Viewer:
        # A single-user server belongs to the account it runs as (jupyter_server's
        # identity for token requests is an anonymous name that changes per client);
        # in the hub service, the token's Hub user.
        return self.stardock.viewer(self)

    @property
    def owner(self: Any) -> str:
        return self.viewer.name

    def user_recipe(self: Any, body: dict[str, Any]) -> Recipe:
        """A recipe whose dataset, if any, exists and may be used by this user (else 400 / 403)."""
        recipe = Recipe.from_json(body)
        if recipe.dataset is not None:
            viewer = self.viewer
            try:
                self.stardock.dataset_registry.for_user(
                    recipe.dataset, viewer.name, viewer.groups, admin=viewer.admin
                )
            except NotFound as err:
                raise RecipeError(str(err), item="dataset") from err
        return recipe

    def build_json(self: Any, record: Any) -> dict[str, Any]:
        """A build as this viewer may see it: who else asked for it is never shown.

        A follower (who asked for an identical recipe while it was building) sees
        the build as their own request: their dataset, no owner, ``following``.
        """
        data: dict[str, Any] = record.to_json()
        viewer = self.viewer
        data["following"] = False
        if viewer.scoped and not viewer.admin:
            data.pop("followers", None)
            data.pop("follower_datasets", None)
            if record.owner != viewer.name:
                data.pop("owner", None)
                data["recipe"] = {
                    **data["recipe"],
                    "dataset": record.follower_datasets.get(viewer.name),
                }
                data["following"] = True
        return data

    async def environment_for(self: Any, env_id: str) -> Any:
        """The environment's image, if this viewer has it (404 otherwise)."""
        image = await self.stardock.builds.environment(env_id)
        # Another user's private environment answers exactly as an unknown one, also
        # in local mode where other unix users' servers share the engine.
        if not self.stardock.may_use_environment(self.viewer, env_id):
            raise NotFound(f"There is no environment {env_id!r}.")
        return image


class AppsHandler(StarDockHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        catalog = self.stardock.catalog
        self.finish(
            json.dumps({"apps": catalog.to_json(), "problems": [str(p) for p in catalog.problems]})
        )


class DatasetsHandler(UserMixin, StarDockHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        registry = self.stardock.dataset_registry
        viewer = self.viewer
        visible = registry.visible_to(viewer.name, viewer.groups, admin=viewer.admin)
        described = await asyncio.gather(*(registry.describe(d) for d in visible))
        self.finish(json.dumps({"datasets": described}))


class DockerfileHandler(JSONBodyMixin, UserMixin, StarDockHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        recipe = self.user_recipe(self.json_body())
        builds = self.stardock.builds
        spec = await builds.compose(recipe)
        catalog = self.stardock.catalog
        existing = await self.stardock.engine.image(spec.tag)
        self.finish(
            json.dumps(
                {
                    "dockerfile": spec.dockerfile,
                    "content_hash": spec.content_hash,
                    "environment_id": spec.content_hash[:16],
                    "tag": spec.tag,
                    "apps": list(spec.apps),
                    "added_dependencies": {
                        k: list(v) for k, v in catalog.added_dependencies(recipe.apps).items()
                    },
                    "exists": existing is not None,
                }
            )
        )


class BuildsHandler(JSONBodyMixin, UserMixin, StarDockHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        records = self.stardock.builds.records(self.viewer.owner_filter)
        self.finish(json.dumps({"builds": [self.build_json(r) for r in records]}))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        recipe = self.user_recipe(self.json_body())
        await check_build_quotas(self.stardock, self.viewer, recipe)
        record, image = await self.stardock.builds.submit(recipe, self.owner)
        environment_id = (record.environment_id if record is not None else None) or (
            built.env_id
            if image is not None and (built := EnvironmentLabels.from_labels(image.labels))
            else ""
        )
        self.stardock.claims.add(environment_id, self.owner, recipe.dataset)
        if image is not None:
            environment = environment_json(image)
            # The environment exists; this recipe's dataset still needs its kernelspec.
            environment["kernelspec"] = self.stardock.publish_kernelspec(
                recipe.to_json(), environment["id"], image.tags[0] if image.tags else image.id
            )
            self.set_status(200)
            self.finish(json.dumps({"build": None, "environment": environment}))
            return
        assert record is not None
        self.set_status(202)
        self.set_header("Location", f"{self.base_url.rstrip('/')}{API}/builds/{record.id}")
        self.finish(json.dumps({"build": self.build_json(record), "environment": None}))


class BuildHandler(UserMixin, StarDockHandler):
    @web.authenticated
    @authorized
    async def get(self, build_id: str) -> None:
        record = self.stardock.builds.get(build_id, self.viewer.owner_filter)
        self.finish(json.dumps(self.build_json(record)))

    @web.authenticated
    @authorized
    async def delete(self, build_id: str) -> None:
        record = await self.stardock.builds.cancel(build_id, self.viewer.owner_filter)
        self.finish(json.dumps(self.build_json(record)))


class BuildLogHandler(UserMixin, StarDockHandler):
    """The log as Server-Sent Events (``Accept: text/event-stream``) or as JSON pages.

    SSE resumes from ``Last-Event-ID`` or ``?offset=N``; each event's id is its
    line number. The stream ends with an ``end`` event carrying the build.
    """

    @web.authenticated
    @authorized
    async def get(self, build_id: str) -> None:
        builds = self.stardock.builds
        builds.get(build_id, self.viewer.owner_filter)  # 404 for someone else's build
        buildlog = builds.log(build_id)
        offset = self._offset()
        if "text/event-stream" not in self.request.headers.get("Accept", ""):
            limit = min(self._number("limit", "5000", "a number of lines (1 or more)", 1), 50000)
            page = buildlog.read(offset, limit)
            record = builds.get(build_id)
            self.finish(
                json.dumps(
                    {
                        "offset": page.offset,
                        "next": page.next,
                        "lines": page.lines,
                        "dropped": page.dropped,
                        "complete": page.closed and page.next >= buildlog.count,
                        "state": record.state.value,
                        "progress": record.progress,
                    }
                )
            )
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

    async def _stream(self, build_id: str, buildlog: Any, offset: int) -> None:
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # no proxy buffering of a live stream
        builds = self.stardock.builds
        try:
            while True:
                page = buildlog.read(offset, 2000)
                chunks = []
                number = page.next - (len(page.lines) - (1 if page.dropped else 0))
                if page.dropped:
                    chunks.append(f"event: dropped\ndata: {page.lines[0]}\n\n")
                for i, line in enumerate(page.lines[1 if page.dropped else 0 :]):
                    chunks.append(f"id: {number + i}\ndata: {line}\n\n")
                if any(step_progress(line) for line in page.lines):
                    # Progress bars need no second request: the build rides along.
                    record = builds.get(build_id)
                    chunks.append(
                        f"event: progress\ndata: {json.dumps(self.build_json(record))}\n\n"
                    )
                if chunks:
                    self.write("".join(chunks))
                    await self.flush()
                offset = page.next
                if page.closed and offset >= buildlog.count:
                    record = builds.get(build_id)
                    self.write(f"event: end\ndata: {json.dumps(self.build_json(record))}\n\n")
                    await self.flush()
                    break
                if not await buildlog.wait(offset, timeout=15):
                    self.write(": keep-alive\n\n")
                    await self.flush()
        except StreamClosedError:
            return  # the viewer went away; the build goes on
        self.finish()


class EnvironmentsHandler(EngineOutageMixin, UserMixin, StarDockHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        environments = await self.stardock.builds.environments()
        visible = self.stardock.visible_environments(self.viewer, environments)
        self.finish(json.dumps({"environments": visible}))


class EnvironmentHandler(UserMixin, StarDockHandler):
    @web.authenticated
    @authorized
    async def get(self, env_id: str) -> None:
        image = await self.environment_for(env_id)
        self.finish(json.dumps(environment_json(image)))

    @web.authenticated
    @authorized
    async def delete(self, env_id: str) -> None:
        await self.environment_for(env_id)  # 404 first
        viewer, claims = self.viewer, self.stardock.claims
        if viewer.owner_filter is not None and claims.users(env_id) - {viewer.name}:
            # Others use the same image: only this user's claim goes.
            claims.remove(env_id, viewer.name)
        else:
            if await self.stardock.environment_in_use(env_id):
                raise web.HTTPError(
                    409,
                    "A running kernel uses this environment; stop the kernel first, then delete it.",
                )
            await self.stardock.builds.remove_environment(env_id)
            claims.remove(env_id)
            self.stardock.kernelspecs.remove_environment(env_id)
        self.set_status(204)
        self.finish()


class EnvironmentDockerfileHandler(UserMixin, StarDockHandler):
    @web.authenticated
    @authorized
    async def get(self, env_id: str) -> None:
        built = EnvironmentLabels.from_labels((await self.environment_for(env_id)).labels)
        self.finish(json.dumps({"id": env_id, "dockerfile": built.dockerfile if built else ""}))


_COUNT = re.compile(r"[0-9]{1,15}")


class KernelsHandler(EngineOutageMixin, UserMixin, StarDockHandler):
    """Running StarDock kernels (their containers), with the outputs folder of each."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish(json.dumps({"kernels": await self.stardock.running_kernels(self.viewer)}))


class ArchivesHandler(UserMixin, StarDockHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        store = ArchiveStore(self.stardock.archive_dir)
        viewer = self.viewer
        archives = [
            a
            for a in await self.stardock.engine.run(store.list)
            if viewer.may_see(a.manifest.get("owner"))
        ]
        self.finish(json.dumps({"archives": [a.to_json() for a in archives]}))


class ArchiveHandler(UserMixin, StarDockHandler):
    """Download one archive (tar.gz with manifest.json and outputs/)."""

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        archive = await self.stardock.engine.run(
            ArchiveStore(self.stardock.archive_dir).find, kernel_id, self.viewer.may_see
        )
        if archive is None:
            raise NotFound(f"There is no archive of kernel {kernel_id!r}.")
        self.set_header("Content-Type", "application/gzip")
        self.set_header(
            "Content-Disposition", f'attachment; filename="stardock-{kernel_id}.tar.gz"'
        )
        with archive.path.open("rb") as f:
            while chunk := f.read(1 << 20):
                self.write(chunk)
                await self.flush()
        self.finish()


class KernelExitHandler(UserMixin, StarDockHandler):
    """How a kernel's container last ended, in a sentence (JupyterLab shows it when it dies)."""

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        from ..core.exits import exit_records

        # By the id the viewer's server knows the kernel by, and only the viewer's own.
        record = exit_records.last(kernel_id, self.viewer.owner_filter)
        if record is None:
            raise NotFound(f"Kernel {kernel_id!r} has not stopped since this server started.")
        self.finish(json.dumps(record.to_json()))
