"""The notebooks that ran on a kernel, as saved, for its archive (issue 17).

Which notebooks: jupyter_server's session manager says, by kernel id, at the
kernel's shutdown (the session's row is deleted only after its kernel is shut
down). Reading them: the paths are the user's, below the server's root; a
kernel can write into its outputs folder there and plant a symlink where a
notebook is expected, so every folder below the root is opened without
following links (core.safefs), the file with O_NOFOLLOW, and only a regular
file of bounded size is read. Anything else is left out of the archive.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..core import safefs
from ..errors import UnsafePath

__all__ = ["SessionNotebooks", "read_notebooks", "session_notebooks"]

log = logging.getLogger(__name__)

#: Larger notebooks are left out of the archive (their outputs are in it anyway).
MAX_NOTEBOOK_BYTES = 64 << 20


@dataclass(frozen=True)
class SessionNotebooks:
    """The notebook paths of a kernel's sessions, relative to the server's root."""

    root: Path
    paths: tuple[str, ...]


def session_notebooks(node: Any, kernel_id: str) -> SessionNotebooks | None:
    """The notebooks whose sessions use ``kernel_id``, from the server above ``node``.

    None without a server (nbconvert, console) or a session manager that keeps
    its sessions elsewhere than jupyter_server's SQLite table.
    """
    while node is not None and getattr(node, "session_manager", None) is None:
        node = getattr(node, "parent", None)
    if node is None:
        return None
    sessions, root = node.session_manager, getattr(node, "root_dir", None)
    try:
        rows = sessions.cursor.execute(
            "SELECT path FROM session WHERE kernel_id=?", (kernel_id,)
        ).fetchall()
    except (AttributeError, sqlite3.Error) as err:
        log.warning("StarDock: the sessions of kernel %s cannot be read: %s", kernel_id, err)
        return None
    paths = tuple(sorted({str(r[0]) for r in rows if str(r[0] or "").endswith(".ipynb")}))
    return SessionNotebooks(Path(root), paths) if root and paths else None


def _relative(path: str) -> PurePosixPath | None:
    rel = PurePosixPath(path.lstrip("/"))
    if not rel.parts or any(part in ("", ".", "..") for part in rel.parts):
        return None
    return rel


def read_notebooks(found: SessionNotebooks | None) -> dict[str, bytes]:
    """Each notebook's saved bytes by its path (blocking); unsafe or missing ones are skipped."""
    notebooks: dict[str, bytes] = {}
    for path in found.paths if found else ():
        rel = _relative(path)
        if rel is None:
            continue
        try:
            notebooks[str(rel)] = _read_below(found.root, rel)  # type: ignore[union-attr]
        except (OSError, UnsafePath) as err:
            log.warning("StarDock: the notebook %s is not archived: %s", path, err)
    return notebooks


def _read_below(root: Path, rel: PurePosixPath) -> bytes:
    folder = safefs.open_dir(root / str(rel.parent), trusted=root)
    try:
        fd = os.open(
            rel.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder
        )
    finally:
        os.close(folder)
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_NOTEBOOK_BYTES:
            raise UnsafePath(f"{rel} is not a regular file of at most 64 MiB.")
        return f.read(MAX_NOTEBOOK_BYTES + 1)[:MAX_NOTEBOOK_BYTES]
