"""Keep the file browser inside each kernel's outputs folder.

jupyter_server's file contents manager checks that a path is below its root
without resolving links (``os.path.abspath``), so a symlink that kernel code
plants in ``/outputs`` (``/outputs/x -> /etc/shadow``) is served by the
server's own account through the contents API and ``/files``. When the server
runs as another uid than its kernels (root, on shared machines) that reads
files the kernel could never read. This guard wraps the contents manager's
path check (below the outputs folders' parent a path may not pass through any
symlink) and its ``open`` for reading there (through descriptors, so a link
swapped in after the check is not followed either).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tornado.web import HTTPError

from ..core import safefs

__all__ = ["guard_outputs"]


def _refuse(path: str) -> HTTPError:
    return HTTPError(
        404,
        f"{path} is a link made inside a kernel's outputs folder; StarDock does not follow "
        "such links (they could point anywhere on this machine).",
    )


def check_outputs_path(os_path: str, outputs_root: Path) -> None:
    """Raise 404 when ``os_path`` below ``outputs_root`` goes through a link."""
    path = Path(os.path.abspath(os_path))
    root = Path(os.path.abspath(outputs_root))
    if not path.is_relative_to(root) or path == root:
        return
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        try:
            info = os.lstat(current)
        except OSError:
            return  # missing: the contents manager answers 404 itself
        if stat.S_ISLNK(info.st_mode):
            raise _refuse(str(path.relative_to(root)))


@contextlib.contextmanager
def open_below(os_path: str, outputs_root: Path, mode: str = "rb", **kwargs: Any) -> Iterator[Any]:
    """Open a file below ``outputs_root`` for reading without following any link.

    The path check above runs before the contents manager opens the file; a
    kernel could swap a file for a link in between. Reading through descriptors
    (each folder opened with O_NOFOLLOW below the outputs folders' parent, then
    the file) leaves no such moment.
    """
    path = Path(os.path.abspath(os_path))
    try:
        parent = safefs.open_dir(path.parent, trusted=outputs_root)
    except safefs.UnsafePath as err:
        raise _refuse(str(path.relative_to(outputs_root))) from err
    try:
        fd = os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise _refuse(str(path.relative_to(outputs_root))) from err
        raise
    finally:
        os.close(parent)
    with os.fdopen(fd, mode, **kwargs) as f:
        yield f


def guard_outputs(contents_manager: Any, outputs_root: Path) -> bool:
    """Install the check on a file contents manager; False when it has no path check to wrap."""
    original = getattr(contents_manager, "_get_os_path", None)
    original_open = getattr(contents_manager, "open", None)
    if original is None or getattr(original, "_stardock_guard", False):
        return False
    root = Path(os.path.abspath(outputs_root))

    def _get_os_path(path: str) -> str:
        os_path: str = original(path)
        check_outputs_path(os_path, outputs_root)
        return os_path

    @contextlib.contextmanager
    def _open(os_path: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
        mode = args[0] if args else kwargs.get("mode", "r")
        below = Path(os.path.abspath(os_path)).is_relative_to(root)
        if below and not set(mode) & set("wax+"):
            extra = {k: v for k, v in kwargs.items() if k != "mode"}
            with (
                contents_manager.perm_to_403(os_path),
                open_below(os_path, root, mode, **extra) as f,
            ):
                yield f
            return
        assert original_open is not None
        with original_open(os_path, *args, **kwargs) as f:
            yield f

    _get_os_path._stardock_guard = True  # type: ignore[attr-defined]
    contents_manager._get_os_path = _get_os_path
    if original_open is not None and hasattr(contents_manager, "perm_to_403"):
        contents_manager.open = _open
    return True
