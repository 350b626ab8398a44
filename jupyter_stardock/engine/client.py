"""The Docker Engine as StarDock uses it: an async facade whose calls never block the event loop.

Every call runs in a dedicated thread pool, never on the event loop and never in
the loop's default executor (jupyter_server uses that one too). The clients those
threads use, and how their failures become our errors, are in connection.py; the
build's stream and its cancellation in build.py and build_stream.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from http import HTTPStatus
from typing import IO, Any, TypeVar

from docker import errors as docker_errors
from docker.api import APIClient
from docker.types import DeviceRequest, LogConfig, Mount

from ..errors import EngineError, EngineUnavailable, NotFound
from .build import build_image, per_batch, to_loop
from .build_stream import OnLines
from .connection import Connections
from .connection import StreamingAPIClient as _Client
from .references import repository_and_tag
from .types import GPU_RUNTIMES, BuildResult, ContainerSpec, EngineInfo, ImageInfo

__all__ = ["CONTAINER_START_TIMEOUT", "Engine"]

#: Seconds a container's create and start may take before the engine counts as unreachable.
CONTAINER_START_TIMEOUT = 30.0

T = TypeVar("T")


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
        self._connections = Connections(base_url, timeout)
        # Builds hold a worker for their whole duration; quick queries get their
        # own pool so a status request never queues behind ten-minute builds.
        self._executor = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="stardock-build"
        )
        self._quick_executor = ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="stardock-query"
        )
        self._closed = False
        # issue 18: which engine answers (asked once, at the first kernel container).
        self._product: str | None = None

    # -- plumbing ---------------------------------------------------------

    @property
    def timeout(self) -> float:
        """Seconds a quick call waits for the engine's answer (long calls wait as they must)."""
        return self._connections.timeout

    @property
    def address(self) -> str:
        """The address we try, for messages."""
        return self._connections.address

    def _client(self, quick: bool = True) -> _Client:
        """This thread's client (made on first use; made again after a failed connect)."""
        return self._connections.client(quick)

    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` mapping docker-py's failures to ours (in a worker thread)."""
        return self._connections.call(fn)

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
            found = EngineInfo(
                address=self.address,
                version=str(version.get("Version", "")),
                api_version=str(version.get("ApiVersion", "")),
                storage_driver=str(info.get("Driver", "")),
                os=str(info.get("OperatingSystem", "")),
                kernel_version=str(info.get("KernelVersion", "")),
                architecture=str(info.get("Architecture", "")),
                cpus=int(info.get("NCPU") or 0),
                memory_bytes=int(info.get("MemTotal") or 0),
                runtimes=tuple(sorted(info.get("Runtimes") or {})),  # issue 18
                product=engine_product(version),  # issue 18
            )
            self._product = found.product  # issue 18: kernel starts spell mounts by it
            return found

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
                # Removed between the listing and its inspection: not there any more.
                with contextlib.suppress(docker_errors.NotFound):
                    found.append(ImageInfo.from_inspect(api.inspect_image(summary["Id"])))
            return found

        return self._call(go)

    async def images(self, label: str) -> list[ImageInfo]:
        return await self.run(self.images_sync, label)

    def tag_sync(self, image_id: str, ref: str) -> None:
        repository, tag = repository_and_tag(ref)
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
            # A forced removal is refused with 409 only while another removal of the same
            # container is under way (moby daemon/delete.go, ContainerRm, from 20.10 to
            # today); the endpoint's other 409s, a running or paused container, need force=False.
            if err.engine_status != HTTPStatus.CONFLICT:
                raise

    def containers_sync(
        self, *, label: str | None = None, all: bool = True
    ) -> list[dict[str, Any]]:
        filters = {"label": label} if label else None
        return self._call(lambda: self._client().containers(all=all, filters=filters))

    def pull_sync(self, ref: str, on_line: Callable[[str], None] | None = None) -> ImageInfo:
        repository, tag = repository_and_tag(ref)

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
        on_lines: OnLines | None = None,
        cancel: threading.Event | None = None,
    ) -> BuildResult:
        """Build an image and return its id, untagged: callers tag only a finished image.

        Log lines go to ``on_line`` one by one, or to ``on_lines`` one batch per
        chunk of the engine's stream. ``cancel``, set from any thread, cuts the
        connection so the engine stops the build; the step's container is then
        removed before we return.
        """
        if on_lines is None and on_line is not None:
            on_lines = per_batch(on_line)
        return build_image(
            self._connections,
            dockerfile,
            context or {},
            labels=labels or {},
            buildargs=buildargs or {},
            nocache=nocache,
            on_lines=on_lines,
            cancel=cancel or threading.Event(),
            remove_container=self.remove_container_sync,
        )

    async def build(
        self,
        dockerfile: str,
        context: Mapping[str, bytes] | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        buildargs: Mapping[str, str] | None = None,
        nocache: bool = False,
        on_lines: OnLines | None = None,
    ) -> BuildResult:
        """Async :meth:`build_sync`. ``on_lines`` is called on the event loop, a batch at a time.

        A build printing faster than the loop takes its lines is slowed down (see
        :func:`~.build.to_loop`). Cancelling the awaiting task cancels the engine
        build and waits until the engine has let go of it.
        """
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        future = loop.run_in_executor(
            self._executor,
            partial(
                self.build_sync,
                dockerfile,
                context,
                labels=labels,
                buildargs=buildargs,
                nocache=nocache,
                on_lines=to_loop(loop, on_lines, cancel) if on_lines is not None else None,
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
        """Create and start a container; never pulls (a missing image is an error).

        A name already taken is refused with an EngineError whose ``engine_status`` is 409.
        """

        def go() -> str:
            api = self._client()
            # Create and start take seconds on a loaded engine, more than engine_timeout
            # (sized for status calls) allows; this thread's client waits longer for them.
            quick_timeout, api.timeout = api.timeout, max(api.timeout, CONTAINER_START_TIMEOUT)
            try:
                return start(api)
            except docker_errors.APIError as err:
                # issue 18: told by the request and the engine's own status, not its words.
                if (spec.gpu_count or spec.gpu_device_ids) and err.status_code == 500:
                    raise no_gpu_runtime(api, err) from err
                raise
            finally:
                api.timeout = quick_timeout

        def start(api: _Client) -> str:
            # issue 18: Podman spells a tmpfs owned by the container's user "U". Which
            # engine it is, info_sync learned, or the first refused create tells by its
            # Libpod-Api-Version header (no extra request for Docker Engine).
            spec_ = podman_spec(spec) if self._product == "Podman" else spec
            try:
                created = api.create_container(
                    spec.image,
                    command=spec.command,
                    name=spec.name,
                    user=spec.user,
                    environment=dict(spec.environment),
                    labels=dict(spec.labels),
                    working_dir=spec.working_dir,
                    ports=list(spec.ports) or None,
                    host_config=host_config(spec_, api),
                )
            except docker_errors.APIError as err:
                headers = err.response.headers if err.response is not None else {}
                if self._product is None and "Libpod-Api-Version" in headers:
                    self._product = "Podman"
                    return start(api)
                raise
            container_id = str(created["Id"])
            try:
                api.start(container_id)
            except BaseException:
                with contextlib.suppress(Exception):
                    api.remove_container(container_id, force=True)
                raise
            return container_id

        return self._call(go)

    def rename_container_sync(self, container_id: str, name: str) -> None:
        """Give a (running) container a new name; 409 if the name is taken (issue 14: a claimed slot)."""
        self._call(lambda: self._client().rename(container_id, name))

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
            # 409 is the engine's "container is not running", the only conflict its kill
            # answers (moby daemon/kill.go and daemon/errors.go errNotRunning, 20.10 and
            # today; its own router reads a conflict there as "stopped").
            if err.engine_status != HTTPStatus.CONFLICT:
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

    # -- issue 17: pause and resume (the cgroup freezer keeps memory, frees the CPU) --

    def pause_container_sync(self, container_id: str) -> None:
        """Freeze every process of a running container; 409 when it is not running or paused."""
        self._call(lambda: self._client().pause(container_id))

    def unpause_container_sync(self, container_id: str) -> None:
        """Thaw a paused container; 409 when it is not paused."""
        self._call(lambda: self._client().unpause(container_id))

    def cpu_usage_sync(self, container_id: str) -> int:
        """The container's CPU time so far, in nanoseconds, from the engine's cgroup stats."""
        stats = self._call(lambda: self._client(quick=False).stats(container_id, stream=False))
        return int(((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage") or 0)


def host_config(spec: ContainerSpec, api: APIClient) -> dict[str, Any]:
    """The engine's HostConfig for ``spec``: every hardening option said out loud."""
    return api.create_host_config(
        # Mounts, not volumes: a missing source fails instead of being created.
        mounts=[Mount(m.target, m.source, type="bind", read_only=m.read_only) for m in spec.mounts],
        tmpfs=dict(spec.tmpfs) or None,
        network_mode=spec.network_mode,
        port_bindings={port: (address, None) for port, address in spec.ports.items()} or None,
        read_only=spec.read_only,
        cap_drop=list(spec.cap_drop) or None,
        cap_add=list(spec.cap_add) or None,
        security_opt=list(spec.security_opt) or None,
        mem_limit=spec.mem_limit,
        memswap_limit=spec.mem_limit,  # no swap beyond the memory limit
        nano_cpus=spec.nano_cpus,
        pids_limit=spec.pids_limit,
        init=spec.init,
        log_config=LogConfig(
            type="json-file",
            config={"max-size": spec.log_max_size, "max-file": str(spec.log_max_files)},
        ),
        privileged=False,
        ipc_mode="private",
        pid_mode=None,
        auto_remove=False,  # we want the exit code and the last log lines
        # issue 18: GPUs as `docker run --gpus` asks for them.
        device_requests=[
            DeviceRequest(
                count=spec.gpu_count, device_ids=list(spec.gpu_device_ids), capabilities=[["gpu"]]
            )
        ]
        if spec.gpu_count or spec.gpu_device_ids
        else None,
    )


# issue 18: Podman's /version names its component "Podman Engine" (Docker's: "Engine").
def engine_product(version: Mapping[str, Any]) -> str:
    names = [str(c.get("Name", "")) for c in version.get("Components") or ()]
    return "Podman" if any(n.startswith("Podman") for n in names) else "Docker Engine"


# issue 18: Podman's tmpfs takes no uid=/gid= options; "U" chowns it to the
# container's user, which is the uid:gid they name (kernels/launch.py).
_OWNER_OPTION = re.compile(r",?\b(uid|gid)=\d+")


def podman_spec(spec: ContainerSpec) -> ContainerSpec:
    tmpfs = {}
    for target, options in spec.tmpfs.items():
        plain = _OWNER_OPTION.sub("", options)
        tmpfs[target] = f"{plain},U" if plain != options else options
    return dataclasses.replace(spec, tmpfs=tmpfs)


# issue 18: a GPU start the engine refused, said as a sentence when the engine has no GPU runtime.
def no_gpu_runtime(api: APIClient, err: docker_errors.APIError) -> Exception:
    try:
        runtimes = set(api.info().get("Runtimes") or {})
    except docker_errors.DockerException:
        return err
    if runtimes & GPU_RUNTIMES:
        return err  # it has one: the engine's own reason is the useful one
    return EngineError(
        "This kernel asks for GPUs, but the container engine offers no GPU runtime (the "
        "NVIDIA Container Toolkit is not set up on it). Start an environment without GPUs, "
        "or ask the operator to set up the toolkit or to unset c.StarDockProvisioner.gpus.",
        engine_status=int(err.status_code or 500),
    )
