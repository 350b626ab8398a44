"""The app catalog: what a user can tick, and what each choice installs.

Each app is one TOML file, ``<id>.toml``, in a catalog folder. The package
ships ``images/apps/``; administrators add folders of their own, read later,
whose entries override shipped ones with the same id. A broken file is
recorded in :attr:`Catalog.problems` with its path and the reason, logged, and
left out; it never stops the server. So is an app that cannot be installed
whatever the user picks: one whose dependencies form a cycle, need a missing
or broken app, or conflict with each other.

The entries and how each is checked are in :mod:`.catalog_entries`.
"""

from __future__ import annotations

import difflib
import heapq
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import CatalogError
from ..paths import images_dir
from .catalog_entries import App, CatalogProblem, read_entries

__all__ = ["App", "Catalog", "CatalogProblem", "default_catalog_dirs"]

log = logging.getLogger(__name__)


def default_catalog_dirs() -> list[Path]:
    """The catalog folders that ship with jupyter-stardock."""
    return [images_dir() / "apps"]


def _find_cycle(apps: Mapping[str, App], start: str) -> list[str] | None:
    """A dependency cycle reachable from ``start``, as [a, b, ..., a], or None."""
    path: list[str] = []
    on_path: set[str] = set()
    done: set[str] = set()

    def visit(app_id: str) -> list[str] | None:
        if app_id in on_path:
            return [*path[path.index(app_id) :], app_id]
        if app_id in done or app_id not in apps:
            return None
        path.append(app_id)
        on_path.add(app_id)
        for dep in apps[app_id].requires:
            cycle = visit(dep)
            if cycle:
                return cycle
        path.pop()
        on_path.discard(app_id)
        done.add(app_id)
        return None

    return visit(start)


def _conflict(a: App, b: App) -> bool:
    return b.id in a.conflicts or a.id in b.conflicts


class Catalog:
    """The apps users can choose from, and how a choice becomes an install list."""

    def __init__(
        self,
        apps: Mapping[str, App] | Iterable[App],
        problems: Sequence[CatalogProblem] = (),
    ) -> None:
        entries = dict(apps) if isinstance(apps, Mapping) else {a.id: a for a in apps}
        self.problems: list[CatalogProblem] = list(problems)
        #: App id -> why that app is left out although its entry was read.
        self.unavailable: dict[str, str] = {}
        self.apps: dict[str, App] = self._usable(entries)

    @classmethod
    def load(cls, dirs: Sequence[Path]) -> Catalog:
        """Read every ``*.toml`` in ``dirs``; a later folder overrides an earlier id."""
        entries, problems = read_entries(dirs)
        catalog = cls(entries, problems)
        for problem in catalog.problems:
            log.warning("App catalog: %s", problem)
        return catalog

    def _usable(self, entries: dict[str, App]) -> dict[str, App]:
        """Leave out, with a problem each, the apps no recipe could install."""

        def drop(app_id: str, reason: str) -> None:
            app = entries.pop(app_id)
            self.unavailable[app_id] = reason
            self.problems.append(CatalogProblem(app.source or Path(app_id), reason, app_id))

        for app_id in sorted(entries):
            if app_id not in entries:
                continue
            cycle = _find_cycle(entries, app_id)
            if cycle:
                members = sorted(set(cycle))
                reason = (
                    "These apps depend on each other in a cycle, so none of them can be"
                    f" installed: {' -> '.join(cycle)}. Remove one of the requirements."
                )
                for member in members:
                    drop(member, reason)
        changed = True
        while changed:
            changed = False
            for app_id in sorted(entries):
                app = entries[app_id]
                missing = [dep for dep in app.requires if dep not in entries]
                if missing:
                    dep = missing[0]
                    why = self.unavailable.get(dep, "it is not in the catalog.")
                    drop(app_id, f"{app.label} needs {dep!r}, which is unavailable: {why}")
                    changed = True
                    break
                try:
                    self._closure(entries, [app_id])
                except CatalogError as err:
                    drop(app_id, str(err))
                    changed = True
                    break
        return entries

    # --- resolving a user's choice -------------------------------------------------

    def _lookup(self, app_id: str, entries: Mapping[str, App]) -> App:
        if app_id in entries:
            return entries[app_id]
        if app_id in self.unavailable:
            raise CatalogError(
                f"The app {app_id!r} is unavailable on this server:"
                f" {self.unavailable[app_id]} Ask your administrator.",
                item=app_id,
            )
        close = difflib.get_close_matches(str(app_id), list(entries), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise CatalogError(f"There is no app called {app_id!r} in the catalog.{hint}", item=app_id)

    def _closure(self, entries: Mapping[str, App], ids: Iterable[str]) -> dict[str, App]:
        """The chosen apps and everything they need; checks cycles and conflicts."""
        chosen: dict[str, App] = {}
        for app_id in ids:
            if not isinstance(app_id, str):
                raise CatalogError(f"App ids are text; got {app_id!r}.", item=str(app_id))
            chosen[app_id] = self._lookup(app_id, entries)
        needed: dict[str, App] = {}
        stack = list(chosen.values())
        while stack:
            app = stack.pop()
            if app.id in needed:
                continue
            needed[app.id] = app
            for dep in app.requires:
                stack.append(self._lookup(dep, entries))
        for app_id in sorted(needed):
            cycle = _find_cycle(needed, app_id)
            if cycle:
                raise CatalogError(
                    f"The catalog entries {' -> '.join(cycle)} depend on each other in a"
                    " cycle, so they cannot be installed. Ask your administrator.",
                    item=cycle[0],
                )
        ordered = sorted(needed)
        for i, a_id in enumerate(ordered):
            for b_id in ordered[i + 1 :]:
                a, b = needed[a_id], needed[b_id]
                if _conflict(a, b):
                    why = "".join(
                        f" ({x.label} is needed by {self._needed_by(x.id, needed)})"
                        for x in (a, b)
                        if x.id not in chosen
                    )
                    raise CatalogError(
                        f"{a.label} and {b.label} cannot be installed together{why}."
                        " Choose one of them.",
                        item=f"{a.id}, {b.id}",
                    )
        return needed

    @staticmethod
    def _needed_by(app_id: str, apps: Mapping[str, App]) -> str:
        return ", ".join(
            a.label for a in sorted(apps.values(), key=lambda a: a.id) if app_id in a.requires
        )

    def resolve(self, ids: Iterable[str]) -> list[App]:
        """The apps to install for a choice, dependencies added, in canonical order.

        The order depends only on the set of apps: dependencies come before the apps
        that need them, otherwise lower ``order`` first, ties by id. Raises
        :class:`CatalogError` naming an unknown app, a conflicting pair or a cycle.
        """
        needed = self._closure(self.apps, ids)
        waiting = {app_id: set(app.requires) for app_id, app in needed.items()}
        ready = [(app.order, app.id) for app in needed.values() if not waiting[app.id]]
        heapq.heapify(ready)
        result: list[App] = []
        while ready:
            _, app_id = heapq.heappop(ready)
            result.append(needed[app_id])
            for other, deps in waiting.items():
                if app_id in deps:
                    deps.discard(app_id)
                    if not deps:
                        heapq.heappush(ready, (needed[other].order, other))
        return result

    def added_dependencies(self, ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Apps a choice pulls in that were not chosen: id -> ids of the apps needing it.

        For the panel to say "PyRAF needs IRAF". Raises like :meth:`resolve`.
        """
        ids = list(ids)
        chosen = set(ids)
        needed = {app.id: app for app in self.resolve(ids)}
        return {
            app_id: tuple(sorted(a.id for a in needed.values() if app_id in a.requires))
            for app_id in needed
            if app_id not in chosen
        }

    def to_json(self) -> list[dict[str, Any]]:
        """Every usable app, in canonical order of its ``order`` and id."""
        return [app.to_json() for app in sorted(self.apps.values(), key=lambda a: (a.order, a.id))]
