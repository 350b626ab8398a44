"""Which kernelspecs the warm pool served recently, kept across a restart (issue 14).

The pool keeps slots only for kernelspecs started in the last
``pool_recent_hours``; without a record, a restarted server (or hub service)
would wait for each one's first cold start before refilling. So each use is
kept in a small file in the state folder (the server's alone): the kernelspec,
the Hub user ("" on a single-user server), when, and the user's Hub groups
then. After a restart the pool's templates are made again from it, as a start
of that kernelspec by that user would make them (pool_builds.PoolFeeder.restore):
the file names only kernelspecs and users, never a path or an image, so
whatever it says is checked again as at a start.

Read without following a link and within a size limit, replaced atomically
(safefs). Everything here blocks (file system calls): callers run it off the
event loop.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core import safefs
from ..errors import UnsafePath

__all__ = ["RECENT_FILE", "RecentUse", "RecentUses"]

log = logging.getLogger(__name__)

RECENT_FILE = "pool-recent.json"
#: Most uses kept (the most recent): the file stays small whatever happens.
MAX_USES = 256
_MAX_BYTES = 256 << 10
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# A StarDock kernelspec's name (core/kernelspecs.py), a user's and a group's name.
_SPEC = re.compile(r"stardock-[a-z0-9][a-z0-9_.-]{0,200}")
_NAME = re.compile(r"[A-Za-z0-9_.@+-][A-Za-z0-9_.@+ -]{0,127}")


@dataclass(frozen=True)
class RecentUse:
    """A kernel of ``spec`` started for ``owner`` at ``used`` (``built``: a build's pre-start)."""

    spec: str
    owner: str
    used: float
    groups: tuple[str, ...] = ()
    built: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "owner": self.owner,
            "used": self.used,
            "groups": list(self.groups),
            "built": self.built,
        }

    @classmethod
    def from_json(cls, data: Any) -> RecentUse | None:
        """One entry of the file, or None if it is not what this module writes."""
        if not isinstance(data, dict):
            return None
        spec, owner, used = data.get("spec"), data.get("owner", ""), data.get("used")
        groups = data.get("groups") or []
        if not (isinstance(spec, str) and _SPEC.fullmatch(spec)):
            return None
        if not (isinstance(owner, str) and (owner == "" or _NAME.fullmatch(owner))):
            return None
        if not isinstance(used, int | float) or isinstance(used, bool):
            return None
        if not isinstance(groups, list) or not all(
            isinstance(g, str) and _NAME.fullmatch(g) for g in groups
        ):
            return None
        return cls(spec, owner, float(used), tuple(groups), data.get("built") is True)


class RecentUses:
    """The recent uses of one server's pool, in memory and in its state folder."""

    def __init__(self, state_dir: Path, hours: float) -> None:
        self.state_dir = Path(state_dir)
        self.hours = hours
        self._uses: dict[tuple[str, str], RecentUse] = {}
        #: Whether memory holds a use the file does not yet.
        self.dirty = False

    def note(self, use: RecentUse) -> None:
        key = (use.spec, use.owner)
        if self._uses.get(key) != use:
            self._uses[key] = use
            self.dirty = True

    def recent(self, now: float | None = None) -> list[RecentUse]:
        """The uses within ``hours``, the most recent first, at most MAX_USES."""
        since = (time.time() if now is None else now) - self.hours * 3600
        uses = sorted((u for u in self._uses.values() if u.used >= since), key=lambda u: -u.used)
        return uses[:MAX_USES]

    def load(self) -> list[RecentUse]:
        """The file's recent uses (none if it is missing, a link, too big or not ours)."""
        try:
            fd = os.open(self.state_dir, _DIR_FLAGS)
        except OSError:
            return []
        try:
            os.stat(RECENT_FILE, dir_fd=fd, follow_symlinks=False)
            raw = safefs.read_file(fd, RECENT_FILE, max_bytes=_MAX_BYTES, owners={os.geteuid()})
            entries = json.loads(raw).get("uses")
        except FileNotFoundError:
            return []  # never written: a first start
        except (OSError, UnsafePath, ValueError, AttributeError) as err:
            log.warning("StarDock: ignoring the warm pool's record of recent kernels: %s", err)
            return []
        finally:
            os.close(fd)
        for entry in entries if isinstance(entries, list) else []:
            use = RecentUse.from_json(entry)
            if use is not None:
                current = self._uses.get((use.spec, use.owner))
                if current is None or current.used < use.used:
                    self._uses[(use.spec, use.owner)] = use
        return self.recent()

    def save(self) -> None:
        """Write the recent uses (older ones are dropped), replacing the file atomically."""
        uses = self.recent()
        self._uses = {(u.spec, u.owner): u for u in uses}
        self.dirty = False
        data = json.dumps({"uses": [u.to_json() for u in uses]}).encode()
        fd = os.open(self.state_dir, _DIR_FLAGS)
        try:
            safefs.write_private_file(fd, RECENT_FILE, data)
        finally:
            os.close(fd)
