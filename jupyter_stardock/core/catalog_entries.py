"""One app's catalog entry: a TOML file, read and checked.

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

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PolicyError
from .languages import LANGUAGES
from .policy import command_problem, text_problem, validate_apt_packages

__all__ = ["App", "CatalogProblem", "read_entries"]

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
    # issue 18: the id of a kernel language the app brings (core/languages.py), e.g. "r".
    "kernel": str,
}
_REQUIRED = ("id", "title", "description", "category", "smoke")
_MAX_TEXT = {"title": 80, "description": 300, "category": 60, "smoke": 2000, "smoke_kernel": 4000}
_MIME = re.compile(r"[a-z]+/[a-z0-9.+-]+")
# Environment variables an app sets in the image. Values are plain words: the
# ENV line is checked by re-parsing, which must read each name and value back
# as written, and Docker expands variables in it when it builds; so nothing in
# a value may be read as a quote, a space, a variable or an escape.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_VALUE = re.compile(r"[A-Za-z0-9_./:,+@%-]*")


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
    # issue 18: the kernel language it adds to an environment (a kernelspec beside Python's).
    kernel: str | None = None

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
            "kernel": self.kernel,  # issue 18
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
    # issue 18: only a language StarDock knows how to start.
    kernel = data.get("kernel")
    if kernel is not None and kernel not in LANGUAGES:
        raise _EntryError(
            f"kernel {kernel!r} is not a kernel language StarDock starts; "
            f"the languages are {', '.join(sorted(LANGUAGES))}."
        )
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
        kernel=kernel,
    )


def read_entries(dirs: Sequence[Path]) -> tuple[dict[str, App], list[CatalogProblem]]:
    """Every ``*.toml`` in ``dirs`` that reads as an app (a later folder overrides an
    earlier id), and a problem for each file that does not."""
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
    return entries, problems
