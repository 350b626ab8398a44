"""The folders a kernel is connected through: the server-only runtime folder and the ipc folder.

The kernel can change anything in a folder it can write, so the server writes
nothing there. The connection file (the key) is written in a folder only the
server can change and mounted read-only at /run/stardock; the ipc sockets go
in a folder with a random name, made anew at each start, which the server only
ever removes (see safefs). Where these folders may be is decided here once:
a path read back from a container's labels is used only if it is one of them.

Everything here blocks (file system calls): callers run it off the event loop.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_runtime_dir

from ..core import safefs
from ..errors import KernelStartError
from ..labels import KernelLabels
from .launch import CONNECTION_FILE, IPC_FOLDER, KernelLaunch

__all__ = [
    "connection_info",
    "connection_key",
    "drop_labelled_folders",
    "drop_runtime",
    "folders_are_ours",
    "ipc_parent",
    "prepare_runtime",
    "quota_images",
    "runtime_root",
    "server_is_root",
]


def server_is_root() -> bool:
    """A root server hands the kernel's files to the kernel's uid; any other cannot."""
    return os.geteuid() == 0


def runtime_root(state: Path) -> Path:
    """Where kernels' runtime folders go in the server's state folder (the server's alone)."""
    return state / "runtime"


def quota_images(state: Path) -> Path:
    """Where the file systems of size-limited outputs folders go (outputs_mounts)."""
    return state / "quota-images"


def ipc_parent() -> Path:
    """Where kernels' ipc socket folders go: short (socket paths are limited to ~107 bytes),
    the server's own, and passable for a Hub user whose server connects to their kernel."""
    if server_is_root():
        return Path("/run/stardock-kernels")
    runtime = Path(jupyter_runtime_dir()) / "stardock-ipc"
    if len(str(runtime)) <= 70:
        return runtime
    return Path("/tmp") / f"stardock-kernels-{os.getuid()}"


def _ours_runtime(kernel: KernelLabels, state: Path) -> Path | None:
    runtime = Path(kernel.runtime or "/nonexistent")
    return runtime if runtime.parent == runtime_root(state) else None


def _ours_ipc(kernel: KernelLabels) -> Path | None:
    return Path(kernel.ipc) if kernel.ipc and Path(kernel.ipc).parent == ipc_parent() else None


def folders_are_ours(kernel: KernelLabels, state: Path) -> bool:
    """Whether a container's labelled runtime and ipc folders are where this server makes them.

    The labels are the container's word, and the container may be anyone's:
    a folder elsewhere is never read or removed on its say.
    """
    if _ours_runtime(kernel, state) is None:
        return False
    return not kernel.ipc or _ours_ipc(kernel) is not None


def drop_labelled_folders(kernel: KernelLabels, state: Path) -> None:
    """Remove a container's runtime and ipc folders, each only where this server makes such."""
    drop_runtime(_ours_runtime(kernel, state), _ours_ipc(kernel))


def connection_key(runtime_dir: Path) -> str | None:
    """The key in a runtime folder's connection file, read without following a link."""
    try:
        fd = os.open(runtime_dir / CONNECTION_FILE, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd) as f:
            return str(json.load(f)["key"])
    except (OSError, ValueError, KeyError):
        return None


def connection_info(
    *,
    transport: str,
    ip: str,
    ports: Mapping[str, int],
    key: str | bytes,
    kernel_name: str,
    curve: tuple[str, str] | None,
) -> dict[str, Any]:
    """One side's connection info: the kernel's file (key as text) or the host's (bytes)."""
    info: dict[str, Any] = {
        "transport": transport,
        "ip": ip,
        "key": key,
        "signature_scheme": "hmac-sha256",
        "kernel_name": kernel_name,
        **ports,
    }
    if curve is not None:
        # jupyter_client's model: one keypair per kernel, in the connection file of
        # both ends; the kernel's sockets are CURVE servers with it.
        info["curve_publickey"], info["curve_secretkey"] = curve
    return info


def _kernel_ids(launch: KernelLaunch) -> tuple[int, int]:
    """Whom the kernel's files are chowned to: -1 (unchanged) when the server cannot chown."""
    return (launch.uid, launch.gid) if server_is_root() else (-1, -1)


def prepare_runtime(
    launch: KernelLaunch, connection: Mapping[str, Any], ipc_dir: Path | None, *, ipc: bool
) -> Path | None:
    """The connection file (server-only folder) and, for ``ipc``, a fresh socket folder.

    Returns this start's ipc folder (``ipc_dir`` is the last start's, if any).
    """
    k = launch
    uid, gid = _kernel_ids(k)
    parent = k.runtime_dir.parent
    safefs.ensure_owned_dir(parent, mode=0o700)
    fd = safefs.open_dir(k.runtime_dir, trusted=parent, create=True, mode=0o711)
    try:
        # 0711: inside the container this folder is /run/stardock and the kernel's
        # uid must pass through it; on the host its parent is the server's alone.
        os.fchmod(fd, 0o711)
        with contextlib.suppress(FileExistsError):
            os.mkdir(IPC_FOLDER, 0o755, dir_fd=fd)  # the mount point of the socket folder
        safefs.write_private_file(
            fd,
            CONNECTION_FILE,
            json.dumps(dict(connection)).encode(),
            mode=0o400,
            uid=uid,
            gid=gid,
        )
    finally:
        os.close(fd)
    if not ipc:
        return ipc_dir
    return _fresh_ipc_dir(k.ipc_parent, ipc_dir, uid, gid)


def _fresh_ipc_dir(parent: Path | None, ipc_dir: Path | None, uid: int, gid: int) -> Path:
    """An empty socket folder, at the same path at every start of this kernel.

    The path stays (jupyter_server reconnects to a restarted kernel by
    address), the folder does not: what the kernel left or planted in the
    last one is moved aside and removed unread, and a new folder is made.
    Both happen in ipc_parent, which only the server can change.
    """
    if parent is None:
        raise KernelStartError("No folder is set up for the kernel's ipc sockets.")
    safefs.ensure_owned_dir(parent, mode=0o711)
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        if ipc_dir is None:
            # The kernel creates its sockets here: the folder is its uid's, and only
            # its uid (the Hub user, whose server connects) may enter it.
            return parent / safefs.make_unique_dir(fd, "", mode=0o700, uid=uid, gid=gid)
        name = ipc_dir.name
        old = f".old-{secrets.token_hex(6)}"
        with contextlib.suppress(FileNotFoundError):
            os.rename(name, old, src_dir_fd=fd, dst_dir_fd=fd)
        safefs.remove_tree(parent / old)
        os.mkdir(name, 0o700, dir_fd=fd)
        new = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        try:
            if uid != -1:
                os.fchown(new, uid, gid)
            os.fchmod(new, 0o700)
        finally:
            os.close(new)
        return ipc_dir
    finally:
        os.close(fd)


def drop_runtime(runtime_dir: Path | None, ipc_dir: Path | None) -> None:
    """Remove the connection file's folder and the ipc folder (either may be None)."""
    if ipc_dir is not None:
        safefs.remove_tree(ipc_dir)
    if runtime_dir is not None:
        safefs.remove_tree(runtime_dir)
