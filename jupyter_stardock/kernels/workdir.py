"""The notebook's own folder, read-only at /work in its kernel (issue 18).

jupyter_server hands a kernel start the folder of its notebook as ``cwd``
(``MappingKernelManager.cwd_for_path``: the API path below the server's root, as
an OS path). Mounting it lets ``open("catalog.csv")`` beside the notebook work.

The folder is the user's, and a user or a kernel can put a symlink anywhere in
it, or swap a component of its path for one between the server's check and the
engine's mount (the engine mounts by path and follows links as root). So:

- the folder is opened component by component below the server's root with
  ``O_NOFOLLOW`` (:func:`..core.safefs.open_dir`): a link anywhere on the way,
  or a folder outside the root, is refused with a sentence;
- a root server (the hub service, a root local server) then binds that very
  descriptor onto a staging mount point of its own (``mount --bind
  /proc/self/fd/N``), read-only, nosuid, nodev, and hands the engine the staging
  path, which nobody else can change: what the kernel sees is the folder that
  was checked, whatever is renamed or relinked afterwards;
- a server that is not root cannot mount; it hands the engine the checked path.
  Its kernels run as its own uid, so a link swapped in during that instant
  shows the kernel only what that uid may read anyway.

Links *inside* the mounted folder are harmless: they are resolved in the
container, where the host's other folders do not exist.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.safefs import open_dir
from ..errors import KernelStartError, UnsafePath
from ..hub.service_client import hub_user_home
from .launch import WORK_MOUNT

__all__ = [
    "WORK_MOUNT",
    "WorkFolder",
    "notebook_asks_for_work",
    "release_work_folder",
    "wants_work",
    "work_folder_for",
    "work_root",
]


@dataclass(frozen=True)
class WorkFolder:
    """The notebook's folder of one kernel, and what the engine mounts for it."""

    #: The folder as the user knows it (below the server's root).
    folder: Path
    #: The path the engine binds: a staging mount point (root server) or ``folder`` itself.
    source: Path
    staged: bool


def work_root(owner: str | None, server_root: Callable[[], Path]) -> Path:
    """Where a notebook's folder may be: the server's root, or a hub user's own home."""
    if owner is None:
        return server_root()
    home = hub_user_home(owner)
    if home is None:
        raise KernelStartError(
            f"The notebook's folder cannot be mounted at {WORK_MOUNT}: {owner} has no home "
            "folder on this machine, so the service cannot tell that the folder is theirs."
        )
    return home


def _refused(folder: Path, root: Path, why: str) -> KernelStartError:
    return KernelStartError(
        f"The notebook's folder {folder} cannot be mounted at {WORK_MOUNT}: {why} "
        f"Only folders inside the server's root ({root}) are, and never through a symlink."
    )


def _mount(*argv: str, fd: int | None = None) -> None:
    result = subprocess.run(
        argv, capture_output=True, text=True, pass_fds=(fd,) if fd is not None else ()
    )
    if result.returncode != 0:
        raise KernelStartError(
            f"The notebook's folder could not be prepared for {WORK_MOUNT}: "
            f"{result.stderr.strip() or 'mount failed'}."
        )


def work_folder_for(cwd: str, *, root: Path, state: Path) -> WorkFolder:
    """Check the notebook's folder ``cwd`` is inside ``root`` (no link on the way) and stage it.

    ``root`` is the server's root folder (a hub user's home in the hub service);
    the staging mount points live in the server's own ``state`` folder.
    """
    staging = state / "work-mounts"
    folder = Path(os.path.abspath(cwd))
    if not any(folder.is_relative_to(r) for r in (Path(os.path.abspath(root)), root.resolve())):
        raise _refused(folder, root, "it is outside the server's root.")
    try:
        fd = open_dir(folder, trusted=root)
    except UnsafePath as err:
        raise _refused(folder, root, str(err)) from err
    try:
        if os.geteuid() != 0:
            return WorkFolder(folder=folder, source=folder, staged=False)
        staging.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(staging, 0o700)
        point = staging / secrets.token_hex(8)
        point.mkdir(mode=0o700)
        try:
            # The descriptor, not the path: the mount is of the folder that was checked.
            _mount("mount", "--bind", f"/proc/self/fd/{fd}", str(point), fd=fd)
            _mount("mount", "-o", "remount,bind,ro,nosuid,nodev", str(point))
        except KernelStartError:
            with contextlib.suppress(OSError):
                subprocess.run(["umount", "-l", str(point)], capture_output=True)
                point.rmdir()
            raise
        return WorkFolder(folder=folder, source=point, staged=True)
    finally:
        os.close(fd)


def release_work_folder(work: WorkFolder) -> None:
    """Undo :func:`work_folder_for` once the kernel is gone (its container removed)."""
    if not work.staged:
        return
    subprocess.run(["umount", "-l", str(work.source)], capture_output=True)
    # Only an empty mount point is left; never walk into a folder still mounted.
    with contextlib.suppress(OSError):
        if not os.path.ismount(work.source):
            work.source.rmdir()


#: A notebook larger than this is not read for its opt-in (its outputs can be huge).
_MAX_NOTEBOOK = 64 << 20


def notebook_asks_for_work(notebook: str, *, root: Path) -> bool:
    """Whether the notebook a kernel starts for opted in to /work (``"stardock": {"work": true}``
    in its metadata, which the StarDock panel writes).

    Read the same careful way as the folder: below ``root``, no link on the way or
    at the file, at most 64 MiB. Anything unreadable is no opt-in.
    """
    path = Path(notebook if os.path.isabs(notebook) else os.path.join(root, notebook))
    path = Path(os.path.abspath(path))
    if path.suffix != ".ipynb" or not path.is_relative_to(os.path.abspath(root)):
        return False
    try:
        folder = open_dir(path.parent, trusted=root)
    except (UnsafePath, OSError):
        return False
    try:
        fd = os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
    except OSError:
        return False
    finally:
        os.close(folder)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return False
        data = f.read(_MAX_NOTEBOOK + 1)
    if len(data) > _MAX_NOTEBOOK:
        return False
    try:
        metadata = json.loads(data).get("metadata") or {}
    except (ValueError, AttributeError):
        return False
    stardock = metadata.get("stardock") if isinstance(metadata, dict) else None
    return isinstance(stardock, dict) and stardock.get("work") is True


def wants_work(
    *, always: bool, per_notebook: bool, notebook: str | None, root: Callable[[], Path]
) -> bool:
    """The operator mounts every notebook's folder, or lets this notebook opt in."""
    if always:
        return True
    return bool(notebook and per_notebook and notebook_asks_for_work(notebook, root=root()))
