"""Write a pip constraints file: every Python distribution the kernel's Python sees, pinned.

An environment's build runs this after its apt layers, before the pip packages
and commands of the recipe, and points PIP_CONSTRAINT at the file. A later
`pip install -U matplotlib` then keeps the matplotlib Debian installed, or
fails naming the conflict, instead of replacing numpy under Debian's astropy.

Usage: python pip-constraints.py OUTPUT
"""

from __future__ import annotations

import importlib.metadata
import re
import sys

from packaging.version import InvalidVersion, Version

# Build tools are left free: pip applies PIP_CONSTRAINT to its isolated build
# environments too, and a package's build may need a newer setuptools.
UNPINNED = {"pip", "setuptools", "wheel"}
# Debian ships a few distributions whose metadata lost the upstream version
# (kiwisolver, mpmath say 0.0.0); pinning that would refuse every package that
# needs them, so they are left free as well.
UNKNOWN_VERSION = Version("0")

HEADER = """\
# The versions this image holds of Debian's python3-* packages and of the
# kernel runtime, written after the apt layers by /opt/stardock/pip-constraints.py.
# pip reads it through PIP_CONSTRAINT: an install that needs another version of
# one of these fails and names it. A recipe with "pip_constraints": false has none.
"""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    """Name -> version of each distribution, as imports would find it (first on sys.path wins)."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        key = canonical(name)
        if key in found or key in UNPINNED:
            found.setdefault(key, "")
            continue
        try:
            version = Version(dist.version)
        except InvalidVersion:
            found[key] = ""
            continue
        found[key] = "" if version == UNKNOWN_VERSION else dist.version
    return {name: version for name, version in found.items() if version}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    lines = [f"{name}=={version}" for name, version in sorted(pins().items())]
    with open(argv[1], "w", encoding="utf-8") as out:
        out.write(HEADER + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
