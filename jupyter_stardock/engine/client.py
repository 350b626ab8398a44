"""The Docker Engine, seen through docker-py: the only module that imports docker.

Every call runs in a dedicated thread pool, never on the event loop and never in
the loop's default executor (jupyter_server uses that one too). docker-py's
thread safety is undocumented (docker-py#3229), so each worker thread owns its
own client. Two kinds of client exist per thread: a *quick* one whose socket
timeout is short (status, inspect: the server must answer 503 within seconds
when the engine is gone) and a *long* one with no read timeout, for builds and
imports whose steps may print nothing for many minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import socket
import tarfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import IO, Any, TypeVar

import docker
import requests
from docker import errors as docker_errors
from docker.api import APIClient

from ..errors import BuildFailed, EngineError, EngineUnavailable, NotFound

__all__ = ["BuildResult", "ContainerSpec", "Engine", "EngineInfo", "ImageInfo", "make_context_tar"]

T = TypeVar("T")

DEFAULT_SOCKET = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class EngineInfo:
    """What ``GET /stardock/api/status`` reports of the engine."""

    address: str
    version: str
    api_version: str
    storage_driver: str
    os: str
    kernel_version: str
    architecture: str
    cpus: int
    memory_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "version": self.version,
            "api_version": self.api_version,
            "storage_driver": self.storage_driver,
            "os": self.os,
            "kernel_version": self.kernel_version,
            "architecture": self.architecture,
            "cpus": self.cpus,
            "memory_bytes": self.memory_bytes,
        }


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: tuple[str, ...]
    labels: Mapping[str, str]
    created: str
    size: int

    @classmethod
    def from_inspect(cls, data: Mapping[str, Any]) -> ImageInfo:
        config = data.get("Config") or {}
        return cls(
            id=data["Id"],
            tags=tuple(data.get("RepoTags") or ()),
            labels=dict(config.get("Labels") or {}),
            created=data.get("Created", ""),
            size=int(data.get("Size") or 0),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tags": list(self.tags),
            "labels": dict(self.labels),
            "created": self.created,
            "size": self.size,
        }


@dataclass(frozen=True)
class BindMount:
    source: str
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class ContainerSpec:
    """Everything a kernel container is created with: plain data, no docker types."""

    image: str
    command: list[str]
    name: str | None = None
    user: str = ""
    environment: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[BindMount, ...] = ()
    tmpfs: Mapping[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    network_mode: str = "none"
    #: container port -> host address; the engine picks the host port (no races).
    ports: Mapping[int, str] = field(default_factory=dict)
    read_only: bool = True
    cap_drop: tuple[str, ...] = ("ALL",)
    cap_add: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ("no-new-privileges",)
    mem_limit: str | None = None
    nano_cpus: int | None = None
    pids_limit: int | None = None
    init: bool = True
    log_max_size: str = "1m"
    log_max_files: int = 2

    def host_config(self, api: APIClient) -> dict[str, Any]:
        from docker.types import LogConfig, Mount

        return api.create_host_config(
            # Mounts, not volumes: a missing source fails instead of being created.
            mounts=[
                Mount(m.target, m.source, type="bind", read_only=m.read_only) for m in self.mounts
            ],
            tmpfs=dict(self.tmpfs) or None,
            network_mode=self.network_mode,
            port_bindings={port: (address, None) for port, address in self.ports.items()} or None,
            read_only=self.read_only,
            cap_drop=list(self.cap_drop) or None,
            cap_add=list(self.cap_add) or None,
            security_opt=list(self.security_opt) or None,
            mem_limit=self.mem_limit,
            memswap_limit=self.mem_limit,  # no swap beyond the memory limit
            nano_cpus=self.nano_cpus,
            pids_limit=self.pids_limit,
            init=self.init,
            log_config=LogConfig(
                type="json-file",
                config={"max-size": self.log_max_size, "max-file": str(self.log_max_files)},
            ),
            privileged=False,
            ipc_mode="private",
            pid_mode=None,
            auto_remove=False,  # we want the exit code and the last log lines
        )


#: Log batches a build may have waiting for the event loop before it is slowed down.
_PENDING_BATCHES = 64


@dataclass
class BuildResult:
    image_id: str
    #: Build steps seen ("Step 3/9"), for progress bars.
    steps_total: int = 0
    lines: int = 0
    intermediate_containers: list[str] = field(default_factory=list)
    #: The unfinished last line of the stream so far.
    partial: str = ""


class _Client(APIClient):
    """An APIClient that remembers its streaming response, so another thread can cut it.

    docker-py gives no handle on a running build. Closing the connection is what
    makes the engine stop a classic build (it cancels the request's context and,
    with ``forcerm``, removes the step's container), so we keep the response.
    """

    current_response: requests.Response | None = None

    def _post(self, url: str, **kwargs: Any) -> requests.Response:
        response: requests.Response = super()._post(url, **kwargs)
        if kwargs.get("stream"):
            self.current_response = response
        return response


def _cut(response: requests.Response | None) -> None:
    """Shut a streaming response's socket down; a blocked read in another thread wakes up."""
    if response is None:
        return
    with contextlib.suppress(Exception):
        sock = response.raw._fp.fp.raw._sock  # http.client -> BufferedReader -> SocketIO
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        response.close()


def make_context_tar(dockerfile: str, files: Mapping[str, bytes]) -> bytes:
    """A reproducible build context: sorted names, fixed owners and times."""
    buf = io.BytesIO()
    entries = dict(files)
    entries["Dockerfile"] = dockerfile.encode("utf-8")
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for name in sorted(entries):
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    tar.addfile(info)
            data = entries[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if name.endswith(".sh") else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Engine:
    """An async facade over one Docker Engine.

    ``base_url`` of ``None`` follows docker-py's conventions: ``DOCKER_HOST``,
    ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH``, else the local socket.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float = 2.0,
        max_workers: int = 8,
    ) -> None:
        self.base_url = base_url or None
        self.timeout = timeout
        # Builds hold a worker for their whole duration; quick queries get their
        # own pool so a status request never queues behind ten-minute builds.
        self._executor = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="stardock-build"
        )
        self._quick_executor = ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="stardock-query"
        )
        self._local = threading.local()
        self._closed = False

    # -- plumbing ---------------------------------------------------------

    @property
    def address(self) -> str:
        """The address we try, for messages."""
        return self.base_url or os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET

    def _kwargs(self, timeout: float | None) -> dict[str, Any]:
        if self.base_url:
            tls: Any = False
            if self.base_url.startswith(("tcp://", "https://")) and os.environ.get(
                "DOCKER_TLS_VERIFY"
            ):
                # Same as docker-py's kwargs_from_env, but for an address given in config.
                env_kwargs = docker.utils.kwargs_from_env(
                    environment={**os.environ, "DOCKER_HOST": self.base_url}
                )
                tls = env_kwargs.get("tls", False)
            return {"base_url": self.base_url, "tls": tls, "timeout": timeout, "version": "auto"}
        kwargs = docker.utils.kwargs_from_env()
        kwargs.setdefault("base_url", DEFAULT_SOCKET)
        return {**kwargs, "timeout": timeout, "version": "auto"}

    def _client(self, quick: bool = True) -> _Client:
        """This thread's client (made on first use; made again after a failed connect)."""
        attr = "quick" if quick else "long"
        client: _Client | None = getattr(self._local, attr, None)
        if client is None:
            # A long client still connects quickly: only its reads wait forever.
            timeout = self.timeout if quick else None
            try:
                client = _Client(**self._kwargs(timeout))
            except docker_errors.DockerException as err:
                raise self._unavailable(err) from err
            if not quick:
                client.timeout = None
            setattr(self._local, attr, client)
        return client

    def _forget_clients(self) -> None:
        for attr in ("quick", "long"):
            client = getattr(self._local, attr, None)
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
                setattr(self._local, attr, None)

    def _unavailable(self, err: BaseException) -> EngineUnavailable:
        reason = _short_reason(err)
        return EngineUnavailable(
            f"Could not reach the Docker Engine at {self.address} ({reason}). "
            "Start the engine (for example `sudo systemctl start docker`, or `sudo dockerd &`), "
            "check that this user may use its socket, or point StarDock at another engine "
            "with DOCKER_HOST or c.StarDockApp.docker_host."
        )

    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` mapping connection failures to EngineUnavailable (in a worker thread)."""
        try:
            return fn()
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as err:
            self._forget_clients()
            raise self._unavailable(err) from err
        except docker_errors.DockerException as err:
            if isinstance(err, docker_errors.NotFound):
                raise NotFound(_explanation(err)) from err
            if isinstance(err, docker_errors.APIError):
                raise EngineError(f"The Docker Engine refused: {_explanation(err)}") from err
            self._forget_clients()
            raise self._unavailable(err) from err

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a quick blocking engine call (inspect, list, remove) off the event loop."""
        return await self._submit(self._quick_executor, partial(fn, *args, **kwargs))

    async def run_long(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a long blocking engine call (build, pull, import, wait) off the event loop."""
        return await self._submit(self._executor, partial(fn, *args, **kwargs))

    async def _submit(self, executor: ThreadPoolExecutor, fn: Callable[[], T]) -> T:
        if self._closed:
            raise EngineUnavailable("The StarDock engine connection is shut down.")
        return await asyncio.get_running_loop().run_in_executor(executor, fn)

    def close(self) -> None:
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._quick_executor.shutdown(wait=False, cancel_futures=True)

    # -- queries ----------------------------------------------------------

    def info_sync(self) -> EngineInfo:
        def go() -> EngineInfo:
            api = self._client()
            version = api.version()
            info = api.info()
            return EngineInfo(
                address=self.address,
                version=str(version.get("Version", "")),
                api_version=str(version.get("ApiVersion", "")),
                storage_driver=str(info.get("Driver", "")),
                os=str(info.get("OperatingSystem", "")),
                kernel_version=str(info.get("KernelVersion", "")),
                architecture=str(info.get("Architecture", "")),
                cpus=int(info.get("NCPU") or 0),
                memory_bytes=int(info.get("MemTotal") or 0),
            )

        return self._call(go)

    async def info(self) -> EngineInfo:
        return await self.run(self.info_sync)

    def image_sync(self, ref: str) -> ImageInfo | None:
        """The image named ``ref`` (tag or id), or None when there is none."""
        try:
            return self._call(lambda: ImageInfo.from_inspect(self._client().inspect_image(ref)))
        except NotFound:
            return None

    async def image(self, ref: str) -> ImageInfo | None:
        return await self.run(self.image_sync, ref)

    def images_sync(self, label: str) -> list[ImageInfo]:
        """Images carrying ``label`` (``key`` or ``key=value``), inspected."""

        def go() -> list[ImageInfo]:
            api = self._client()
            found = []
            for summary in api.images(filters={"label": label}):
                with contextlib.suppress(docker_errors.NotFound):
                    found.append(ImageInfo.from_inspect(api.inspect_image(summary["Id"])))
            return found

        return self._call(go)

    async def images(self, label: str) -> list[ImageInfo]:
        return await self.run(self.images_sync, label)

    def tag_sync(self, image_id: str, ref: str) -> None:
        repository, _, tag = ref.rpartition(":")
        if not repository or "/" in tag:
            repository, tag = ref, "latest"
        self._call(lambda: self._client().tag(image_id, repository, tag, force=True))

    async def tag(self, image_id: str, ref: str) -> None:
        await self.run(self.tag_sync, image_id, ref)

    def remove_image_sync(self, ref: str, *, force: bool = False) -> None:
        try:
            self._call(lambda: self._client().remove_image(ref, force=force, noprune=False))
        except NotFound:
            pass  # already gone

    async def remove_image(self, ref: str, *, force: bool = False) -> None:
        await self.run(self.remove_image_sync, ref, force=force)

    def remove_container_sync(self, container_id: str) -> None:
        try:
            self._call(lambda: self._client().remove_container(container_id, force=True, v=True))
        except NotFound:
            pass  # already gone
        except EngineError as err:
            if "already in progress" not in str(err):  # 409: being removed already
                raise

    def containers_sync(
        self, *, label: str | None = None, all: bool = True
    ) -> list[dict[str, Any]]:
        filters = {"label": label} if label else None
        return self._call(lambda: self._client().containers(all=all, filters=filters))

    def pull_sync(self, ref: str, on_line: Callable[[str], None] | None = None) -> ImageInfo:
        repository, _, tag = ref.rpartition(":")
        if not repository or "/" in tag:
            repository, tag = ref, "latest"

        def go() -> ImageInfo:
            api = self._client(quick=False)
            for chunk in api.pull(repository, tag=tag, stream=True, decode=True):
                if "error" in chunk:
                    raise EngineError(str(chunk["error"]))
                if on_line and chunk.get("status"):
                    on_line(" ".join(str(chunk[k]) for k in ("id", "status") if k in chunk))
            return ImageInfo.from_inspect(api.inspect_image(ref))

        return self._call(go)

    # -- building ---------------------------------------------------------

    def build_sync(
        self,
        dockerfile: str,
        context: Mapping[str, bytes] | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        buildargs: Mapping[str, str] | None = None,
        nocache: bool = False,
        on_line: Callable[[str], None] | None = None,
        on_lines: Callable[[list[str]], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> BuildResult:
        """Build an image and return its id, untagged: callers tag only a finished image.

        Log lines go to ``on_line`` one by one, or to ``on_lines`` one batch per
        chunk of the engine's stream. ``cancel``, set from any thread, cuts the
        connection so the engine stops the build; the step's container is then
        removed before we return.
        """
        if on_lines is None and on_line is not None:
            per_line = on_line

            def on_lines(batch: list[str]) -> None:
                for line in batch:
                    per_line(line)

        tar = make_context_tar(dockerfile, context or {})
        result = BuildResult(image_id="")
        cancel = cancel or threading.Event()
        done = threading.Event()

        def watchdog(api: _Client) -> None:
            while not done.wait(0.2):
                if cancel.is_set():
                    _cut(api.current_response)
                    return

        def go() -> BuildResult:
            api = self._client(quick=False)
            api.current_response = None
            watcher = threading.Thread(target=watchdog, args=(api,), daemon=True)
            watcher.start()
            try:
                stream = api.build(
                    fileobj=io.BytesIO(tar),
                    custom_context=True,
                    dockerfile="Dockerfile",
                    rm=True,
                    forcerm=True,
                    pull=False,
                    nocache=nocache,
                    decode=True,
                    labels=dict(labels or {}),
                    buildargs=dict(buildargs or {}),
                    use_config_proxy=False,
                )
                for chunk in _chunks(stream, cancel):
                    _consume(chunk, result, on_lines)
                _flush(result, on_lines)
            except Exception as err:
                # Cutting the connection surfaces inside http.client in many shapes
                # (ConnectionError, ValueError, AttributeError on a closed response).
                if cancel.is_set():
                    raise BuildFailed("The build was cancelled.") from err
                raise
            finally:
                done.set()
                # The step that was running when we cut the stream: force it away,
                # so a cancelled or failed build leaves no container behind.
                for cid in result.intermediate_containers[-1:]:
                    self.remove_container_sync(cid)
            if cancel.is_set():
                raise BuildFailed("The build was cancelled.")
            if not result.image_id:
                raise BuildFailed("The engine finished the build without naming an image.")
            return result

        try:
            return self._call(go)
        finally:
            api = getattr(self._local, "long", None)
            if api is not None and cancel.is_set():
                # A cut connection cannot be reused; start afresh next time.
                self._forget_clients()

    async def build(
        self,
        dockerfile: str,
        context: Mapping[str, bytes] | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        buildargs: Mapping[str, str] | None = None,
        nocache: bool = False,
        on_lines: Callable[[list[str]], None] | None = None,
    ) -> BuildResult:
        """Async :meth:`build_sync`. ``on_lines`` is called on the event loop, a batch at a time.

        At most ``_PENDING_BATCHES`` batches wait for the loop: a build printing
        faster than the server can take it is slowed down (the engine buffers),
        instead of piling callbacks on the event loop until every request waits.
        Cancelling the awaiting task cancels the engine build and waits until
        the engine has let go of it.
        """
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        threadsafe = None
        if on_lines is not None:
            callback = on_lines
            slots = threading.BoundedSemaphore(_PENDING_BATCHES)

            def deliver(batch: list[str]) -> None:
                try:
                    callback(batch)
                finally:
                    slots.release()

            def threadsafe(batch: list[str]) -> None:
                while not slots.acquire(timeout=0.5):
                    if cancel.is_set() or loop.is_closed():
                        return
                loop.call_soon_threadsafe(deliver, batch)

        future = loop.run_in_executor(
            self._executor,
            partial(
                self.build_sync,
                dockerfile,
                context,
                labels=labels,
                buildargs=buildargs,
                nocache=nocache,
                on_lines=threadsafe,
                cancel=cancel,
            ),
        )
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            cancel.set()
            with contextlib.suppress(Exception):
                await future
            raise

    def import_sync(
        self,
        stream: IO[bytes] | Iterable[bytes],
        *,
        changes: list[str] | None = None,
    ) -> str:
        """``docker import`` a root filesystem tar stream; returns the new image id, untagged."""

        def go() -> str:
            api = self._client(quick=False)
            out = api.import_image_from_stream(stream, changes=changes)
            image_id = ""
            for line in str(out).splitlines():
                with contextlib.suppress(ValueError):
                    data = json.loads(line)
                    if "error" in data:
                        raise EngineError(
                            f"The engine could not import the root filesystem: {data['error']}"
                        )
                    status = str(data.get("status", ""))
                    if status.startswith("sha256:"):
                        image_id = status
            if not image_id:
                raise EngineError(f"The engine's import answer named no image: {str(out)[:200]}")
            return image_id

        return self._call(go)

    # -- containers -------------------------------------------------------

    def run_container_sync(self, spec: ContainerSpec) -> str:
        """Create and start a container; never pulls (a missing image is an error)."""

        def go() -> str:
            api = self._client()
            created = api.create_container(
                spec.image,
                command=spec.command,
                name=spec.name,
                user=spec.user,
                environment=dict(spec.environment),
                labels=dict(spec.labels),
                working_dir=spec.working_dir,
                ports=list(spec.ports) or None,
                host_config=spec.host_config(api),
            )
            container_id = str(created["Id"])
            try:
                api.start(container_id)
            except BaseException:
                with contextlib.suppress(Exception):
                    api.remove_container(container_id, force=True)
                raise
            return container_id

        return self._call(go)

    def inspect_container_sync(self, container_id: str) -> dict[str, Any] | None:
        try:
            return self._call(lambda: self._client().inspect_container(container_id))
        except NotFound:
            return None

    def kill_container_sync(self, container_id: str, signal: int | str = "SIGKILL") -> None:
        try:
            self._call(lambda: self._client().kill(container_id, signal=signal))
        except NotFound:
            pass
        except EngineError as err:
            if "is not running" not in str(err):
                raise

    def stop_container_sync(self, container_id: str, timeout: int = 5) -> None:
        try:
            self._call(lambda: self._client(quick=False).stop(container_id, timeout=timeout))
        except NotFound:
            pass

    def container_logs_sync(self, container_id: str, tail: int = 100) -> str:
        try:
            raw = self._call(
                lambda: self._client().logs(container_id, tail=tail, stdout=True, stderr=True)
            )
        except NotFound:
            return ""
        return bytes(raw).decode("utf-8", errors="replace")


def _chunks(stream: Iterator[dict[str, Any]], cancel: threading.Event) -> Iterator[dict[str, Any]]:
    for chunk in stream:
        if cancel.is_set():
            return
        yield chunk


def _consume(
    chunk: Mapping[str, Any], result: BuildResult, on_lines: Callable[[list[str]], None] | None
) -> None:
    """One JSON chunk of the build stream. Errors arrive inside an HTTP 200, so check each.

    A chunk may end in the middle of a line; the rest of it comes with the next
    chunk, so the unfinished tail waits in ``result.partial``.
    """
    if "error" in chunk:
        _flush(result, on_lines)
        detail = chunk.get("errorDetail") or {}
        message = str(detail.get("message") or chunk["error"]).strip()
        if on_lines:
            on_lines([f"ERROR: {message}"])
        raise BuildFailed(message)
    aux = chunk.get("aux")
    if isinstance(aux, dict) and aux.get("ID"):
        result.image_id = str(aux["ID"])
    text = chunk.get("stream")
    if not isinstance(text, str):
        return
    pieces = (result.partial + text).split("\n")
    result.partial = pieces.pop()
    _emit(pieces, result, on_lines)


def _flush(result: BuildResult, on_lines: Callable[[list[str]], None] | None) -> None:
    """The last line, when the stream ended without a newline."""
    if result.partial:
        tail, result.partial = result.partial, ""
        _emit([tail], result, on_lines)


def _emit(
    pieces: list[str], result: BuildResult, on_lines: Callable[[list[str]], None] | None
) -> None:
    batch = []
    for piece in pieces:
        line = piece.rstrip("\r").rstrip()
        if not line.strip():
            continue
        result.lines += 1
        stripped = line.strip()
        if stripped.startswith("---> Running in "):
            result.intermediate_containers.append(stripped.removeprefix("---> Running in ").strip())
        elif stripped.startswith("Successfully built ") and not result.image_id:
            result.image_id = stripped.removeprefix("Successfully built ").strip()
        batch.append(line)
    if batch and on_lines:
        on_lines(batch)


def _explanation(err: docker_errors.DockerException) -> str:
    explanation = getattr(err, "explanation", None)
    return str(explanation or err).strip()


def _short_reason(err: BaseException) -> str:
    text = str(err)
    for needle, reason in (
        ("Connection refused", "connection refused: nothing is listening there"),
        ("No such file or directory", "no such socket"),
        ("Permission denied", "permission denied on the socket"),
        ("timed out", "no answer within the time limit"),
        ("Read timed out", "no answer within the time limit"),
    ):
        if needle in text:
            return reason
    return text.splitlines()[0][:200] if text else type(err).__name__
