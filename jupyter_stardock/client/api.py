"""The StarDock REST API, and the bits of Jupyter's kernels API the fronts need.

Plain HTTP with the standard library, synchronous on purpose: a magic runs
inside a kernel whose event loop is already running. Every failure is one
sentence: a ``ClientError`` (``ServerNotFound``, ``ServerUnreachable``,
``ApiError``) or, for a build that did not succeed, ``BuildFailed`` (errors.py).
Finding the server is discovery.py's job, the event stream events.py's, and
how things are said presentation.py's.
"""

from __future__ import annotations

import ipaddress
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from http.client import HTTPException, HTTPResponse
from typing import Any

from ..errors import ApiError, BuildFailed, ClientError, ServerUnreachable
from .discovery import ServerInfo, discover_server
from .events import BuildProgress, LogEvent, parse_sse
from .presentation import failure_sentence

__all__ = ["API", "StarDockClient", "recipe_from"]

API = "stardock/api"


def recipe_from(
    *,
    apps: Sequence[str] = (),
    commands: Sequence[str] = (),
    pip: Sequence[str] = (),
    apt: Sequence[str] = (),
    dataset: str | None = None,
    pip_constraints: bool = True,
) -> dict[str, Any]:
    """The recipe JSON both fronts send; empty fields are left out."""
    recipe: dict[str, Any] = {}
    if dataset:
        recipe["dataset"] = dataset
    if not pip_constraints:
        recipe["pip_constraints"] = False
    for key, values in (
        ("apps", apps),
        ("commands", commands),
        ("pip_packages", pip),
        ("apt_packages", apt),
    ):
        if values:
            recipe[key] = list(values)
    return recipe


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class StarDockClient:
    """The StarDock REST API (and the bits of Jupyter's kernels API the fronts need)."""

    def __init__(self, server: ServerInfo, *, timeout: float = 30.0) -> None:
        self.server = server
        self.timeout = timeout
        handlers: list[urllib.request.BaseHandler] = []
        if _is_loopback(server.url):
            handlers.append(urllib.request.ProxyHandler({}))  # a local server is never proxied
        self._opener = urllib.request.build_opener(*handlers)

    @classmethod
    def discover(
        cls, url: str | None = None, token: str | None = None, **kwargs: Any
    ) -> StarDockClient:
        return cls(discover_server(url, token, **kwargs))

    # -- plumbing ---------------------------------------------------------

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.server.token}"} if self.server.token else {}

    def _open(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> HTTPResponse:
        url = self.server.url + path.lstrip("/")
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            url,
            data=data,
            method=method,
            headers={**self.headers, "Content-Type": "application/json", **(headers or {})},
        )
        try:
            response: HTTPResponse = self._opener.open(request, timeout=timeout or self.timeout)
            return response
        except urllib.error.HTTPError as err:
            raise self._api_error(err, path) from None
        except (urllib.error.URLError, HTTPException, OSError) as err:
            reason = getattr(err, "reason", None) or err
            raise ServerUnreachable(
                f"Could not reach the Jupyter server at {self.server.url} (found via "
                f"{self.server.source}): {reason}. Check that it is running, or give another "
                "address."
            ) from None

    def _api_error(self, err: urllib.error.HTTPError, path: str) -> ApiError:
        try:
            body = json.loads(err.read() or b"{}")
        except ValueError:
            body = {}
        message = body.get("message") if isinstance(body, dict) else None
        ours = isinstance(body, dict) and "version" in body  # a StarDock sentence
        if err.code in (401, 403) and not ours:
            message = (
                f"The Jupyter server at {self.server.url} refused the request ({err.code}): "
                "the token is missing or wrong. Give the server's token (JUPYTER_TOKEN, or "
                "the token= part of the URL `jupyter server list` shows)."
            )
        elif err.code == 404 and path.startswith(API) and not ours:
            message = (
                f"The Jupyter server at {self.server.url} does not serve the StarDock API "
                f"(404 for {path}). Enable the extension with "
                "`jupyter server extension enable jupyter_stardock` and restart the server."
            )
        elif not message:
            message = f"The Jupyter server answered {err.code} {err.reason} for {path}."
        return ApiError(str(message), err.code)

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """A JSON request; the decoded reply, or None for an empty one."""
        with self._open(method, path, body, **kwargs) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def api(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.request(method, f"{API}/{path.lstrip('/')}", body, **kwargs)

    # -- the StarDock API -------------------------------------------------

    def status(self) -> dict[str, Any]:
        return dict(self.api("GET", "status"))

    def apps(self) -> list[dict[str, Any]]:
        return list(self.api("GET", "apps")["apps"])

    def datasets(self) -> list[dict[str, Any]]:
        return list(self.api("GET", "datasets")["datasets"])

    def environments(self) -> list[dict[str, Any]]:
        return list(self.api("GET", "environments")["environments"])

    def environment(self, env_id: str) -> dict[str, Any]:
        return dict(self.api("GET", f"environments/{env_id}"))

    def delete_environment(self, env_id: str) -> None:
        self.api("DELETE", f"environments/{env_id}")

    def dockerfile(self, recipe: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.api("POST", "dockerfile", dict(recipe)))

    def builds(self) -> list[dict[str, Any]]:
        return list(self.api("GET", "builds")["builds"])

    def build_record(self, build_id: str) -> dict[str, Any]:
        return dict(self.api("GET", f"builds/{build_id}"))

    def cancel_build(self, build_id: str) -> dict[str, Any]:
        return dict(self.api("DELETE", f"builds/{build_id}"))

    def submit(self, recipe: Mapping[str, Any]) -> dict[str, Any]:
        """``{"build": Build, "environment": None}`` or ``{"build": None, "environment": ...}``."""
        return dict(self.api("POST", "builds", dict(recipe)))

    def log_page(self, build_id: str, offset: int = 0) -> dict[str, Any]:
        return dict(self.api("GET", f"builds/{build_id}/log", query={"offset": str(offset)}))

    def stardock_kernels(self) -> list[dict[str, Any]]:
        return list(self.api("GET", "kernels")["kernels"])

    def archives(self) -> list[dict[str, Any]]:
        return list(self.api("GET", "archives")["archives"])

    def follow_log(self, build_id: str, offset: int = 0, *, retries: int = 3) -> Iterator[LogEvent]:
        """The build's log as it is written, ending with an ``end`` event carrying the build.

        A dropped connection is resumed from the last line seen.
        """
        attempts = 0
        while True:
            try:
                for event in self._sse(build_id, offset):
                    if event.number is not None:
                        offset = event.number + 1
                    yield event
                    if event.kind == "end":
                        return
            except ServerUnreachable:
                attempts += 1
                if attempts > retries:
                    raise
                time.sleep(min(2.0 * attempts, 5.0))
                continue
            # The stream closed without its end event (a proxy, a restart): look once more.
            record = self.build_record(build_id)
            if record["state"] not in ("queued", "running"):
                yield LogEvent("end", build=record)
                return
            attempts += 1
            if attempts > retries:
                raise ServerUnreachable(
                    f"The build log stream of {build_id} kept closing; the build goes on. "
                    f"Follow it again later (`jupyter stardock logs {build_id} --follow`)."
                )

    def _sse(self, build_id: str, offset: int) -> Iterator[LogEvent]:
        # The server sends a keep-alive every 15 seconds, so a minute of silence is a failure.
        response = self._open(
            "GET",
            f"{API}/builds/{build_id}/log",
            query={"offset": str(offset)},
            headers={"Accept": "text/event-stream"},
            timeout=60,
        )
        with response:
            try:
                yield from parse_sse(response)
            except (HTTPException, OSError) as err:
                raise ServerUnreachable(f"The build log stream broke: {err}.") from None

    # -- Jupyter's kernels API --------------------------------------------

    def kernelspecs(self) -> dict[str, Any]:
        return dict(self.request("GET", "api/kernelspecs")["kernelspecs"])

    def start_kernel(self, name: str) -> dict[str, Any]:
        return dict(self.request("POST", "api/kernels", {"name": name}, timeout=180))

    def kernel(self, kernel_id: str) -> dict[str, Any] | None:
        try:
            return dict(self.request("GET", f"api/kernels/{kernel_id}"))
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    def interrupt_kernel(self, kernel_id: str) -> None:
        self.request("POST", f"api/kernels/{kernel_id}/interrupt", {})

    def shutdown_kernel(self, kernel_id: str) -> None:
        try:
            self.request("DELETE", f"api/kernels/{kernel_id}", timeout=60)
        except ApiError as err:
            if err.status != 404:  # already gone is what we wanted
                raise

    # -- workflows both fronts use ----------------------------------------

    def build(
        self,
        recipe: Mapping[str, Any],
        on_progress: Callable[[BuildProgress], None] | None = None,
    ) -> dict[str, Any]:
        """Build ``recipe`` (or find it built); the environment, with its kernelspec name."""
        reply = self.submit(recipe)
        if reply.get("environment") is not None:
            return dict(reply["environment"])
        build = reply["build"]
        progress = BuildProgress(build["id"], build["environment_id"], state=build["state"])
        if on_progress is not None:
            on_progress(progress)
        final: dict[str, Any] = build
        for event in self.follow_log(build["id"]):
            if event.kind == "end":
                final = event.build or final
                progress.state = final.get("state", progress.state)
            elif event.kind == "progress":
                progress.update(event.build or {})
            else:
                progress.add(event.text)  # the step rides along in the progress events
            if on_progress is not None:
                on_progress(progress)
        if final.get("state") != "succeeded":
            raise BuildFailed(failure_sentence(final, build["id"]))
        # The end event's build carries its environment and kernelspec: no second request.
        environment = final.get("environment")
        if not environment:
            raise BuildFailed(
                f"The build {build['id']} succeeded but its environment is missing; "
                "it may have been removed meanwhile. Build again."
            )
        return dict(environment)

    def resolve_environment(self, ref: str) -> dict[str, Any]:
        """An environment by id, unique id prefix (4+ characters) or tag."""
        ref = ref.strip()
        environments = self.environments()
        exact = [e for e in environments if e["id"] == ref or ref in e.get("tags", ())]
        if exact:
            return exact[0]
        matches = [e for e in environments if len(ref) >= 4 and e["id"].startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ClientError(
                f"{ref!r} matches {len(matches)} environments "
                f"({', '.join(e['id'] for e in matches)}); give more of the id."
            )
        raise ClientError(
            f"There is no environment {ref!r}. List them with `%stardock envs` or "
            "`jupyter stardock envs`."
        )

    def kernelspec_for(self, environment: Mapping[str, Any], dataset: str | None) -> str:
        """The kernelspec that runs ``environment`` beside ``dataset``, publishing it if need be."""
        # Read from the specs' own metadata, so the client need not know how names are made.
        for name, model in self.kernelspecs().items():
            meta = ((model.get("spec") or {}).get("metadata") or {}).get("stardock") or {}
            if meta.get("environment") == environment["id"] and (meta.get("dataset") or None) == (
                dataset or None
            ):
                return str(name)
        recipe = {**(environment.get("recipe") or {}), "dataset": dataset}
        recipe = {k: v for k, v in recipe.items() if v}
        preview = self.dockerfile(recipe)
        if preview.get("environment_id") != environment["id"] or not preview.get("exists"):
            raise ClientError(
                f"The environment {environment['id']} was built on an older base image, so it "
                f"cannot get a kernel for {'dataset ' + repr(dataset) if dataset else 'no dataset'} "
                "now. Build its recipe again (the same apps and commands) and use the new one."
            )
        return str(self.build(recipe)["kernelspec"])
