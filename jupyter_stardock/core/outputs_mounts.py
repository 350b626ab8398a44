"""Mount options and a size limit for kernels' outputs folders, when the server is root.

The engine's bind mounts carry no ``nosuid``/``nodev``, but a bind mount keeps
the flags of the mount it copies. So before the container starts, the outputs
folder becomes a mount point of its own: bound onto itself and remounted
``nosuid,nodev`` (the kernel's ``/outputs`` then shows both flags). With a quota
the folder is instead a small ext4 file system in an image file of that size,
so a runaway write gets "No space left on device" in the kernel while
everything written before stays. When the kernel has stopped (and its outputs
are archived) the files are copied back into a plain folder and the image is
removed, so the outputs are kept like any other.

A server that is not root cannot mount; its kernels run as its own uid, so
there a setuid file or a device node in /outputs grants nothing.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from pathlib import Path

from ..errors import OutputsQuotaError

__all__ = ["OutputsQuotaError", "parse_size", "protect_outputs", "release_outputs"]

log = logging.getLogger(__name__)

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
#: ext4 needs room for its own metadata; smaller quotas are refused with a sentence.
MIN_QUOTA = 8 << 20


def parse_size(text: str) -> int:
    """'2g', '512M', '1.5GiB' or a number of bytes."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise OutputsQuotaError(
            f"The outputs quota {text!r} is not a size; write it like '2g' or '512m'."
        )
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise OutputsQuotaError(
            f"`{' '.join(argv)}` failed: {(done.stderr or done.stdout).strip()[-300:]}"
        )


def is_mount_point(folder: Path) -> bool:
    """Whether ``folder`` is a mount point (a bind of a folder onto itself included).

    ``os.path.ismount`` compares devices, so it misses a bind mount within
    one file system; the kernel's own mount table does not.
    """
    target = os.path.abspath(folder)
    with open("/proc/self/mountinfo", encoding="utf-8") as table:
        for line in table:
            point = line.split(" ", 5)[4]
            if _unescape(point) == target:
                return True
    return False


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _unmount_all(folder: Path) -> None:
    while is_mount_point(folder):
        _run("umount", str(folder))


def _image(images: Path, folder: Path) -> Path:
    return images / f"{folder.name}.img"


def protect_outputs(
    folder: Path, *, images: Path, quota_bytes: int | None, uid: int, gid: int
) -> None:
    """Make ``folder`` a nosuid,nodev mount point, of ``quota_bytes`` when given (root only).

    ``folder`` was just made by the server with a fresh random name in a
    folder only the server can change (outputs.make_outputs_dir), so mount(8)
    is given no path a kernel or a user could have replaced.
    """
    if os.geteuid() != 0 or is_mount_point(folder):
        return  # not root, or a restart of a kernel whose folder is set up already
    if quota_bytes is None:
        _run("mount", "--bind", str(folder), str(folder))
        _run("mount", "-o", "remount,bind,nosuid,nodev", str(folder))
        return
    if quota_bytes < MIN_QUOTA:
        raise OutputsQuotaError(
            f"The outputs quota must be at least {MIN_QUOTA >> 20} MiB "
            "(c.StarDockProvisioner.outputs_quota)."
        )
    images.mkdir(mode=0o700, parents=True, exist_ok=True)
    image = _image(images, folder)
    fd = os.open(image, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.ftruncate(fd, quota_bytes)  # sparse: costs only what is written
    finally:
        os.close(fd)
    try:
        _run("mkfs.ext4", "-q", "-F", "-m", "0", "-E", f"root_owner={uid}:{gid}", str(image))
        _run("mount", "-o", "loop,nosuid,nodev", str(image), str(folder))
    except OutputsQuotaError:
        image.unlink(missing_ok=True)
        raise
    os.rmdir(folder / "lost+found")
    os.chmod(folder, 0o700)


def release_outputs(folder: Path, *, images: Path) -> None:
    """After the kernel: the folder becomes a plain folder again, with every file kept."""
    if os.geteuid() != 0:
        return
    image = _image(images, folder)
    _unmount_all(folder)
    if not image.exists():
        return
    staging = images / f"{folder.name}.mnt"
    staging.mkdir(mode=0o700, exist_ok=True)
    _run("mount", "-o", "loop,ro,nosuid,nodev", str(image), str(staging))
    try:
        # Owners, modes and links as the kernel left them; nothing is followed.
        _run("cp", "-a", "--no-dereference", f"{staging}/.", f"{folder}/")
    finally:
        _run("umount", str(staging))
        staging.rmdir()
    image.unlink()
    log.info("StarDock: copied the outputs of %s out of their quota image", folder)
