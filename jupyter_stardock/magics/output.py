"""What the magics show in a cell's output: build progress, and a remote kernel's output."""

from __future__ import annotations

import sys
import time
from typing import Any

from IPython.display import clear_output, display, publish_display_data

from ..client.events import BuildProgress
from ..client.presentation import progress_bar, progress_bundle

__all__ = ["RichProgress", "TextProgress", "show"]

TAIL = 12


# -- build progress in the output area --------------------------------------


class TextProgress:
    """A terminal: new log lines and a bar line when the step changes."""

    def __init__(self) -> None:
        self._printed = 0
        self._step = -1

    def __call__(self, progress: BuildProgress) -> None:
        for line in progress.since(self._printed):
            print(f"  {line}")
        self._printed = progress.count
        if progress.step != self._step or progress.state not in ("queued", "running"):
            self._step = progress.step
            print(progress_bar(progress), flush=True)

    def close(self, progress: BuildProgress) -> None:
        return None


class RichProgress:
    """A notebook: one display updated in place, a progress bar above a log tail."""

    def __init__(self, interval: float = 0.3) -> None:
        self._handle: Any = None
        self._interval = interval
        self._last = 0.0

    def __call__(self, progress: BuildProgress) -> None:
        now = time.monotonic()
        if self._handle is None:
            self._handle = display(progress_bundle(progress, TAIL), raw=True, display_id=True)
            self._last = now
        elif now - self._last >= self._interval:
            self._handle.update(progress_bundle(progress, TAIL), raw=True)
            self._last = now

    def close(self, progress: BuildProgress) -> None:
        if self._handle is not None:
            self._handle.update(progress_bundle(progress, TAIL), raw=True)


def show(kind: str, content: dict[str, Any]) -> None:
    """Show one output message of the remote kernel as output of the current cell."""
    if kind == "stream":
        stream = sys.stderr if content.get("name") == "stderr" else sys.stdout
        stream.write(content.get("text", ""))
        stream.flush()
    elif kind == "clear_output":
        clear_output(wait=bool(content.get("wait")))
    else:
        publish_display_data(
            content.get("data", {}),
            content.get("metadata") or {},
            transient=content.get("transient") or None,
            **({"update": True} if kind == "update_display_data" else {}),
        )
