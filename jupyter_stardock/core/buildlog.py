"""A build's log: live followers, a bounded memory buffer, a size-capped file.

Unbounded buffering of container output is what killed long runs in earlier
systems (the Firethorn lesson), so both the memory buffer and the file have a
byte budget. Lines are numbered from 0 for the whole build; a reader asking for
lines that were dropped from memory gets one marker line in their place, and
readers resume from any line number (SSE ``Last-Event-ID``).

Lines are stored as a terminal would have shown them (:func:`clean_line`):
colour codes and carriage-return redraws of progress bars are gone, so a
failed step's output can be quoted to the user as it is.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = ["BuildLog", "LogSlice", "StepOutput", "clean_line", "open_private", "step_progress"]

_STEP = re.compile(r"^Step (\d+)/(\d+) :")
# ECMA-48 escape sequences: CSI (colours, cursor moves; also the 8-bit form),
# OSC (window titles, hyperlinks), then any other two-character escape.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[()*+][0-9A-Za-z]"
    r"|\x1b[@-Z\\-_=>78]?"
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# What the classic builder says about its own work between a step's output lines.
_BUILDER_LINE = re.compile(
    r"^(?: ---> |Removing intermediate container |Successfully built |Successfully tagged )"
)
# " ---> 84c36726b4db": the step's layer exists, so the step is done.
_STEP_DONE = re.compile(r"^ ---> [0-9a-f]{12,64}$")


def clean_line(line: str) -> str:
    """The line as a terminal shows it: no escape codes, only the last carriage-return redraw."""
    line = _ESCAPES.sub("", line)
    # "(Reading database ... 5%\r... 100%\r... done)": each redraw starts at the
    # line's beginning; the last non-empty one is what stayed on screen.
    if "\r" in line:
        line = next((part for part in reversed(line.split("\r")) if part.strip()), "")
    return _CONTROLS.sub("", line).rstrip()


def step_progress(line: str) -> tuple[int, int] | None:
    """``(3, 9)`` for the classic builder's "Step 3/9 : RUN ..." line, else None."""
    match = _STEP.match(line)
    return (int(match.group(1)), int(match.group(2))) if match else None


class StepOutput:
    """Which Dockerfile step a build is at, and the last lines that step printed.

    Fed every (clean) log line; a failed build's message quotes :attr:`tail`.
    """

    def __init__(self, keep: int = 40) -> None:
        self.step = 0
        self.steps = 0
        #: Whether the current step has finished (its layer was made).
        self.done = False
        self._tail: deque[str] = deque(maxlen=keep)

    def add(self, line: str) -> tuple[int, int] | None:
        """Take one line; returns ``(step, steps)`` when it starts a step."""
        step = step_progress(line)
        if step is not None:
            self.step, self.steps = step
            self.done = False
            self._tail.clear()
        elif _STEP_DONE.match(line):
            self.done = True
        elif not _BUILDER_LINE.match(line) and line.strip():
            self._tail.append(line)
        return step

    def tail(self, lines: int, *, without: str | None = None) -> list[str]:
        """The step's last ``lines`` lines of output, leaving out the line ``without``."""
        kept = [line for line in self._tail if line != without]
        return kept[-lines:]


@dataclass(frozen=True)
class LogSlice:
    #: Line number of ``lines[0]`` (a marker line, when lines were dropped, has the first dropped number).
    offset: int
    lines: list[str]
    #: The number to ask for next.
    next: int
    #: How many of the requested lines were no longer in memory.
    dropped: int
    closed: bool

    @property
    def starts_a_step(self) -> bool:
        """Whether a line of it starts a Dockerfile step (the build's progress moved)."""
        return any(step_progress(line) for line in self.lines)


class BuildLog:
    """Append-only, bounded; one writer (the event loop), many async readers."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        max_memory_bytes: int = 4 << 20,
        max_file_bytes: int = 64 << 20,
    ) -> None:
        self.max_memory_bytes = max_memory_bytes
        self.max_file_bytes = max_file_bytes
        self._lines: deque[str] = deque()
        self._first = 0  # line number of _lines[0]
        self._count = 0  # lines ever appended
        self._bytes = 0
        self._file: IO[str] | None = None
        self._file_bytes = 0
        self._file_full = False
        self._closed = False
        self._changed = asyncio.Event() if _has_loop() else None
        self.path = path
        if path is not None:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._file = open_private(path, append=True)

    @property
    def count(self) -> int:
        return self._count

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def memory_bytes(self) -> int:
        return self._bytes

    def append(self, line: str) -> None:
        self.extend([line])

    def extend(self, lines: list[str]) -> None:
        """Add lines; readers are woken once per call, not once per line."""
        if self._closed or not lines:
            return
        for line in lines:
            size = len(line) + 1
            self._lines.append(line)
            self._bytes += size
            self._count += 1
            self._write(line, size)
        while self._bytes > self.max_memory_bytes and len(self._lines) > 1:
            self._bytes -= len(self._lines.popleft()) + 1
            self._first += 1
        if self._file is not None:
            # Once per batch: the log must survive a server that is killed mid-build.
            self._file.flush()
        self._wake()

    def _write(self, line: str, size: int) -> None:
        if self._file is None or self._file_full:
            return
        if self._file_bytes + size > self.max_file_bytes:
            self._file.write(
                f"[jupyter-stardock: the log file reached its limit of {self.max_file_bytes:,} bytes; "
                "later lines were not written]\n"
            )
            self._file.flush()
            self._file_full = True
            return
        self._file.write(line + "\n")
        self._file_bytes += size

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._file is not None:
            self._file.close()
            self._file = None
        self._wake()

    def _wake(self) -> None:
        if self._changed is None:
            return
        self._changed.set()
        self._changed = asyncio.Event()

    def read(self, offset: int = 0, limit: int | None = None) -> LogSlice:
        """Lines from ``offset`` on (at most ``limit``), with a marker for dropped ones."""
        offset = max(0, min(offset, self._count))
        lines: list[str] = []
        dropped = 0
        start = offset
        if offset < self._first:
            dropped = self._first - offset
            lines.append(
                f"[jupyter-stardock: {dropped:,} earlier log lines were dropped from memory to stay "
                f"within {self.max_memory_bytes:,} bytes]"
            )
            offset = self._first
        index = offset - self._first
        end = len(self._lines) if limit is None else min(len(self._lines), index + limit)
        lines.extend(self._lines[i] for i in range(index, end))
        return LogSlice(
            offset=start, lines=lines, next=self._first + end, dropped=dropped, closed=self._closed
        )

    async def wait(self, offset: int, timeout: float | None = None) -> bool:
        """Wait until there is a line at ``offset`` or the log closes; False on timeout."""
        while self._count <= offset and not self._closed:
            if self._changed is None:
                self._changed = asyncio.Event()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except TimeoutError:
                return False
        return True


def open_private(path: Path, *, append: bool = False) -> IO[str]:
    """Open ``path`` for writing, readable by this account only (0600), never through a symlink.

    The mode is given to ``open(2)`` and set again on the open file: a file made
    before (by an older version, or under a loose umask) is closed too.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    flags |= os.O_APPEND if append else os.O_TRUNC
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "a" if append else "w", encoding="utf-8", errors="replace")


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
