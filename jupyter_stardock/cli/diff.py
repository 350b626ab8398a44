"""`jupyter stardock diff A B`: what differs between two locks.

A and B may each be an outputs archive, a notebook StarDock saved, a lock file
(``--json`` output of an environment's ``lock``), or the id of an environment
on the running server (only then is the server asked).
"""

from __future__ import annotations

from ..core.lock import diff, render_diff
from .reproduce import read_source
from .user import ServerCommand

__all__ = ["DiffCommand"]


class DiffCommand(ServerCommand):
    name = "diff"
    description = """Compare the locks (exact package versions) of two archives, notebooks,
    lock files or environments."""
    examples = """
    jupyter stardock diff run-2025.tar.gz run-2026.tar.gz
    jupyter stardock diff analysis.ipynb 3f2a9c1b0d4e --json
    """

    def run(self) -> None:
        if len(self.extra_args) != 2:
            self.fail("name the two archives, notebooks, lock files or environments to compare.", 2)
        a, b = (read_source(ref, self.client) for ref in self.extra_args)
        changes = diff(a.need_lock(), b.need_lock())
        self.emit(
            {"a": a.what, "b": b.what, "changes": [c.to_json() for c in changes]},
            render_diff(changes, a.what, b.what),
        )
