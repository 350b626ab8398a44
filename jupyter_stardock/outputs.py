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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ArchiveStore", "checksum_listing", "make_outputs_dir"]

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def make_outputs_dir(
    parent: Path, kernel_id: str, dataset: str | None, started: float, uid: int, gid: int
) -> Path:
    """A fresh folder for one kernel, writable by the kernel's uid (blocking)."""
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.localtime(started))
    name = f"{stamp}_{_SAFE.sub('-', dataset or 'no-dataset')}_{kernel_id[:8]}"
    folder = parent / name
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and (uid, gid) != (0, 0):
        # The server runs as root (containers, test machines); the kernel never
        # does, so its folder is handed to the kernel's unprivileged uid.
        os.chown(folder, uid, gid)
    return folder


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
            "id": self.kernel_id,
            "size": self.path.stat().st_size if self.path.exists() else 0,
            "manifest": dict(self.manifest),
        }


class ArchiveStore:
    """``<state_dir>/archives``: one ``<kernel id>.tar.gz`` and ``<kernel id>.json`` per kernel."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, kernel_id: str) -> Path:
        return self.folder / f"{_SAFE.sub('-', kernel_id)}.tar.gz"

    def create(self, kernel_id: str, outputs: Path, manifest: Mapping[str, Any]) -> Archive:
        """Pack the outputs folder with the manifest (blocking). Written atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(kernel_id)
        tmp = target.with_suffix(".tmp")
        manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
        with tarfile.open(tmp, "w:gz") as tar:
            info = tarfile.TarInfo("manifest.json")
            info.size = len(manifest_bytes)
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(manifest_bytes))
            if outputs.is_dir():
                for path in _walk(outputs):
                    rel = path.relative_to(outputs.resolve()).as_posix()
                    tar.add(path, arcname=f"outputs/{rel}", recursive=False)
        os.replace(tmp, target)
        (self.folder / f"{_SAFE.sub('-', kernel_id)}.json").write_text(
            json.dumps(manifest, sort_keys=True)
        )
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
