"""Keep the file browser inside each kernel's outputs folder.

jupyter_server's file contents manager checks that a path is below its root
without resolving links (``os.path.abspath``), so a symlink that kernel code
plants in ``/outputs`` (``/outputs/x -> /etc/shadow``) is served by the
server's own account through the contents API and ``/files``. When the server
runs as another uid than its kernels (root, on shared machines) that reads
files the kernel could never read. This guard wraps the contents manager's
path check: below the outputs folders' parent, a path may not pass through
any symlink, and it must name a file of the kernel's folder.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from tornado.web import HTTPError

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


def guard_outputs(contents_manager: Any, outputs_root: Path) -> bool:
    """Install the check on a file contents manager; False when it has no path check to wrap."""
    original = getattr(contents_manager, "_get_os_path", None)
    if original is None or getattr(original, "_stardock_guard", False):
        return False

    def _get_os_path(path: str) -> str:
        os_path: str = original(path)
        check_outputs_path(os_path, outputs_root)
        return os_path

    _get_os_path._stardock_guard = True  # type: ignore[attr-defined]
    contents_manager._get_os_path = _get_os_path
    return True
