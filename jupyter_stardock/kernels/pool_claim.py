"""A warm pool slot's folders and its claim record: what turns a slot into one kernel's.

A slot is made before anyone asks for it, so its outputs folder cannot carry the
kernel's name yet: it is made hidden (``.stardock-slot-<random>``) beside the
kernels' outputs folders and renamed at the claim, in the same parent, to the
name a cold start gives (``<time>_<dataset>_<the same random part>``). The
engine's bind mount follows the renamed folder (it holds the directory, not the
path). The runtime folder keeps its random name; a claim record written there
(only the server can change that folder) ties the slot's container to the
kernel id, because a running container's labels cannot change.

Every step works on descriptors of a parent only the server can change (safefs):
the kernel can plant links in the folders it shares (its outputs and ipc
folders), never in their parents; the rename refuses to replace anything at its
target, and what is renamed is checked to be the folder the slot was made with.

Everything here blocks (file system calls): callers run it off the event loop.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..core import safefs
from ..core.outputs import outputs_folder_prefix
from ..core.outputs_mounts import protect_outputs, release_outputs
from ..errors import StarDockError, UnsafePath
from ..labels import KERNEL, KernelLabels
from .launch import container_name
from .runtime import runtime_root

__all__ = [
    "CLAIM_RECORD",
    "SLOT_PREFIX",
    "ClaimRecord",
    "as_kernel_container",
    "claim_outputs",
    "claimed_labels",
    "make_slot_outputs",
    "read_claim",
    "remove_slot_outputs",
    "rename_slot_outputs",
    "write_claim",
]

SLOT_PREFIX = ".stardock-slot-"
CLAIM_RECORD = "claim.json"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_RENAME_NOREPLACE = 1
POOL_LABEL = f"{KERNEL}.pool"
_KERNEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class ClaimRecord:
    """Which kernel took a slot, as the server wrote it at the claim."""

    kernel_id: str
    client_id: str
    outputs: str
    started: float
    spec: str
    name: str
    #: Hub service: the link in the user's home to the renamed outputs folder ("" for none).
    outputs_view: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _chown_ids(uid: int, gid: int) -> tuple[int, int]:
    # As make_outputs_dir: a root server hands the folder to the kernel's unprivileged uid.
    chown = os.geteuid() == 0 and (uid, gid) != (0, 0)
    return (uid, gid) if chown else (-1, -1)


def make_slot_outputs(parent: Path, *, trusted: Path, uid: int, gid: int) -> tuple[Path, int]:
    """A hidden, fresh outputs folder for a slot below ``parent``; its path and inode."""
    fd = safefs.open_dir(parent, trusted=trusted, create=True, mode=0o711)
    try:
        owner_uid, owner_gid = _chown_ids(uid, gid)
        name = safefs.make_unique_dir(fd, SLOT_PREFIX, mode=0o700, uid=owner_uid, gid=owner_gid)
        inode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_ino
    finally:
        os.close(fd)
    return parent / name, inode


def _renameat_noreplace(fd: int, old: str, new: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.renameat2(fd, old.encode(), fd, new.encode(), _RENAME_NOREPLACE)
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), new)


def rename_slot_outputs(
    slot: Path, *, inode: int, trusted: Path, dataset: str | None, started: float
) -> Path:
    """Rename a slot's outputs folder to a kernel's name, in the same parent; the new path.

    The random part of the slot's name is kept, so the name stays unpredictable;
    a name that exists (planted or not) is never replaced.
    """
    if not slot.name.startswith(SLOT_PREFIX):
        raise UnsafePath(f"{slot} is not a warm pool slot's folder.")
    random_part = slot.name[len(SLOT_PREFIX) :]
    new_name = f"{outputs_folder_prefix(dataset, started)}{random_part}"
    fd = safefs.open_dir(slot.parent, trusted=trusted)
    try:
        try:
            child = os.open(slot.name, _DIR_FLAGS, dir_fd=fd)
        except OSError as err:
            raise UnsafePath(f"The slot's folder {slot} is gone or not a folder.") from err
        try:
            info = os.fstat(child)
        finally:
            os.close(child)
        if info.st_ino != inode or not stat.S_ISDIR(info.st_mode):
            raise UnsafePath(f"The slot's folder {slot} is not the one the pool made.")
        try:
            _renameat_noreplace(fd, slot.name, new_name)
        except OSError as err:
            if err.errno == errno.EEXIST:
                raise UnsafePath(f"{slot.parent / new_name} exists already.") from err
            raise
    finally:
        os.close(fd)
    return slot.parent / new_name


def claim_outputs(
    slot: Path,
    *,
    inode: int,
    trusted: Path,
    dataset: str | None,
    started: float,
    images: Path,
    uid: int,
    gid: int,
) -> Path:
    """The slot's outputs folder renamed for its kernel, mounted as a cold start's is.

    A root server made the folder a nosuid,nodev mount point of its own before
    the slot's container started (outputs_mounts), and a mount point cannot be
    renamed: the host's mount goes first (the container keeps its own copy,
    private to its mount namespace), the plain folder is renamed, and the new
    name becomes such a mount point again, for the kernel's restarts.
    """
    release_outputs(slot, images=images)
    outputs = rename_slot_outputs(
        slot, inode=inode, trusted=trusted, dataset=dataset, started=started
    )
    protect_outputs(outputs, images=images, quota_bytes=None, uid=uid, gid=gid)
    return outputs


def remove_slot_outputs(path: Path, *, uid: int, images: Path) -> None:
    """Remove an unclaimed slot's outputs folder if it is one, empty and the kernel's uid's.

    Only an empty folder goes (rmdir): a slot never ran user code, so anything
    in it is not the pool's to delete, and rmdir never follows a link.
    """
    if not path.name.startswith(SLOT_PREFIX):
        return
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode) or info.st_uid not in (uid, os.geteuid()):
        return
    try:
        release_outputs(path, images=images)
        os.rmdir(path)
    except (OSError, StarDockError):
        pass  # not empty, gone, or still mounted: left as it is


def write_claim(runtime_dir: Path, record: ClaimRecord) -> None:
    """The claim record, in the slot's runtime folder (the server's alone; read-only in the kernel)."""
    fd = safefs.open_dir(runtime_dir, trusted=runtime_dir.parent)
    try:
        safefs.write_private_file(fd, CLAIM_RECORD, json.dumps(record.to_json()).encode())
    finally:
        os.close(fd)


def read_claim(runtime_dir: Path) -> ClaimRecord | None:
    """The claim record in a runtime folder, read without following a link; None if none."""
    try:
        fd = os.open(runtime_dir / CLAIM_RECORD, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd) as f:
            data = json.load(f)
        return ClaimRecord(
            kernel_id=str(data["kernel_id"]),
            client_id=str(data.get("client_id") or data["kernel_id"]),
            outputs=str(data["outputs"]),
            started=float(data["started"]),
            spec=str(data.get("spec") or ""),
            name=str(data.get("name") or ""),
            outputs_view=str(data.get("outputs_view") or ""),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _named_kernel(names: Any) -> str | None:
    """The kernel id in a container's name (the server renames a slot at the claim)."""
    prefix = container_name("")
    for name in names or ():
        name = str(name).lstrip("/")
        if name.startswith(prefix):
            return name[len(prefix) :]
    return None


def claimed_labels(
    kernel: KernelLabels, names: Any, state: Path
) -> tuple[KernelLabels | None, bool]:
    """What a pool slot's container is now: (its labels as a kernel's, whether it was claimed).

    An unclaimed slot answers (None, False): it is nobody's kernel. A claimed one
    answers its labels with the kernel's id, outputs, start time and kernelspec.
    The kernel id comes from the container's name (the server's rename), the rest
    from the claim record, each checked: the outputs must be the slot's own folder
    renamed (same parent, same random part), never a path the record chose.
    Ownership (owner, server, uid) stays what the labels say.
    """
    if not kernel.pool:
        return kernel, False
    runtime = Path(kernel.runtime or "/nonexistent")
    record = read_claim(runtime) if runtime.parent == runtime_root(state) else None
    named = _named_kernel(names)
    if record is None or named is None or named == kernel.kernel_id:
        return None, False
    if not _KERNEL_ID.fullmatch(named):
        return None, False
    slot = Path(kernel.outputs)
    outputs = Path(record.outputs)
    random_part = slot.name[len(SLOT_PREFIX) :]
    if (
        outputs.parent != slot.parent
        or not random_part
        or not outputs.name.endswith(random_part)
        or outputs.name.startswith(".")
    ):
        outputs = slot
    client_id = record.client_id if record.kernel_id == named else named
    # Shown relative to the owner's home only: a link named as the renamed folder.
    view = record.outputs_view if outputs != slot else ""
    if view and (Path(view).name != outputs.name or not Path(view).is_absolute()):
        view = ""
    effective = replace(
        kernel,
        kernel_id=named,
        client_id=client_id if _KERNEL_ID.fullmatch(client_id) else named,
        outputs=str(outputs),
        outputs_view=view if outputs != slot else kernel.outputs_view,
        started=record.started,
        spec=record.spec if record.spec.startswith("stardock-") else kernel.spec,
        name=record.name or kernel.name,
        pool="",
    )
    return effective, True


def as_kernel_container(summary: Mapping[str, Any], state: Path) -> Mapping[str, Any] | None:
    """A ``containers_sync`` entry as a kernel's: None for an unclaimed slot, relabelled if claimed."""
    kernel = KernelLabels.from_labels(summary.get("Labels"))
    if kernel is None or not kernel.pool:
        return summary
    effective, _ = claimed_labels(kernel, summary.get("Names"), state)
    if effective is None:
        return None
    kept = {k: v for k, v in dict(summary.get("Labels") or {}).items() if k != POOL_LABEL}
    return {**summary, "Labels": {**kept, **effective.to_labels()}}
