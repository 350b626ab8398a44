"""When each environment was last used: a kernel started in it, or a build request it answered.

Neither leaves a trace of its own (a build hit makes no build record, a kernel's
archive comes only at its end), so both are recorded here, in one small JSON
file of the server's state folder (0600), read by the environments' JSON and
so by ``envs`` and ``prune --days``. Writers in several processes (the server,
a standalone kernel start) take an exclusive lock on the file's lock beside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["LastUse"]

log = logging.getLogger(__name__)

_FILE = "last-use.json"


class LastUse:
    """Environment id -> the time of its last use (seconds since the epoch)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / _FILE

    def read(self) -> dict[str, float]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float) and v > 0}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def record(self, environment: str, when: float | None = None) -> float:
        """Note a use of ``environment`` now (blocking; a failure is logged, never raised).

        Returns its last use as recorded (the time given, or a later one already there).
        """
        when = when or time.time()
        if not environment:
            return when
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with self._locked():
                used = self.read()
                when = used[environment] = max(used.get(environment, 0.0), when)
                tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(json.dumps(used, sort_keys=True))
                os.replace(tmp, self.path)
        except OSError as err:
            log.warning(
                "StarDock: the use of environment %s was not recorded: %s", environment, err
            )
        return when
