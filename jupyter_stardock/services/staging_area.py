"""The staging area on the fast tier: a content store, the datasets made of it, their records.

    <staging_dir>/store/<sha[:2]>/<sha256>   each distinct file once (read-only)
    <staging_dir>/store/.tmp/                downloads under way
    <staging_dir>/datasets/<id>/             a complete dataset: hard links into the store
    <staging_dir>/datasets/.partial-<req>/   a dataset being staged: hidden until renamed
    <staging_dir>/meta/<id>.json             its owner, lineage, size, last use, pin
    <staging_dir>/requests/<req>.json        a request's state, for progress and resume

Several servers may share one area: a dataset is renamed into place in one step,
records are replaced atomically, and a store file goes only when no dataset
links it any more (its link count says so), under a lock file every server takes.
Everything here blocks: the staging service calls it in its own threads.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from ..core.datasets import Dataset
from ..core.staging import MANIFEST_NAME, StagingRequest, manifest_of

__all__ = ["DatasetRecord", "StagingArea"]


@dataclass
class DatasetRecord:
    """A staged dataset's record (meta/<id>.json)."""

    id: str
    title: str
    owner: str
    lineage: str
    request: str
    created: float
    last_used: float
    files: int
    bytes: int
    pinned: bool = False


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


class StagingArea:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = root / "store"
        self.tmp = self.store / ".tmp"
        self.datasets = root / "datasets"
        self.meta = root / "meta"
        self.requests = root / "requests"

    def ensure(self) -> None:
        # A new area is the server's alone: in a hub, other users must not reach a
        # dataset by guessing its path (kernels get theirs by a bind mount).
        # An operator's existing folder keeps the permissions they gave it.
        if not self.root.exists():
            self.root.parent.mkdir(parents=True, exist_ok=True)
            self.root.mkdir(mode=0o700)
        for folder in (self.store, self.tmp, self.datasets, self.meta, self.requests):
            folder.mkdir(mode=0o755, exist_ok=True)

    # -- requests ---------------------------------------------------------

    def save_request(self, request: StagingRequest) -> None:
        _write_json(self.requests / f"{request.id}.json", request.to_json())

    def forget_request(self, request: StagingRequest) -> None:
        (self.requests / f"{request.id}.json").unlink(missing_ok=True)

    def load_requests(self) -> Iterator[StagingRequest]:
        for path in sorted(self.requests.glob("*.json")):
            try:
                yield StagingRequest.from_json(json.loads(path.read_text()))
            except (OSError, ValueError, TypeError):
                continue  # a record another server is replacing, or a broken one: not ours to judge

    def partial(self, request: StagingRequest) -> Path:
        return self.datasets / f".partial-{request.id}"

    def final(self, dataset_id: str) -> Path:
        return self.datasets / dataset_id

    # -- the content store --------------------------------------------------

    def blob(self, sha256: str) -> Path:
        return self.store / sha256[:2] / sha256

    def tmp_of(self, request: StagingRequest, index: int) -> Path:
        """Where a file's download goes; one cut by a restart is found here again."""
        return self.tmp / f"{request.id}-{index}"

    @contextlib.contextmanager
    def store_lock(self) -> Iterator[None]:
        """Held while a file enters the store and is linked, and while the store is swept."""
        with open(self.store / ".lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def adopt_blob(self, tmp: Path | None, sha256: str, target: Path) -> None:
        """Put ``tmp`` in the store as ``sha256`` (unless it is there), and link it to ``target``."""
        blob = self.blob(sha256)
        with self.store_lock():
            if blob.exists():
                if tmp is not None:
                    tmp.unlink(missing_ok=True)
            elif tmp is not None:
                blob.parent.mkdir(exist_ok=True)
                os.chmod(tmp, 0o444)
                os.replace(tmp, blob)
            else:
                raise FileNotFoundError(blob)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            try:
                os.link(blob, target)
            except OSError:
                # Too many links, or a file system without them: a copy is still right.
                shutil.copy2(blob, target)

    def sweep_store(self) -> int:
        """Remove store files no dataset (and no staging under way) links any more."""
        removed = 0
        with self.store_lock():
            for blob in self.store.glob("??/*"):
                with contextlib.suppress(FileNotFoundError):
                    if blob.stat().st_nlink <= 1:
                        blob.unlink()
                        removed += 1
        return removed

    # -- datasets -----------------------------------------------------------

    def publish(self, request: StagingRequest, record: DatasetRecord) -> None:
        """Write the manifest and make the dataset visible in one rename (never half of it)."""
        partial = self.partial(request)
        (partial / MANIFEST_NAME).write_text(json.dumps(manifest_of(request), indent=1))
        for folder in (partial, *[p for p in partial.rglob("*") if p.is_dir()]):
            os.chmod(folder, 0o555)
        # Fails if a dataset of that name appeared meanwhile (it holds a manifest at least).
        os.rename(partial, self.final(request.dataset))
        _write_json(self.meta / f"{record.id}.json", asdict(record))

    def records(self) -> list[DatasetRecord]:
        found = []
        for path in sorted(self.meta.glob("*.json")):
            try:
                record = DatasetRecord(**json.loads(path.read_text()))
            except (OSError, ValueError, TypeError):
                continue
            if self.final(record.id).is_dir():
                found.append(record)
        return found

    def record(self, dataset_id: str) -> DatasetRecord | None:
        return next((r for r in self.records() if r.id == dataset_id), None)

    def touch(self, record: DatasetRecord, when: float | None = None) -> None:
        record.last_used = time.time() if when is None else when
        _write_json(self.meta / f"{record.id}.json", asdict(record))

    def dataset_of(self, record: DatasetRecord) -> Dataset:
        return Dataset(
            id=record.id,
            path=self.final(record.id),
            title=record.title,
            description=f"Staged by {record.owner}: {record.files} files.",
            allowed_users=(record.owner,),
            allowed_groups=(),
        )

    def remove_dataset(self, record: DatasetRecord) -> None:
        """Hide the dataset first (one rename), then delete it and its record."""
        gone = self.datasets / f".removing-{record.id}-{secrets.token_hex(4)}"
        with contextlib.suppress(FileNotFoundError):
            os.rename(self.final(record.id), gone)
        (self.meta / f"{record.id}.json").unlink(missing_ok=True)
        self.remove_folder(gone)

    def remove_folder(self, folder: Path) -> None:
        if not folder.exists():
            return
        for sub in (folder, *[p for p in folder.rglob("*") if p.is_dir() and not p.is_symlink()]):
            with contextlib.suppress(OSError):
                os.chmod(sub, 0o755)
        shutil.rmtree(folder, ignore_errors=True)
