"""A client for the StarDock REST API, shared by the IPython magics and the CLI.

It finds the Jupyter server on its own (see :func:`discover_server`), speaks
plain HTTP with the standard library (synchronous on purpose: a magic runs
inside a kernel whose event loop is already running), and turns every failure
into one sentence: a ``ClientError`` (``ServerNotFound``, ``ServerUnreachable``,
``ApiError``) or, for a build that did not succeed, ``BuildFailed`` (errors.py).

The presentation helpers at the bottom (tables, sizes, ages, a text progress
bar) are shared by both fronts so they say things the same way.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from typing import Any

from ..core.buildlog import step_progress
from ..core.kernelspecs import kernelspec_name
from ..errors import (
    ApiError,
    BuildFailed,
    ClientError,
    ServerNotFound,
    ServerUnreachable,
)

__all__ = [
    "ApiError",
    "BuildProgress",
    "ClientError",
    "LogEvent",
    "ServerInfo",
    "ServerNotFound",
    "ServerUnreachable",
    "StarDockClient",
    "apps_table",
    "datasets_table",
    "discover_server",
    "environments_table",
    "failure_sentence",
    "format_age",
    "format_size",
    "format_table",
    "parse_size",
    "parse_time",
    "progress_bar",
    "recipe_from",
    "recipe_summary",
]

API = "stardock/api"


# -- finding the server -----------------------------------------------------


@dataclass(frozen=True)
class ServerInfo:
    """Where a Jupyter server is, how to authenticate, and how we found it (for messages)."""

    url: str
    token: str = ""
    source: str = "given"

    def __post_init__(self) -> None:
        if not self.url.endswith("/"):
            object.__setattr__(self, "url", self.url + "/")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ancestors(pid: int) -> list[int]:
    """``pid``'s parent, grandparent, ... as far as /proc tells (Linux); else just the parent."""
    chain: list[int] = []
    current = pid
    for _ in range(32):
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            if not chain and current == os.getpid():
                chain.append(os.getppid())
            break
        if parent <= 1:
            break
        chain.append(parent)
        current = parent
    return chain


def _runtime_servers(runtime_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Live servers' runtime files (``jpserver-<pid>.json``), newest first."""
    found = []
    for path in sorted(runtime_dir.glob("jpserver-*.json"), key=_mtime, reverse=True):
        try:
            info = json.loads(path.read_text())
            pid = int(info["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _alive(pid) and info.get("url"):
            found.append((path, info))
    return found


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _same_server(a: str, b: str) -> bool:
    pa, pb = urllib.parse.urlsplit(a), urllib.parse.urlsplit(b)
    loopback = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}
    host_a = "localhost" if (pa.hostname or "") in loopback else pa.hostname
    host_b = "localhost" if (pb.hostname or "") in loopback else pb.hostname
    return (host_a, pa.port, pa.path.rstrip("/")) == (host_b, pb.port, pb.path.rstrip("/"))


def discover_server(
    url: str | None = None,
    token: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    runtime_dir: Path | None = None,
    pid: int | None = None,
    cwd: Path | None = None,
    override_hint: str = "--url URL --token TOKEN",
) -> ServerInfo:
    """The Jupyter server to talk to, in this order:

    1. ``url`` (and ``token``) given explicitly;
    2. ``JUPYTER_SERVER_URL`` (with ``JUPYTER_TOKEN``);
    3. the runtime file (``jpserver-<pid>.json``) of the server this process runs
       under: a kernel's parent is its server;
    4. JupyterHub: ``JUPYTERHUB_SERVICE_URL`` or ``JUPYTERHUB_SERVICE_PREFIX``, with
       ``JUPYTERHUB_API_TOKEN``;
    5. the only live server in the runtime folder (or the one serving ``cwd``).

    The token, when not given, comes from the matching runtime file, then
    ``JUPYTERHUB_API_TOKEN``, then ``JUPYTER_TOKEN``.
    """
    env = os.environ if environ is None else environ
    if runtime_dir is None:
        from jupyter_core.paths import jupyter_runtime_dir

        runtime_dir = Path(jupyter_runtime_dir())
    servers = _runtime_servers(runtime_dir)
    hub_token = env.get("JUPYTERHUB_API_TOKEN", "")

    def token_for(server_url: str, *, env_first: bool = False) -> str:
        if token is not None:
            return token
        if env_first and env.get("JUPYTER_TOKEN"):
            return env["JUPYTER_TOKEN"]
        for _path, info in servers:
            if info.get("token") and _same_server(info["url"], server_url):
                return str(info["token"])
        return hub_token or env.get("JUPYTER_TOKEN", "")

    if url:
        return ServerInfo(url, token_for(url, env_first=True), "the address given")
    if env.get("JUPYTER_SERVER_URL"):
        server_url = env["JUPYTER_SERVER_URL"]
        return ServerInfo(server_url, token_for(server_url, env_first=True), "JUPYTER_SERVER_URL")

    by_pid = {int(info["pid"]): (path, info) for path, info in servers}
    for ancestor in _ancestors(os.getpid() if pid is None else pid):
        if ancestor in by_pid:
            path, info = by_pid[ancestor]
            return ServerInfo(
                info["url"], token_for(info["url"]), f"{path} (the server running this process)"
            )

    prefix = env.get("JUPYTERHUB_SERVICE_PREFIX")
    if hub_token and (prefix or env.get("JUPYTERHUB_SERVICE_URL")):
        server_url = env.get("JUPYTERHUB_SERVICE_URL") or f"http://127.0.0.1:8888{prefix}"
        return ServerInfo(server_url, token if token is not None else hub_token, "JupyterHub")

    if len(servers) > 1:
        here = (cwd or Path.cwd()).resolve()
        serving = [
            (path, info)
            for path, info in servers
            if info.get("root_dir") and here.is_relative_to(Path(info["root_dir"]).resolve())
        ]
        if len(serving) == 1:
            servers = serving
    if len(servers) == 1:
        path, info = servers[0]
        return ServerInfo(info["url"], token_for(info["url"]), str(path))
    if servers:
        urls = ", ".join(info["url"] for _p, info in servers)
        raise ServerNotFound(
            f"Several Jupyter servers are running ({urls}); choose one with {override_hint}."
        )
    raise ServerNotFound(
        "Found no running Jupyter server: no address was given, JUPYTER_SERVER_URL and the "
        f"JupyterHub variables are not set, and {runtime_dir} holds no runtime file "
        f"(jpserver-*.json) of a live server. Start one (`jupyter lab`) or give its address "
        f"with {override_hint}."
    )


# -- the client --------------------------------------------------------------


@dataclass(frozen=True)
class LogEvent:
    """One Server-Sent Event of a build log.

    A ``line`` or a ``dropped`` marker (``text``); ``progress`` (the build, as a
    step starts) or the ``end`` (the finished build): those carry ``build`` and
    are never log lines.
    """

    kind: str
    text: str = ""
    number: int | None = None
    build: dict[str, Any] | None = None


@dataclass
class BuildProgress:
    """What a front shows while a build runs."""

    build_id: str
    environment_id: str
    state: str = "queued"
    step: int = 0
    steps: int = 0
    lines: list[str] = field(default_factory=list)
    #: Lines seen in all (``lines`` keeps only the last ones).
    count: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def fraction(self) -> float:
        if self.state == "succeeded":
            return 1.0
        # Same reading as the server's: "Step 3/9" starts step 3, so two of nine are done.
        return max(0, self.step - 1) / self.steps if self.steps else 0.0

    def update(self, build: Mapping[str, Any]) -> None:
        """Take the state and step of a build record (a ``progress`` or ``end`` event)."""
        self.state = str(build.get("state") or self.state)
        if isinstance(build.get("steps"), int) and build["steps"]:
            self.step, self.steps = int(build.get("step") or 0), int(build["steps"])

    def add(self, line: str, keep: int = 200) -> None:
        step = step_progress(line)
        if step is not None:
            self.step, self.steps = step
            self.state = "running"
        self.lines.append(line)
        self.count += 1
        del self.lines[:-keep]


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
                progress.add(event.text)
            if on_progress is not None:
                on_progress(progress)
        if final.get("state") != "succeeded":
            raise BuildFailed(failure_sentence(final, build["id"]))
        # Asking again answers with the environment and publishes this dataset's kernelspec.
        again = self.submit(recipe)
        if again.get("environment") is None:
            raise BuildFailed(
                f"The build {build['id']} succeeded but its environment is missing; "
                "it may have been removed meanwhile. Build again."
            )
        return dict(again["environment"])

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
        name = kernelspec_name(environment["id"], dataset)
        if name in self.kernelspecs():
            return name
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


def failure_sentence(build: Mapping[str, Any], build_id: str | None = None) -> str:
    """What a front prints for a build that did not succeed, pointing at its whole log.

    A failed step's message (several lines: the step, its last output, what to
    do) is quoted as the server wrote it.
    """
    build_id = build_id or str(build.get("id", ""))
    reason = str(build.get("error") or f"it ended {build.get('state')}")
    log = f"`jupyter stardock logs {build_id}`"
    if "\n" in reason:
        return f"The build {build_id} failed. {reason}\nThe whole log: {log}."
    return f"The build {build_id} failed: {reason.rstrip('.')}. Its log: {log}."


def parse_sse(lines: Iterator[bytes] | Any) -> Iterator[LogEvent]:
    """Server-Sent Events of a build log, from an iterable of raw lines."""
    fields: dict[str, str] = {}
    for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if "data" in fields:
                yield _event(fields)
            fields = {}
            continue
        if line.startswith(":"):
            continue  # keep-alive
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        fields[key] = fields[key] + "\n" + value if key == "data" and key in fields else value
    if "data" in fields:
        yield _event(fields)


def _event(fields: Mapping[str, str]) -> LogEvent:
    kind = fields.get("event", "line")
    if kind in ("end", "progress"):
        build: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            decoded = json.loads(fields["data"])
            build = decoded if isinstance(decoded, dict) else {}
        return LogEvent(kind, build=build)
    number = int(fields["id"]) if fields.get("id", "").isdigit() else None
    return LogEvent("line" if kind in ("line", "message") else kind, fields["data"], number)


# -- presentation shared by the fronts --------------------------------------


def format_size(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


_SIZE_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def parse_size(text: str) -> int:
    """``"10G"``, ``"500MB"``, ``"1.5 GiB"`` or a number of bytes."""
    raw = text.strip().lower().replace(" ", "")
    number = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(number) :].removesuffix("ib").removesuffix("b") or ""
    binary = raw.endswith("ib")
    try:
        value = float(number)
        factor = _SIZE_UNITS[unit]
    except (ValueError, KeyError):
        raise ClientError(f"{text!r} is not a size; write for example 500M, 20G or 1.5T.") from None
    if binary and unit:
        factor = 1024 ** "bkmgt".index(unit)
    return int(value * factor)


def parse_time(value: Any) -> float | None:
    """Seconds since the epoch from a number or an ISO 8601 text (the engine's nanoseconds too)."""
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    if "." in text:  # Python reads at most six digits of a fraction
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_age(moment: float | None, now: float | None = None) -> str:
    if moment is None:
        return "unknown"
    seconds = max(0.0, (time.time() if now is None else now) - moment)
    for unit, length in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= length:
            n = int(seconds // length)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def progress_bar(progress: BuildProgress, width: int = 30) -> str:
    done = round(progress.fraction * width)
    steps = f" step {progress.step}/{progress.steps}" if progress.steps else ""
    elapsed = time.monotonic() - progress.started
    return (
        f"[{'#' * done}{'.' * (width - done)}] {progress.fraction:4.0%}{steps} "
        f"{progress.state} {elapsed:.0f}s"
    )


def recipe_summary(recipe: Mapping[str, Any]) -> str:
    """``2 commands, pip: photutils`` (what an environment adds beyond its apps)."""
    parts = []
    commands = recipe.get("commands") or ()
    if commands:
        parts.append(f"{len(commands)} command{'s' if len(commands) != 1 else ''}")
    for key, label in (("pip_packages", "pip"), ("apt_packages", "apt")):
        if recipe.get(key):
            parts.append(f"{label}: {' '.join(recipe[key])}")
    return ", ".join(parts) or "-"


def environments_table(
    environments: Sequence[Mapping[str, Any]],
    kernels: Sequence[Mapping[str, Any]] = (),
    last_used: Mapping[str, float] | None = None,
) -> str:
    if not environments:
        return "No environments yet: build one (`%stardock build` or `jupyter stardock build`)."
    running: dict[str, int] = {}
    for kernel in kernels:
        running[kernel.get("environment", "")] = running.get(kernel.get("environment", ""), 0) + 1
    rows = [
        (
            env["id"],
            ", ".join(env.get("apps") or ()) or "base",
            recipe_summary(env.get("recipe") or {}),
            format_size(env.get("size") or 0),
            format_age(parse_time(env.get("created"))),
            *([format_age(last_used.get(env["id"]))] if last_used is not None else []),
            running.get(env["id"], 0),
        )
        for env in environments
    ]
    headers = ["environment", "apps", "extras", "size", "created", "last used", "kernels"]
    if last_used is None:
        headers.remove("last used")
    return format_table(headers, rows)


def apps_table(apps: Sequence[Mapping[str, Any]]) -> str:
    rows = [(a["id"], a["title"], a.get("category", "")) for a in apps]
    return format_table(["app", "title", "category"], rows)


def datasets_table(datasets: Sequence[Mapping[str, Any]]) -> str:
    if not datasets:
        return "No datasets are available to you; the operator configures them (c.StarDockApp.datasets)."
    rows = [
        (
            d["id"],
            d.get("title", ""),
            d.get("files", 0) if d.get("exists", True) else "missing",
            format_size(d.get("bytes") or 0),
        )
        for d in datasets
    ]
    return format_table(["dataset", "title", "files", "size"], rows)
