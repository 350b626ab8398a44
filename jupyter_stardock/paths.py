"""Where the files that ship with the package live.

``images/`` sits at the top of the source tree and is copied into the wheel as
``jupyter_stardock/images``; an editable install reads it from the tree.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def images_dir() -> Path:
    """The folder holding ``base/`` (the base image) and ``apps/`` (the app catalog)."""
    for candidate in (_HERE / "images", _HERE.parent / "images"):
        if (candidate / "base").is_dir():
            return candidate
    raise FileNotFoundError(
        f"The images folder is missing from {_HERE}; reinstall jupyter-stardock."
    )
