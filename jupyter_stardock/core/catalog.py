"""The app catalog: what a user can tick, and what each choice installs.

Each app is one TOML file, ``<id>.toml``, in a catalog folder. The package
ships ``images/apps/``; administrators add folders of their own, read later,
whose entries override shipped ones with the same id. A broken file is
recorded in :attr:`Catalog.problems` with its path and the reason, logged, and
left out; it never stops the server. So is an app that cannot be installed
whatever the user picks: one whose dependencies form a cycle, need a missing
or broken app, or conflict with each other.

An entry::

    id = "pyraf"                  # the file name without .toml
    title = "PyRAF"
    description = "Python interface to IRAF tasks, importable from the kernel."
    category = "Image reduction"
    apt = ["python3-pyraf"]       # Debian packages (bookworm)
    run = []                      # optional one-line shell steps, run as root after apt
    env = {}                      # optional variables set in the image, e.g. { TERM = "xterm" }
    requires = ["iraf"]           # apps installed first
    conflicts = []                # apps it cannot share an image with
    order = 21                    # place in the canonical order (ties by id)
    smoke = "\\"$STARDOCK_PYTHON\\" -c 'import pyraf'"
    smoke_kernel = '''
    from pyraf import iraf
    iraf.images.imheader("dev$pix")
    '''                           # optional: cell code a real kernel of the image runs

``smoke`` is a shell command whose exit status proves the app works in a built
image when run as the unprivileged kernel user, with no display (GUI apps run
under ``xvfb-run``). ``smoke_kernel`` is what a Python app must also do in a
kernel (ipykernel of the image, in a hardened kernel container): cell code,
IPython magics allowed, that raises when the app does not work;
``smoke_kernel_displays`` lists the MIME types it must display (``["image/png"]``
for a figure shown inline).
"""

from __future__ import annotations

import difflib
import heapq
import logging
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CatalogError, PolicyError
from ..paths import images_dir
from .policy import command_problem, text_problem, validate_apt_packages

__all__ = ["App", "Catalog", "CatalogProblem", "default_catalog_dirs"]

log = logging.getLogger(__name__)

_ID = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_MAX_ID = 40
_FIELDS = {
    "id": str,
    "title": str,
    "description": str,
    "category": str,
    "apt": list,
    "run": list,
    "requires": list,
    "conflicts": list,
    "order": int,
    "smoke": str,
    "smoke_kernel": str,
    "smoke_kernel_displays": list,
    "env": dict,
}
_REQUIRED = ("id", "title", "description", "category", "smoke")
_MAX_TEXT = {"title": 80, "description": 300, "category": 60, "smoke": 2000, "smoke_kernel": 4000}
# Environment variables an app sets in the image. Values are plain words: the
# ENV line is checked by re-parsing, but only as raw text, so nothing in a
# value may be read as a quote, a space, a variable or an escape.
_MIME = re.compile(r"[a-z]+/[a-z0-9.+-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_VALUE = re.compile(r"[A-Za-z0-9_./:,+@%-]*")


def default_catalog_dirs() -> list[Path]:
    """The catalog folders that ship with jupyter-stardock."""
    return [images_dir() / "apps"]


@dataclass(frozen=True)
class App:
    """One installable app, as read from its catalog entry."""

    id: str
    title: str
    description: str
    category: str
    smoke: str
    apt: tuple[str, ...] = ()
    run: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    order: int = 1000
    env: tuple[tuple[str, str], ...] = ()
    #: Cell code a kernel of the image runs to prove the app works there, or None.
    smoke_kernel: str | None = None
    #: MIME types the kernel check must display (["image/png"] for a figure).
    smoke_kernel_displays: tuple[str, ...] = ()
    source: Path | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        """How messages name the app: ``PyRAF (pyraf)``."""
        return f"{self.title} ({self.id})"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "category": self.category,
            "apt": list(self.apt),
            "run": list(self.run),
            "requires": list(self.requires),
            "conflicts": list(self.conflicts),
            "order": self.order,
            "env": dict(self.env),
            "smoke": self.smoke,
            "smoke_kernel": self.smoke_kernel,
            "smoke_kernel_displays": list(self.smoke_kernel_displays),
        }


@dataclass(frozen=True)
class CatalogProblem:
    """A catalog file, or an app in it, that was left out, and why."""

    file: Path
    reason: str
    app: str | None = None

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


class _EntryError(Exception):
    pass


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    problem = text_problem(value)
    if problem is not None:
        raise _EntryError(f"{key} {problem}")
    _check_size(key, value)
    return value.strip()


def _check_size(key: str, value: str) -> None:
    if not value.strip():
        raise _EntryError(f"{key} is empty.")
    if len(value) > _MAX_TEXT[key]:
        raise _EntryError(f"{key} is longer than {_MAX_TEXT[key]} characters.")


def _code(data: Mapping[str, Any], key: str) -> str | None:
    """Cell code: several lines, each one that a one-line text check would take."""
    if key not in data:
        return None
    value = data[key]
    for number, line in enumerate(value.splitlines(), start=1):
        problem = text_problem(line)
        if problem is not None:
            raise _EntryError(f"{key} line {number} {problem}")
    _check_size(key, value)
    return value.strip("\n")


def _displays(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    values = data.get(key, [])
    for value in values:
        if not isinstance(value, str) or not _MIME.fullmatch(value):
            raise _EntryError(f"{key} holds {value!r}, which is not a MIME type like image/png.")
    if values and "smoke_kernel" not in data:
        raise _EntryError(f"{key} needs a smoke_kernel whose displays it lists.")
    return tuple(dict.fromkeys(values))


def _env(data: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    env = data.get("env", {})
    for name, value in env.items():
        if not _ENV_NAME.fullmatch(name):
            raise _EntryError(f"env name {name!r} is not a variable name.")
        if not isinstance(value, str) or not _ENV_VALUE.fullmatch(value):
            raise _EntryError(
                f"env value of {name} must be one word of letters, digits and _ . / : , + @ % -."
            )
    return tuple(sorted(env.items()))


def _ids(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    values = data.get(key, [])
    for value in values:
        if not isinstance(value, str) or not _ID.fullmatch(value):
            raise _EntryError(f"{key} holds {value!r}, which is not an app id.")
    return tuple(dict.fromkeys(values))


def _app_from_toml(path: Path) -> App:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise _EntryError(f"cannot be read ({err}).") from err
    except tomllib.TOMLDecodeError as err:
        raise _EntryError(f"is not valid TOML ({err}).") from err

    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise _EntryError(
            f"has unknown field(s) {', '.join(unknown)}; the fields are {', '.join(_FIELDS)}."
        )
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise _EntryError(f"lacks the field(s) {', '.join(missing)}.")
    for key, kind in _FIELDS.items():
        if key in data and (not isinstance(data[key], kind) or isinstance(data[key], bool)):
            raise _EntryError(f"field {key} must be a {kind.__name__}.")

    app_id = data["id"]
    if not _ID.fullmatch(app_id) or len(app_id) > _MAX_ID:
        raise _EntryError(
            f"id {app_id!r} is not an app id: lower-case letters, digits and single"
            f" hyphens, starting with a letter, at most {_MAX_ID} characters."
        )
    if app_id != path.stem:
        raise _EntryError(f"id {app_id!r} differs from the file name; name it {app_id}.toml.")

    apt = data.get("apt", [])
    if not all(isinstance(name, str) for name in apt):
        raise _EntryError("apt must list package names as strings.")
    try:
        apt = validate_apt_packages(apt)
    except PolicyError as err:
        raise _EntryError(f"apt: {err}") from err

    run = data.get("run", [])
    for number, step in enumerate(run, start=1):
        problem = "is not text." if not isinstance(step, str) else command_problem(step.strip())
        if problem is not None:
            raise _EntryError(f"run step {number} {problem}")

    requires, conflicts = _ids(data, "requires"), _ids(data, "conflicts")
    if app_id in conflicts:
        raise _EntryError("conflicts with itself.")
    return App(
        id=app_id,
        title=_text(data, "title"),
        description=_text(data, "description"),
        category=_text(data, "category"),
        smoke=_text(data, "smoke"),
        smoke_kernel=_code(data, "smoke_kernel"),
        smoke_kernel_displays=_displays(data, "smoke_kernel_displays"),
        apt=tuple(dict.fromkeys(apt)),
        run=tuple(step.strip() for step in run),
        requires=requires,
        conflicts=conflicts,
        env=_env(data),
        order=data.get("order", 1000),
        source=path,
    )


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
        entries: dict[str, App] = {}
        problems: list[CatalogProblem] = []
        for folder in dirs:
            folder = Path(folder)
            if not folder.is_dir():
                problems.append(CatalogProblem(folder, "The catalog folder does not exist."))
                continue
            for path in sorted(folder.glob("*.toml")):
                try:
                    app = _app_from_toml(path)
                except _EntryError as err:
                    problems.append(CatalogProblem(path, f"The catalog entry {err}"))
                    continue
                entries[app.id] = app
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
