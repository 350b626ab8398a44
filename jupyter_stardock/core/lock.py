"""An environment's lock: the exact versions it holds, how to read one, compare two, pin them.

A lock is what an image is, not what its recipe asked for: the Debian packages
``dpkg-query`` lists as installed, the kernel venv's own Python distributions
(``pip freeze --local``: Debian's python3-* packages are in ``debian``), R's
``installed.packages()`` where R is present, and the base image's id. It is
taken from the built image (:mod:`..services.locks`) and travels in the
environment's JSON, the archive manifest and the notebook metadata, so a
result can be rebuilt with every version pinned (:func:`pins_for`) and two
results compared (:func:`diff`).

A lock read from a file or a notebook is user input: every name and version
must match the grammar its package manager allows, or the lock is refused with
a sentence naming the entry, before any of it reaches a Dockerfile.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import RecipeError

__all__ = [
    "KINDS",
    "LOCK_FORMAT",
    "Change",
    "Lock",
    "diff",
    "parse_lock_output",
    "pins_for",
    "pins_from_json",
    "render_diff",
]

LOCK_FORMAT = "jupyter-stardock lock 1"

#: The package kinds of a lock, with the name each is shown by.
KINDS = {"debian": "Debian", "python": "Python", "r": "R"}

# Debian policy 5.6.1 (names) and 5.6.12 (epoch:upstream-revision).
_DEBIAN_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_DEBIAN_VERSION = re.compile(r"(?:[0-9]+:)?[0-9][A-Za-z0-9.+~-]*(?::[A-Za-z0-9.+~-]+)*")
# PEP 503 normalized names; PEP 440 versions (with local parts), as pip freeze writes them.
_PYTHON_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?")
_PYTHON_VERSION = re.compile(r"v?[0-9][A-Za-z0-9.+!_-]*")
# R: "Writing R Extensions" 1.1.1 (names), and versions of numbers joined by . or -.
_R_NAME = re.compile(r"[A-Za-z][A-Za-z0-9.]*")
_R_VERSION = re.compile(r"[0-9]+(?:[.-][0-9]+)*")
_IMAGE_ID = re.compile(r"(?:sha256:)?[0-9a-f]{12,64}")

_GRAMMAR = {
    "debian": (_DEBIAN_NAME, _DEBIAN_VERSION),
    "python": (_PYTHON_NAME, _PYTHON_VERSION),
    "r": (_R_NAME, _R_VERSION),
}
#: More packages than any environment holds: a bigger lock is not one.
_MAX_ENTRIES = 50_000


def normalize_python(name: str) -> str:
    """PEP 503: pip treats ``Foo_Bar``, ``foo-bar`` and ``foo.bar`` as one name."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Lock:
    """The exact contents of one image."""

    base_image: str = ""
    debian: Mapping[str, str] = field(default_factory=dict)
    python: Mapping[str, str] = field(default_factory=dict)
    r: Mapping[str, str] = field(default_factory=dict)
    #: The image it was taken from (a rebuild has another id and may hold the same lock).
    image_id: str = ""

    def packages(self, kind: str) -> Mapping[str, str]:
        return {"debian": self.debian, "python": self.python, "r": self.r}[kind]

    def summary(self) -> str:
        counts = ", ".join(f"{len(self.packages(k))} {title}" for k, title in KINDS.items())
        return f"{counts} package(s)"

    def to_json(self) -> dict[str, Any]:
        return {
            "format": LOCK_FORMAT,
            "image_id": self.image_id,
            "base_image": self.base_image,
            **{kind: dict(sorted(self.packages(kind).items())) for kind in KINDS},
        }

    @classmethod
    def from_json(cls, data: Any, *, where: str = "the lock") -> Lock:
        """Read a lock from decoded JSON, refusing any entry its package manager would not take."""
        if not isinstance(data, Mapping) or data.get("format") != LOCK_FORMAT:
            raise RecipeError(
                f"{where} is not a jupyter-stardock lock (it has no"
                f' "format": "{LOCK_FORMAT}"); take one from an archive manifest, a notebook'
                " StarDock saved, or `jupyter stardock envs --json`.",
                item="lock",
            )
        ids = {}
        for key in ("base_image", "image_id"):
            value = data.get(key) or ""
            if not isinstance(value, str) or (value and not _IMAGE_ID.fullmatch(value)):
                raise RecipeError(f"The {key} of {where} is not an image id.", item="lock")
            ids[key] = value
        return cls(
            base_image=ids["base_image"],
            image_id=ids["image_id"],
            debian=_entries("debian", data.get("debian") or {}, where),
            python=_entries("python", data.get("python") or {}, where),
            r=_entries("r", data.get("r") or {}, where),
        )


def _entries(kind: str, raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, Mapping) or len(raw) > _MAX_ENTRIES:
        raise RecipeError(
            f"The {KINDS[kind]} packages of {where} must be an object of names and versions.",
            item="lock",
        )
    name_re, version_re = _GRAMMAR[kind]
    out = {}
    for name, version in raw.items():
        if not (
            isinstance(name, str)
            and isinstance(version, str)
            and name_re.fullmatch(name)
            and version_re.fullmatch(version)
        ):
            raise RecipeError(
                f"The {KINDS[kind]} entry {str(name)[:80]!r} = {str(version)[:80]!r} of {where}"
                " is not a package name and version; the lock was changed by hand or is damaged.",
                item="lock",
            )
        out[name] = version
    return out


def parse_lock_output(text: str, *, base_image: str, image_id: str) -> Lock:
    """The lock from the lines the lock script printed (``kind<TAB>name<TAB>version``).

    Lines of any other shape (warnings on stderr, pip's ``name @ url`` entries,
    which no mirror can give again) are not entries; a malformed entry is
    skipped rather than trusted, since the image's own tools printed it.
    """
    found: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
    for line in text.splitlines():
        parts = line.strip().split("\t")
        if len(parts) != 3 or parts[0] not in KINDS:
            continue
        kind, name, version = parts
        if kind == "python":
            name = normalize_python(name)
        name_re, version_re = _GRAMMAR[kind]
        if name_re.fullmatch(name) and version_re.fullmatch(version):
            found[kind][name] = version
    return Lock(
        base_image=base_image,
        image_id=image_id,
        debian=found["debian"],
        python=found["python"],
        r=found["r"],
    )


# --- comparing ---------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One package (or the base image) that differs between two locks; None: absent."""

    kind: str  # "debian", "python", "r", or "base" for the base image
    name: str
    old: str | None
    new: str | None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "old": self.old, "new": self.new}


def diff(a: Lock, b: Lock) -> list[Change]:
    """What differs from ``a`` to ``b``: the base image, then each kind's packages by name."""
    changes = []
    if a.base_image != b.base_image:
        changes.append(Change("base", "base image", a.base_image or None, b.base_image or None))
    for kind in KINDS:
        old, new = a.packages(kind), b.packages(kind)
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                changes.append(Change(kind, name, old.get(name), new.get(name)))
    return changes


def render_diff(changes: Iterable[Change], a: str = "A", b: str = "B") -> str:
    """The difference as a person reads it: one line per package, ``-``/``+``/``~``."""
    changes = list(changes)
    if not changes:
        return f"{a} and {b} hold exactly the same versions."
    lines = [f"From {a} to {b}, {len(changes)} difference(s):"]
    for c in changes:
        title = KINDS.get(c.kind, "Base")
        if c.old is None:
            lines.append(f"  + {title:<6} {c.name} {c.new}  (only in {b})")
        elif c.new is None:
            lines.append(f"  - {title:<6} {c.name} {c.old}  (only in {a})")
        else:
            lines.append(f"  ~ {title:<6} {c.name} {c.old} -> {c.new}")
    return "\n".join(lines)


# --- pinning -----------------------------------------------------------------------


def pins_for(lock: Lock, base: Lock | None) -> dict[str, dict[str, str]]:
    """The recipe pins that rebuild ``lock``: apt ``name=version`` and pip ``==``.

    What the base image already holds at the same version needs no pin (and its
    own versions may have left the mirror since it was bootstrapped). R packages
    come from Debian's r-cran-* packages, so the Debian pins hold them too.
    """
    held = base or Lock()
    return {
        "apt": {n: v for n, v in sorted(lock.debian.items()) if held.debian.get(n) != v},
        "pip": {n: v for n, v in sorted(lock.python.items()) if held.python.get(n) != v},
    }


def pins_from_json(raw: Any) -> dict[str, tuple[tuple[str, str], ...]]:
    """The recipe's ``pins`` ({"apt": {name: version}, "pip": {...}}), checked as a lock is."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or set(raw) - {"apt", "pip"}:
        raise RecipeError(
            'The recipe field \'pins\' must be {"apt": {name: version}, "pip": {name: version}}.',
            item="pins",
        )
    lock = Lock.from_json(
        {"format": LOCK_FORMAT, "debian": raw.get("apt"), "python": raw.get("pip")},
        where="the recipe's pins",
    )
    return {
        "apt_pins": tuple(sorted(lock.debian.items())),
        "pip_pins": tuple(sorted(lock.python.items())),
    }
