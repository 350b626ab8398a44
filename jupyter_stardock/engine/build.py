"""One classic build on the engine, run in a worker thread: streamed, cancellable, no container left.

docker-py speaks only the classic builder; it answers one HTTP 200 carrying the
build's log (see build_stream.py). Cancelling means cutting that connection, from
a watchdog thread, because the worker is blocked reading it.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable, Mapping

from ..errors import BuildFailed
from .build_stream import OnLines, chunks, consume, cut, flush
from .connection import Connections, StreamingAPIClient
from .context import make_context_tar
from .types import BuildResult

__all__ = ["PENDING_BATCHES", "build_image", "per_batch", "to_loop"]

#: Log batches a build may have waiting for the event loop before it is slowed down.
PENDING_BATCHES = 64


def build_image(
    connections: Connections,
    dockerfile: str,
    context: Mapping[str, bytes],
    *,
    labels: Mapping[str, str],
    buildargs: Mapping[str, str],
    nocache: bool,
    on_lines: OnLines | None,
    cancel: threading.Event,
    remove_container: Callable[[str], None],
) -> BuildResult:
    """Build an image and return its id, untagged (see :meth:`Engine.build_sync`)."""
    tar = make_context_tar(dockerfile, context)
    result = BuildResult(image_id="")
    done = threading.Event()

    def watchdog(api: StreamingAPIClient) -> None:
        while not done.wait(0.2):
            if cancel.is_set():
                cut(api.current_response)
                return

    def go() -> BuildResult:
        api = connections.client(quick=False)
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
                labels=dict(labels),
                buildargs=dict(buildargs),
                use_config_proxy=False,
            )
            for chunk in chunks(stream, cancel):
                consume(chunk, result, on_lines)
            flush(result, on_lines)
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
                remove_container(cid)
        if cancel.is_set():
            raise BuildFailed("The build was cancelled.")
        if not result.image_id:
            raise BuildFailed("The engine finished the build without naming an image.")
        return result

    try:
        return connections.call(go)
    finally:
        if cancel.is_set():
            # A cut connection cannot be reused; start afresh next time.
            connections.forget()


def per_batch(on_line: Callable[[str], None]) -> OnLines:
    """An ``on_lines`` that hands each line of a batch to ``on_line``."""

    def on_lines(batch: list[str]) -> None:
        for line in batch:
            on_line(line)

    return on_lines


def to_loop(loop: asyncio.AbstractEventLoop, on_lines: OnLines, cancel: threading.Event) -> OnLines:
    """An ``on_lines`` for the build's thread that calls ``on_lines`` on the event loop.

    At most ``PENDING_BATCHES`` batches wait for the loop: a build printing
    faster than the server can take it is slowed down (the engine buffers),
    instead of piling callbacks on the event loop until every request waits.
    """
    slots = threading.BoundedSemaphore(PENDING_BATCHES)

    def deliver(batch: list[str]) -> None:
        try:
            on_lines(batch)
        finally:
            slots.release()

    def threadsafe(batch: list[str]) -> None:
        while not slots.acquire(timeout=0.5):
            if cancel.is_set() or loop.is_closed():
                return
        loop.call_soon_threadsafe(deliver, batch)

    return threadsafe
