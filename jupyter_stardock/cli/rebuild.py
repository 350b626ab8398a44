"""`jupyter stardock rebuild ARCHIVE|NOTEBOOK`: the recorded environment, every version pinned.

The recipe of the archive or notebook is built again with each version of its
lock pinned (apt ``name=version``, pip ``==``; the server leaves out what its
base image already holds). When the mirror no longer has a recorded version,
the build fails naming it; the command says which, prints what would differ,
and with ``--closest`` builds without those pins and prints the difference
between the lock and what was built. Either way the new environment's lock is
compared with the recorded one.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from traitlets import Bool

from ..client.events import BuildProgress
from ..core.lock import Change, Lock, diff, normalize_python, render_diff
from ..errors import BuildFailed, StarDockError
from .reproduce import Source, read_source
from .user import ServerCommand, _TerminalProgress

__all__ = ["RebuildCommand", "pinned_recipe", "unavailable_versions"]

# apt-get: "E: Version '9.9' for 'foo' was not found"; pip: "No matching distribution
# found for foo==9.9" (and "Could not find a version that satisfies the requirement").
_APT_MISSING = re.compile(r"Version '([^']+)' for '([a-z0-9][a-z0-9+.-]+)' was not found")
_PIP_MISSING = re.compile(
    r"(?:No matching distribution found for|satisfies the requirement) ([A-Za-z0-9._-]+)==(\S+)"
)
#: Each round of --closest drops what the last build named; apt names all at once, pip one.
_MAX_ROUNDS = 5

Pin = tuple[str, str]  # (kind, name): "debian" or "python"


def unavailable_versions(lines: Iterable[str]) -> set[Pin]:
    """The pinned packages a failed build's log says no mirror has at that version."""
    found: set[Pin] = set()
    for line in lines:
        found.update(("debian", m.group(2)) for m in _APT_MISSING.finditer(line))
        found.update(("python", normalize_python(m.group(1))) for m in _PIP_MISSING.finditer(line))
    return found


def pinned_recipe(recipe: Mapping[str, Any], lock: Lock, dropped: set[Pin]) -> dict[str, Any]:
    """The recorded recipe with the lock's versions as its pins (an old rebuild's pins replaced)."""
    pinned = {k: v for k, v in recipe.items() if k != "pins"}
    pinned["pins"] = {
        "apt": {n: v for n, v in lock.debian.items() if ("debian", n) not in dropped},
        "pip": {n: v for n, v in lock.python.items() if ("python", n) not in dropped},
    }
    return pinned


class _Progress(_TerminalProgress):
    """The terminal's progress, keeping the log's last lines to read a failure from."""

    lines: tuple[str, ...] = ()

    def __call__(self, progress: BuildProgress) -> None:
        self.lines = tuple(progress.lines)
        super().__call__(progress)


def _missing_sentence(source: Source, missing: set[Pin], lock: Lock) -> str:
    named = ", ".join(
        f"{'Debian' if kind == 'debian' else 'Python'} {name} {lock.packages(kind).get(name)}"
        for kind, name in sorted(missing)
    )
    return f"These versions recorded in {source.what} can no longer be had: {named}."


class RebuildCommand(ServerCommand):
    name = "rebuild"
    description = """Rebuild the environment of an archive or notebook with every recorded
    version pinned, and compare its lock with the recorded one.

    When a recorded version can no longer be had, it is named; --closest then builds
    without pinning it and prints the difference against the lock.
    """
    examples = """
    jupyter stardock rebuild ~/.local/share/jupyter/stardock/archives/KERNEL.tar.gz
    jupyter stardock rebuild analysis.ipynb --closest
    """

    closest = Bool(
        False,
        config=True,
        help="When a recorded version can no longer be had, build without pinning it "
        "(the closest environment) and print the difference against the lock.",
    )
    flags = {
        **ServerCommand.flags,
        "closest": ({"RebuildCommand": {"closest": True}}, closest.help),
    }

    def run(self) -> None:
        if len(self.extra_args) != 1:
            self.fail("name one archive or notebook to rebuild.", 2)
        source = read_source(self.extra_args[0])
        recipe, lock = source.need_recipe(), source.need_lock()
        client = self.client()
        dropped: set[Pin] = set()
        for _ in range(_MAX_ROUNDS):
            progress = _Progress()
            try:
                environment = client.build(pinned_recipe(recipe, lock, dropped), progress)
                break
            except BuildFailed as err:
                missing = unavailable_versions(progress.lines) - dropped
                if not missing:
                    raise
                if not self.closest:
                    self._refuse(source, missing, lock, err)
                # On stderr with the build's log: stdout keeps the result (and --json its JSON).
                print(
                    _missing_sentence(source, missing, lock) + " Building without them.",
                    file=sys.stderr,
                )
                dropped |= missing
            finally:
                progress.close()
        else:
            raise StarDockError(f"{source.what} could not be rebuilt in {_MAX_ROUNDS} rounds.")
        self._report(source, lock, environment, dropped)

    def _refuse(self, source: Source, missing: set[Pin], lock: Lock, err: BuildFailed) -> None:
        changes = [
            Change(kind, name, lock.packages(kind).get(name), None) for kind, name in missing
        ]
        if self.json_output:
            self.emit({"unavailable": [c.to_json() for c in sorted(changes, key=str)]}, "")
        else:
            print(render_diff(sorted(changes, key=str), "the lock", "the closest build"))
        raise StarDockError(
            _missing_sentence(source, missing, lock)
            + " The closest build leaves them unpinned (the mirror's version instead); run"
            " again with --closest to build it and see the whole difference against the lock."
        )

    def _report(
        self, source: Source, lock: Lock, environment: Mapping[str, Any], dropped: set[Pin]
    ) -> None:
        new = Lock.from_json(environment.get("lock"), where="the rebuilt environment's lock")
        changes = diff(lock, new)
        head = (
            f"Rebuilt {source.what} as environment {environment['id']}"
            f" (kernelspec {environment.get('kernelspec')})."
        )
        self.emit(
            {
                "environment": {k: v for k, v in environment.items() if k != "lock"},
                "lock": new.to_json(),
                "unpinned": [{"kind": k, "name": n} for k, n in sorted(dropped)],
                "changes": [c.to_json() for c in changes],
                "same": not changes,
            },
            f"{head}\n{render_diff(changes, 'the lock', 'the rebuilt environment')}",
        )
