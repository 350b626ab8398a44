"""A build's log as Server-Sent Events, and the progress a front shows while it runs.

The server (``BuildLogHandler`` in server/handlers.py) sends each log line as an
event whose id is its line number, a ``dropped`` marker where lines left its
memory, a ``progress`` event carrying the Build JSON (its ``step`` and
``steps``) after lines that start a Dockerfile step, and an ``end`` event with
the finished Build JSON, whose ``environment`` is the built environment (with
its ``kernelspec``) once the build succeeded. The step comes from those records,
never from reading the lines here: the server is the one place that knows.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BuildProgress", "LogEvent", "parse_sse"]


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
        self.lines.append(line)
        self.count += 1
        del self.lines[:-keep]

    def since(self, seen: int) -> list[str]:
        """The lines a view that has shown ``seen`` lines has not shown (those still kept)."""
        new = min(self.count - seen, len(self.lines))
        return self.lines[len(self.lines) - new :] if new > 0 else []


def parse_sse(lines: Iterable[bytes]) -> Iterator[LogEvent]:
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
