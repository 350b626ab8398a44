"""File operations in folders that someone else (a kernel, another user) can write.

The server acts on files beside its kernels: their outputs folders, their ipc
folders, users' homes in a hub. A kernel or a user can replace any entry of a
folder they can write with a symlink or a hard link between the server's check
and its use, and the server (root in a hub) would then act on the link's
target. So every such operation here works on file descriptors: a trusted
folder (one the operator named, resolved once) is opened, every component
below it is opened with ``O_NOFOLLOW`` relative to its parent's descriptor,
and what is changed (mode, owner, content) is changed through the descriptor
that was opened, never through a path again.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import UnsafePath

__all__ = [
    "UnsafePath",
    "copy_file",
    "ensure_owned_dir",
    "make_unique_dir",
    "open_dir",
    "read_file",
    "read_files",
    "remove_tree",
    "write_private_file",
]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _component_error(path: Path, err: OSError) -> UnsafePath:
    if err.errno in (errno.ELOOP, errno.ENOTDIR):
        return UnsafePath(
            f"{path} is a symlink or not a folder; StarDock does not follow links in folders "
            "that kernels or other users can change. Remove it and try again."
        )
    return UnsafePath(f"{path} cannot be opened: {err.strerror}.")


def open_dir(
    path: Path,
    *,
    trusted: Path,
    create: bool = False,
    mode: int = 0o700,
    uid: int | None = None,
    gid: int | None = None,
) -> int:
    """A descriptor of ``path``, opened component by component below ``trusted``.

    ``trusted`` is a folder only the server and the operator can change (its
    real path is resolved once); every component of ``path`` below it must be
    a real folder (no symlinks). Missing ones are made when ``create`` is set,
    with ``mode`` and, when given, owner ``uid``/``gid``. The caller closes the
    descriptor.
    """
    base = Path(os.path.realpath(trusted))
    target = Path(os.path.abspath(path))
    for start in (Path(os.path.abspath(trusted)), base):
        if target.is_relative_to(start):
            rel = target.relative_to(start)
            break
    else:
        raise UnsafePath(f"{path} is not inside {trusted}.")
    if create:
        base.mkdir(parents=True, exist_ok=True, mode=mode)
    fd = os.open(base, _DIR_FLAGS)
    current = base
    try:
        for part in rel.parts:
            current = current / part
            if create:
                try:
                    os.mkdir(part, mode, dir_fd=fd)
                except FileExistsError:
                    pass
                else:
                    if uid is not None:
                        os.chown(
                            part,
                            uid,
                            gid if gid is not None else -1,
                            dir_fd=fd,
                            follow_symlinks=False,
                        )
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as err:
                raise _component_error(current, err) from err
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def ensure_owned_dir(path: Path, *, mode: int, uid: int | None = None) -> None:
    """Make ``path`` (a folder of the server's own, e.g. /run/stardock-kernels) or check it.

    It must be a real folder owned by ``uid`` (default: this process's); a
    symlink or someone else's folder at that name is refused, not used. Its
    mode is set through the descriptor.
    """
    owner = os.geteuid() if uid is None else uid
    Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, mode)
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError as err:
        raise _component_error(path, err) from err
    try:
        info = os.fstat(fd)
        if info.st_uid != owner:
            raise UnsafePath(
                f"{path} belongs to uid {info.st_uid}, not to this server (uid {owner}); "
                "someone else made it. Remove it, or point StarDock at another folder."
            )
        if stat.S_IMODE(info.st_mode) != mode:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)


def make_unique_dir(
    parent_fd: int, prefix: str, *, mode: int = 0o700, uid: int = -1, gid: int = -1
) -> str:
    """Make a new folder with a random part in its name in ``parent_fd``; returns its name.

    Never reuses an existing entry: a name that exists (planted or not) is
    skipped for another random one. The owner is set on the new folder's own
    descriptor, so a swap after ``mkdir`` cannot redirect the chown.
    """
    for _ in range(20):
        name = f"{prefix}{secrets.token_hex(6)}"
        try:
            os.mkdir(name, mode, dir_fd=parent_fd)
        except FileExistsError:
            continue
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        try:
            if uid != -1 or gid != -1:
                os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        return name
    raise UnsafePath("Could not make a new folder with a fresh name; try again.")


def _new_file(dir_fd: int, name: str) -> tuple[str, int]:
    """A fresh temporary file beside ``name`` (never an existing entry), for a rename into place."""
    tmp = f".{name}.{secrets.token_hex(4)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    return tmp, os.open(tmp, flags, 0o600, dir_fd=dir_fd)


def write_private_file(
    dir_fd: int, name: str, data: bytes, *, mode: int = 0o600, uid: int = -1, gid: int = -1
) -> None:
    """Replace ``name`` in ``dir_fd`` atomically with ``data``, never through a link."""
    tmp, fd = _new_file(dir_fd, name)
    try:
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(data)
        if uid != -1 or gid != -1:
            os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def remove_tree(path: Path) -> None:
    """Remove a folder a kernel could write; symlinks inside are removed, never followed."""
    # shutil.rmtree works on descriptors on Linux (rmtree.avoids_symlink_attacks).
    import shutil

    assert shutil.rmtree.avoids_symlink_attacks
    with contextlib.suppress(FileNotFoundError):
        if os.path.islink(path):
            os.unlink(path)
        else:
            shutil.rmtree(path)


@dataclass(frozen=True)
class FoundFile:
    """A regular file below a folder, opened without following links."""

    relative: str
    fd: int
    size: int
    mtime: float
    mode: int


def read_files(root: Path, *, owners: set[int] | None = None) -> Iterator[FoundFile]:
    """Regular files below ``root``, sorted, each yielded open (closed after the yield).

    Symlinks are skipped wherever they are (a kernel plants them to make the
    server read host files); so are files whose owner is not in ``owners``,
    when given (a hard link to someone else's file keeps that owner). Files
    are opened with ``O_NOFOLLOW`` relative to their folder's descriptor and
    checked with ``fstat`` on what was opened.
    """
    try:
        top = os.open(root, _DIR_FLAGS)
    except OSError:
        return
    try:
        yield from _read_below(top, "", owners)
    finally:
        os.close(top)


def _read_below(dir_fd: int, prefix: str, owners: set[int] | None) -> Iterator[FoundFile]:
    try:
        names = sorted(os.listdir(dir_fd))
    except OSError:
        return
    for name in names:
        rel = f"{prefix}{name}"
        try:
            fd = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd
            )
        except OSError:
            continue  # a symlink (ELOOP), a socket, gone, or unreadable
        try:
            info = os.fstat(fd)
            if owners is not None and info.st_uid not in owners:
                continue
            if stat.S_ISDIR(info.st_mode):
                yield from _read_below(fd, f"{rel}/", owners)
            elif stat.S_ISREG(info.st_mode):
                os.set_blocking(fd, True)
                yield FoundFile(rel, fd, info.st_size, info.st_mtime, stat.S_IMODE(info.st_mode))
        finally:
            os.close(fd)


# -- issue 17: one file a kernel wrote (a suspend's manifest and variables), never through a link


def _open_regular(dir_fd: int, name: str, owners: set[int] | None) -> tuple[int, int]:
    """A descriptor and size of the regular file ``name`` in ``dir_fd``; a link or other kind is refused."""
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd
        )
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UnsafePath(
                f"{name} is a symlink; StarDock does not follow links that a kernel can plant."
            ) from err
        raise UnsafePath(f"{name} cannot be opened: {err.strerror}.") from err
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or (owners is not None and info.st_uid not in owners):
        os.close(fd)
        raise UnsafePath(
            f"{name} is not a plain file of the kernel's own; StarDock does not read it."
        )
    os.set_blocking(fd, True)
    return fd, info.st_size


def read_file(dir_fd: int, name: str, *, max_bytes: int, owners: set[int] | None = None) -> bytes:
    """The bytes of the regular file ``name`` in ``dir_fd`` (at most ``max_bytes``, else refused)."""
    fd, size = _open_regular(dir_fd, name, owners)
    try:
        if size > max_bytes:
            raise UnsafePath(
                f"{name} is {size:,} bytes, more than the {max_bytes:,} StarDock reads."
            )
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise UnsafePath(f"{name} grew past the {max_bytes:,} bytes StarDock reads.")
    return data


def copy_file(
    src_dir_fd: int,
    name: str,
    dst_dir_fd: int,
    *,
    owners: set[int] | None = None,
    mode: int = 0o600,
    uid: int = -1,
    gid: int = -1,
) -> int:
    """Copy the regular file ``name`` between two folders' descriptors, as is; returns its size.

    The bytes are never interpreted; the copy is made under a fresh name and
    renamed into place, so a link planted at ``name`` in the target is replaced,
    never written through.
    """
    src, _ = _open_regular(src_dir_fd, name, owners)
    try:
        tmp, dst = _new_file(dst_dir_fd, name)
        try:
            copied = 0
            while chunk := os.read(src, 1 << 20):
                os.write(dst, chunk)
                copied += len(chunk)
            if uid != -1 or gid != -1:
                os.fchown(dst, uid, gid)
            os.fchmod(dst, mode)
        finally:
            os.close(dst)
    finally:
        os.close(src)
    os.replace(tmp, name, src_dir_fd=dst_dir_fd, dst_dir_fd=dst_dir_fd)
    return copied
