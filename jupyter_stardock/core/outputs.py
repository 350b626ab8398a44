"""A kernel's outputs folder and the archive made of it when the kernel stops.

The folder lives under the server's root directory (so it shows in the file
browser) and is kept. At shutdown its content is packed into a tar.gz with a
``manifest.json``: the recipe, the exact Dockerfile, the image id, the dataset
id with a checksum listing of what was mounted (a sample of it for huge
datasets), start and stop times, and the container's last log lines.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import safefs

__all__ = ["ArchiveStore", "checksum_listing", "make_outputs_dir", "outputs_folder_prefix"]

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def outputs_folder_prefix(dataset: str | None, started: float) -> str:
    """The readable part of an outputs folder's name; a random part follows it."""
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.localtime(started))
    return f"{stamp}_{_SAFE.sub('-', dataset or 'no-dataset')}_"


def make_outputs_dir(
    parent: Path,
    *,
    trusted: Path,
    dataset: str | None,
    started: float,
    uid: int,
    gid: int,
) -> Path:
    """A fresh folder for one kernel below ``parent``, owned by the kernel's uid (blocking).

    Its name ends in a random part and is never an entry that existed before,
    so nobody can predict it or plant a link at it; ``parent`` is opened
    component by component below ``trusted`` without following links (see
    safefs). The folder is 0700: only the kernel's uid (and root) reads it.
    """
    chown = os.geteuid() == 0 and (uid, gid) != (0, 0)
    # The parents are the server's own: others may pass through to a folder whose
    # name they know, never list them.
    fd = safefs.open_dir(parent, trusted=trusted, create=True, mode=0o711)
    try:
        # The server runs as root (a hub service, containers, test machines); the
        # kernel never does, so its folder is handed to the kernel's unprivileged uid.
        name = safefs.make_unique_dir(
            fd,
            outputs_folder_prefix(dataset, started),
            mode=0o700,
            uid=uid if chown else -1,
            gid=gid if chown else -1,
        )
    finally:
        os.close(fd)
    return parent / name


def link_outputs(target: Path, view: Path, *, trusted: Path, uid: int, gid: int) -> Path:
    """Hub service: a link named like ``target`` in the user's ``view`` folder (blocking).

    ``view`` is in the user's home, which the user controls: it is opened below
    ``trusted`` without following links, must be the user's own, and the link
    is made in the folder that was opened (a swap after the check changes
    nothing). The link belongs to the user, so they may remove it; the outputs
    stay in the service's store.
    """
    fd = safefs.open_dir(view, trusted=trusted, create=True, mode=0o700, uid=uid, gid=gid)
    try:
        owner = os.fstat(fd).st_uid
        if owner not in (uid, 0):
            raise safefs.UnsafePath(
                f"{view} belongs to uid {owner}, not to the kernel's user; StarDock will not "
                "put links to your outputs there. Remove it and start the kernel again."
            )
        if os.geteuid() == 0:
            # The folder is the user's alone, also one an older version made as root 0755:
            # its names tell others when and on what the user worked.
            os.fchown(fd, uid, gid)
            os.fchmod(fd, 0o700)
        os.symlink(target, target.name, dir_fd=fd)
        os.chown(target.name, uid, gid, dir_fd=fd, follow_symlinks=False)
    finally:
        os.close(fd)
    return view / target.name


def _walk(root: Path) -> Iterator[Path]:
    """Regular files below root, sorted, never following symlinks out of it."""
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(real_root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink():
                try:
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError):
                    continue
                if not target.is_relative_to(real_root) or not target.is_file():
                    continue
            elif not path.is_file():
                continue
            yield path


def checksum_listing(
    root: Path, *, max_files: int = 10_000, max_bytes: int = 2 << 30
) -> dict[str, Any]:
    """sha256 of every file, or of a sample when the dataset is too big.

    Every file is listed with its size; checksums stop once ``max_files`` files
    or ``max_bytes`` bytes have been read, and the listing says it is a sample.
    """
    files: list[dict[str, Any]] = []
    read_files = read_bytes = 0
    complete = True
    if not root.is_dir():
        return {
            "root": str(root),
            "files": [],
            "complete": False,
            "problem": "the folder does not exist",
        }
    real_root = root.resolve()
    for path in _walk(root):
        rel = (
            path.relative_to(real_root).as_posix() if path.is_relative_to(real_root) else path.name
        )
        try:
            size = path.stat().st_size
        except OSError:
            continue
        entry: dict[str, Any] = {"path": rel, "size": size}
        if read_files < max_files and read_bytes + size <= max_bytes:
            digest = hashlib.sha256()
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            entry["sha256"] = digest.hexdigest()
            read_files += 1
            read_bytes += size
        else:
            complete = False
        files.append(entry)
    return {
        "root": str(root),
        "files": files,
        "complete": complete,
        "checksummed_bytes": read_bytes,
    }


@dataclass(frozen=True)
class Archive:
    kernel_id: str
    path: Path
    manifest: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            # The id the kernel's owner knew it by (the hub service names files by its own).
            "id": self.manifest.get("kernel_id") or self.kernel_id,
            "size": self.path.stat().st_size if self.path.exists() else 0,
            "manifest": dict(self.manifest),
        }


class ArchiveStore:
    """``<state_dir>/archives``: one ``<kernel id>.tar.gz`` and ``<kernel id>.json`` per kernel."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, kernel_id: str) -> Path:
        return self.folder / f"{_SAFE.sub('-', kernel_id)}.tar.gz"

    def create(
        self,
        kernel_id: str,
        outputs: Path,
        manifest: Mapping[str, Any],
        *,
        owners: set[int] | None = None,
        notebooks: Mapping[str, bytes] | None = None,  # issue 17
    ) -> Archive:
        """Pack the outputs folder with the manifest (blocking). Written atomically, 0600.

        The outputs folder is the kernel's to change: its files are read through
        descriptors, links are never followed, and with ``owners`` a file owned
        by anyone else (a hard link to a host file) is left out.
        """
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.folder, 0o700)
        target = self.path(kernel_id)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            info = tarfile.TarInfo("manifest.json")
            info.size = len(manifest_bytes)
            info.mtime = int(time.time())
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(manifest_bytes))
            for path, content in sorted((notebooks or {}).items()):  # issue 17: as saved
                entry = tarfile.TarInfo(f"notebooks/{path}")
                entry.size, entry.mtime, entry.mode = len(content), int(time.time()), 0o600
                tar.addfile(entry, io.BytesIO(content))
            for found in safefs.read_files(outputs, owners=owners):
                entry = tarfile.TarInfo(f"outputs/{found.relative}")
                entry.size = found.size
                entry.mtime = int(found.mtime)
                entry.mode = found.mode
                with os.fdopen(os.dup(found.fd), "rb") as f:
                    tar.addfile(entry, _Exactly(f, found.size))
        os.replace(tmp, target)
        meta = self.folder / f"{_SAFE.sub('-', kernel_id)}.json"
        meta_tmp = meta.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(meta_tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(manifest, sort_keys=True))
        os.replace(meta_tmp, meta)
        return Archive(kernel_id, target, manifest)

    def exists(self, kernel_id: str) -> bool:
        return self.path(kernel_id).exists()

    def list(self) -> list[Archive]:
        archives: list[Archive] = []
        if not self.folder.is_dir():
            return archives
        for meta in sorted(self.folder.glob("*.json")):
            kernel_id = meta.stem
            try:
                manifest = json.loads(meta.read_text())
            except (OSError, ValueError):
                continue
            if self.path(kernel_id).exists():
                archives.append(Archive(kernel_id, self.path(kernel_id), manifest))
        return sorted(archives, key=lambda a: a.manifest.get("stopped") or 0, reverse=True)

    def get(self, kernel_id: str) -> Archive | None:
        for archive in self.list():
            if archive.kernel_id == kernel_id:
                return archive
        return None

    def find(self, kernel_id: str, may_see: Callable[[Any], bool]) -> Archive | None:
        """The newest archive of the kernel its owner calls ``kernel_id``, if the viewer may see it.

        In the hub service users choose their kernels' ids, so two users' kernels
        may share one; each only ever finds their own.
        """
        for archive in self.list():
            known_as = archive.manifest.get("kernel_id") or archive.kernel_id
            if known_as == kernel_id and may_see(archive.manifest.get("owner")):
                return archive
        return None


class _Exactly(io.RawIOBase):
    """At most ``size`` bytes of a file, padded with zeros if it shrank meanwhile.

    The kernel may still be writing (a file shrunk or grown after the fstat):
    tarfile must get exactly the size its header announced.
    """

    def __init__(self, f: io.BufferedReader, size: int) -> None:
        self._f = f
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: self._left]
        n = self._f.readinto(view) or 0
        if n == 0:
            n = len(view)
            view[:n] = bytes(n)
        self._left -= n
        return n
