"""The engine's build stream: its JSON chunks turned into log lines, and how it is cut.

A classic build answers one HTTP 200 whose body is a stream of JSON chunks
(``{"stream": ...}``, ``{"aux": {"ID": ...}}``, ``{"error": ...}``); a chunk may end
in the middle of a line. These functions keep a :class:`BuildResult` up to date
chunk by chunk and hand complete lines on in batches, one batch per chunk.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests

from ..errors import BuildFailed
from .types import BuildResult

__all__ = ["chunks", "consume", "cut", "flush"]

OnLines = Callable[[list[str]], None]


def chunks(stream: Iterator[dict[str, Any]], cancel: threading.Event) -> Iterator[dict[str, Any]]:
    """The stream's chunks until it ends or ``cancel`` is set."""
    for chunk in stream:
        if cancel.is_set():
            return
        yield chunk


def consume(chunk: Mapping[str, Any], result: BuildResult, on_lines: OnLines | None) -> None:
    """One JSON chunk of the build stream. Errors arrive inside an HTTP 200, so check each.

    A chunk may end in the middle of a line; the rest of it comes with the next
    chunk, so the unfinished tail waits in ``result.partial``.
    """
    if "error" in chunk:
        flush(result, on_lines)
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


def flush(result: BuildResult, on_lines: OnLines | None) -> None:
    """The last line, when the stream ended without a newline."""
    if result.partial:
        tail, result.partial = result.partial, ""
        _emit([tail], result, on_lines)


def _emit(pieces: list[str], result: BuildResult, on_lines: OnLines | None) -> None:
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


def cut(response: requests.Response | None) -> None:
    """Cut a build stream that another thread is reading, so that the engine stops the build.

    The reading thread sits in a blocking read of the socket (the long client has
    no read timeout: a step may print nothing for many minutes). ``close()`` alone
    does not wake it: http.client's buffered reader holds its lock for the whole
    read, so ``close()`` from here waits until the build prints again, for a
    ``sleep 300`` step five minutes later (urllib3#2868). urllib3's ``shutdown()``
    (2.3+, made for this) shuts the socket's read side: the blocked read returns at
    once and the reader raises. ``close()`` then drops the connection, which is
    what makes the engine cancel the build and, with ``forcerm``, remove the
    step's container. Without the shutdown, "cancel" would wait for the step's next
    output, or the build's end.
    """
    if response is None:
        return
    try:
        response.raw.shutdown()
    except (ValueError, RuntimeError, OSError):
        # The stream ended first: ValueError once the response is closed, RuntimeError once
        # its connection went back to the pool, OSError when the socket is already shut.
        pass
    try:
        response.close()
    except (ValueError, OSError):
        # The woken reader's urllib3 closes the same response at the same moment (its
        # _error_catcher): http.client may then find its file closed or its socket gone.
        pass
