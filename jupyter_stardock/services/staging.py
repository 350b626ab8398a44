"""The staging service: stage the files a user asks for from archives into a dataset.

A request is checked whole before anything moves (every file's access), then
staged file by file in the service's own threads: each file is read (throttled
to its archive's bandwidth), checksummed, verified against the archive's checksum
when it gives one, stored once in the content store and linked into a hidden
folder; the dataset appears in one rename when all of it is there. Progress is
persisted after each file, so a restarted server resumes its lineage's requests.

Limits and life: a per-user quota on staged bytes, a lifetime after last use, and
a sweep that never removes a dataset a kernel container on the engine mounts, nor
one another server (another lineage) staged.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import CancelledError, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import labels
from ..core.archives import Archive, Archives, Located, read_chunks, sha256_of, try_reflink
from ..core.datasets import DATASET_ID, Dataset, DatasetRegistry
from ..core.leases import ServerIdentity, lapsed
from ..core.staging import (
    REQUEST_ID,
    UNFINISHED,
    FileState,
    StagingRequest,
    parse_file_list,
    safe_relative,
)
from ..core.users import Viewer
from ..engine import Engine
from ..errors import Forbidden, InUse, NotFound, QuotaExceeded, RecipeError, StarDockError
from .staging_area import DatasetRecord, StagingArea

__all__ = ["StagingLimits", "StagingService", "kernel_mounts"]

log = logging.getLogger(__name__)

#: The dataset folders kernel containers on the engine mount (any server's): never removed.
MountedPaths = Callable[[], Awaitable[set[Path]]]


@dataclass(frozen=True)
class StagingLimits:
    quota_bytes: int | None = None
    lifetime_seconds: float = 7 * 86400.0
    pinned: tuple[str, ...] = ()
    sweep_seconds: float = 600.0
    lease_seconds: float = 60.0
    progress_seconds: float = 1.0


class StagingService:
    def __init__(
        self,
        archives: Archives,
        area: StagingArea,
        datasets: DatasetRegistry,
        *,
        identity: ServerIdentity,
        limits: StagingLimits,
        mounted: MountedPaths,
        workers: int = 2,
    ) -> None:
        self.archives = archives
        self.area = area
        self.datasets = datasets
        self.identity = identity
        self.limits = limits
        self.mounted = mounted
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="stardock-stage"
        )
        self._requests: dict[str, StagingRequest] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._done: dict[str, asyncio.Future[None]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = threading.Event()
        self._records: tuple[float, list[DatasetRecord]] = (0.0, [])
        area.ensure()
        datasets.add_source(self.staged_datasets)

    # -- what the registry and the API see ---------------------------------

    def staged_datasets(self) -> list[Dataset]:
        """The complete staged datasets (read again every few seconds: neighbours add some)."""
        read_at, records = self._records
        if time.monotonic() - read_at > 5:
            records = self.area.records()
            self._records = (time.monotonic(), records)
        return [self.area.dataset_of(r) for r in records]

    def _forget_records(self) -> None:
        self._records = (0.0, [])

    def view(self, viewer: Viewer, request_id: str) -> dict[str, Any]:
        return self._visible(viewer, request_id).view()

    def views(self, viewer: Viewer) -> list[dict[str, Any]]:
        return [r.view() for r in self._requests.values() if viewer.may_see(r.owner)]

    def _visible(self, viewer: Viewer, request_id: str) -> StagingRequest:
        request = self._requests.get(request_id) if REQUEST_ID.fullmatch(request_id) else None
        if request is None or not viewer.may_see(request.owner):
            raise NotFound(f"There is no staging request {request_id!r}.")
        return request

    # -- taking a request --------------------------------------------------

    async def submit(self, viewer: Viewer, body: Mapping[str, Any]) -> dict[str, Any]:
        """Check the whole request (names, access, quota of what is known), then queue it."""
        request = self._request_of(viewer, body)
        loop = asyncio.get_running_loop()
        refusals = await loop.run_in_executor(self._executor, self._refusals, request)
        if refusals:
            raise Forbidden(
                "Nothing was staged: you may not read "
                + "; ".join(refusals)
                + ". Ask the archive's operator for access, or leave these files out."
            )
        request.lineage, request.instance = self.identity.lineage, self.identity.instance
        request.lease_dir = str(self.identity.state_dir)
        await loop.run_in_executor(self._executor, self.area.save_request, request)
        self._queue(request)
        return request.view()

    def _request_of(self, viewer: Viewer, body: Mapping[str, Any]) -> StagingRequest:
        if not len(self.archives):
            raise NotFound(
                "This server has no archives to stage files from (c.StarDockApp.archives)."
            )
        files = body.get("files")
        if isinstance(files, str | list):
            refs = parse_file_list(files)
        else:
            raise RecipeError("Give 'files': a list of archive ids or URLs (or one per line).")
        name = body.get("dataset") or f"staged-{time.strftime('%Y%m%d-%H%M%S')}"
        if not isinstance(name, str) or not DATASET_ID.fullmatch(name):
            raise RecipeError(
                f"The dataset name {name!r} must be 1 to 64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit.",
                item="dataset",
            )
        self._check_free(name)
        states: list[FileState] = []
        names: set[str] = set()
        for ref in refs:
            archive, file_id = self.archives.resolve(ref)
            target = str(safe_relative(file_id))
            if target in names:
                raise RecipeError(f"The file {target!r} is named twice in the list.", item=ref)
            names.add(target)
            states.append(FileState(archive=archive.name, file_id=file_id, name=target))
        title = body.get("title")
        return StagingRequest(
            dataset=name,
            owner=viewer.name,
            groups=list(viewer.groups),
            title=title if isinstance(title, str) else "",
            files=states,
        )

    def _check_free(self, name: str) -> None:
        taken = any(d.id == name for d in self.datasets) or any(
            r.dataset == name and r.state in UNFINISHED for r in self._requests.values()
        )
        if taken or self.area.final(name).exists():
            raise InUse(f"There is a dataset named {name!r} already; choose another name.")

    def _refusals(self, request: StagingRequest) -> list[str]:
        refusals = []
        for f in request.files:
            archive = self.archives.get(f.archive)
            why = archive.access.refusal(request.owner, request.groups, archive.name, f.file_id)
            if why:
                refusals.append(f"{f.archive}:{f.file_id} ({why})")
        return refusals

    def _queue(self, request: StagingRequest) -> None:
        self._requests[request.id] = request
        self._cancel[request.id] = threading.Event()
        loop = asyncio.get_running_loop()
        self._done[request.id] = loop.run_in_executor(self._executor, self._run, request)
        self._done[request.id].add_done_callback(lambda _f: self._forget_records())

    async def wait(self, request_id: str) -> StagingRequest:
        await asyncio.shield(self._done[request_id])
        return self._requests[request_id]

    async def cancel(self, viewer: Viewer, request_id: str) -> dict[str, Any]:
        request = self._visible(viewer, request_id)
        if request.state in UNFINISHED:
            self._cancel[request.id].set()
            await asyncio.shield(self._done[request.id])
        return request.view()

    # -- staging (in a thread) ---------------------------------------------

    def _checker(self, request: StagingRequest) -> Callable[[], None]:
        cancel = self._cancel[request.id]

        def check() -> None:
            # The thread stops at its next chunk; _run tells a cancel from a server stop.
            if cancel.is_set() or self._stopping.is_set():
                raise CancelledError

        return check

    def _run(self, request: StagingRequest) -> None:
        cancel = self._checker(request)
        partial = self.area.partial(request)
        try:
            request.state = "staging"
            self._drop_tmp(request)  # a download cut by a restart starts again
            partial.mkdir(mode=0o755, exist_ok=True)
            self._locate_all(request, cancel)
            for index, f in enumerate(request.files):
                target = partial / f.name
                if f.done and target.is_file():
                    continue  # staged before a restart
                f.done, f.bytes_done = False, 0
                self._stage_file(request, index, f, target, cancel)
                f.done, f.staged_at = True, time.time()
                self.area.save_request(request)
            self._publish(request)
            request.state, request.message = "complete", ""
        except CancelledError:
            if self._cancel[request.id].is_set():
                request.state, request.message = "cancelled", "Cancelled; nothing was kept."
            # else the server stops: kept as far as it got, a restarted server resumes it
        except StarDockError as err:
            request.state, request.message = "failed", f"{err} The partial staging was removed."
        except OSError as err:
            request.state, request.message = "failed", self._os_message(request, err)
        except Exception as err:  # a thread's failure must still end the request, with a sentence
            log.exception("StarDock: staging %s failed", request.id)
            request.state, request.message = "failed", f"Staging failed unexpectedly: {err}."
        finally:
            if request.state not in UNFINISHED:
                request.finished = request.finished or time.time()
            if request.state in ("failed", "cancelled"):
                self.area.remove_folder(partial)
                self._drop_tmp(request)
            self.area.save_request(request)

    def _os_message(self, request: StagingRequest, err: OSError) -> str:
        current = next((f for f in request.files if not f.done), None)
        where = f" while staging {current.archive}:{current.file_id}" if current else ""
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"The staging area is full{where}; the partial staging was removed. Ask the operator for space."
        return f"Staging failed{where}: {err.strerror or err}. The partial staging was removed."

    def _locate_all(self, request: StagingRequest, cancel: Callable[[], None]) -> None:
        """Find every file (size, checksum) before a byte moves: unknown ids fail here."""
        for f in request.files:
            cancel()
            if f.source and (f.size is not None or f.done):
                continue
            found = self.archives.get(f.archive).locate(f.file_id)
            f.source, f.size, f.expected_sha256 = found.source, found.size, found.sha256
        self._check_quota(request, extra=0)
        self.area.save_request(request)

    def _check_quota(
        self, request: StagingRequest, extra: int, file: FileState | None = None
    ) -> None:
        """QuotaExceeded naming the first file past the owner's quota (their datasets and stagings)."""
        quota = self.limits.quota_bytes
        if quota is None:
            return
        used = sum(r.bytes for r in self.area.records() if r.owner == request.owner)
        used += sum(
            r.bytes_total or r.bytes_done
            for r in self._requests.values()
            if r.owner == request.owner and r.state in UNFINISHED and r.id != request.id
        )
        total = used + extra
        for f in request.files:
            total += f.size if f.size is not None else f.bytes_done
            if total > quota and (file is None or f is file):
                raise QuotaExceeded(
                    f"Staging {f.archive}:{f.file_id} would pass your quota of {_size(quota)} for "
                    f"staged data (your staged datasets and stagings use {_size(used)}); nothing was "
                    "staged. Remove a staged dataset or ask for fewer files."
                )

    def _stage_file(
        self,
        request: StagingRequest,
        index: int,
        f: FileState,
        target: Path,
        cancel: Callable[[], None],
    ) -> None:
        archive = self.archives.get(f.archive)
        if f.expected_sha256 and self.area.blob(f.expected_sha256).exists():
            with_blob = True
            try:
                self.area.adopt_blob(None, f.expected_sha256, target, keep_mode=False)
            except FileNotFoundError:
                with_blob = False  # swept away meanwhile: fetch it
            if with_blob:
                f.sha256, f.bytes_done, f.how = (
                    f.expected_sha256,
                    f.size or target.stat().st_size,
                    "stored",
                )
                return
        tmp = self.area.new_tmp(request, index)
        located = Located(f.archive, f.file_id, f.source, f.size, f.expected_sha256)
        f.how, keep_mode = self._fetch(request, archive, located, f, tmp, cancel)
        sha = f.sha256 = f.sha256 or sha256_of(tmp)
        if f.expected_sha256 and f.expected_sha256 != sha:
            tmp.unlink(missing_ok=True)
            raise StarDockError(
                f"The checksum of {f.archive}:{f.file_id} does not match the archive's "
                f"(expected sha256 {f.expected_sha256}, got {sha}); nothing was staged. "
                "The archive's copy may be damaged: tell its operator."
            )
        self.area.adopt_blob(tmp, sha, target, keep_mode=keep_mode)

    def _fetch(
        self,
        request: StagingRequest,
        archive: Archive,
        located: Located,
        f: FileState,
        tmp: Path,
        cancel: Callable[[], None],
    ) -> tuple[str, bool]:
        """Bring the bytes to ``tmp``: a hard link or reflink when the tiers allow, else a copy."""
        local = archive.local_path(located)
        if local is not None and archive.bandwidth is None:
            if getattr(archive, "link", False):
                try:
                    os.link(local, tmp)
                    f.bytes_done = local.stat().st_size
                    return "link", True
                except OSError:
                    pass
            if try_reflink(local, tmp):
                f.bytes_done = local.stat().st_size
                return "reflink", False
        digest = hashlib.sha256()
        last_save = time.monotonic()
        with archive.open(located) as stream, open(tmp, "wb") as out:
            for chunk in read_chunks(stream, archive.bandwidth):
                cancel()
                out.write(chunk)
                digest.update(chunk)
                f.bytes_done += len(chunk)
                if f.size is None or f.bytes_done > f.size:
                    self._check_quota(request, extra=f.bytes_done - (f.size or 0), file=f)
                if time.monotonic() - last_save > self.limits.progress_seconds:
                    self.area.save_request(request)
                    last_save = time.monotonic()
        if f.size is None:
            f.size = f.bytes_done
        f.sha256 = digest.hexdigest()
        return "copy", False

    def _publish(self, request: StagingRequest) -> None:
        if self.area.final(request.dataset).exists():
            raise InUse(
                f"A dataset named {request.dataset!r} appeared meanwhile; stage again under another name."
            )
        now = time.time()
        request.finished = now
        record = DatasetRecord(
            id=request.dataset,
            title=request.title or request.dataset,
            owner=request.owner,
            lineage=request.lineage,
            request=request.id,
            created=now,
            last_used=now,
            files=len(request.files),
            bytes=request.bytes_done,
        )
        self.area.publish(request, record)

    def _drop_tmp(self, request: StagingRequest) -> None:
        for tmp in self.area.tmp.glob(f"{request.id}-*"):
            tmp.unlink(missing_ok=True)

    # -- resume, sweep, shutdown -------------------------------------------

    async def start(self) -> None:
        """Resume this lineage's unfinished requests whose server is gone; start the sweeper."""
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(self._executor, lambda: list(self.area.load_requests()))
        for request in found:
            if request.lineage != self.identity.lineage:
                continue  # a neighbour's: never ours to resume or remove
            if request.state in UNFINISHED and request.instance != self.identity.instance:
                why = lapsed(request.lease_dir, request.instance, self.limits.lease_seconds)
                if why is None:
                    continue  # its server still runs it
                log.info("StarDock: resuming staging %s (%s)", request.id, why)
                request.instance = self.identity.instance
                self._queue(request)
            elif request.id not in self._requests:
                self._requests[request.id] = request
        self._sweeper = asyncio.ensure_future(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # the sweeper must go on whatever one sweep met
                log.exception("StarDock: sweeping the staging area failed")
            await asyncio.sleep(self.limits.sweep_seconds)

    async def sweep(self, now: float | None = None) -> list[str]:
        """Remove this lineage's datasets unused for longer than their lifetime (never mounted ones)."""
        try:
            mounted = await self.mounted()
        except StarDockError as err:
            log.info(
                "StarDock: no staged dataset expires while the engine cannot list kernels: %s", err
            )
            return []
        loop = asyncio.get_running_loop()
        removed = await loop.run_in_executor(
            self._executor, self._sweep, mounted, time.time() if now is None else now
        )
        self._forget_records()
        return removed

    def _sweep(self, mounted: set[Path], now: float) -> list[str]:
        removed = []
        for record in self.area.records():
            if record.lineage != self.identity.lineage:
                continue
            if self.area.final(record.id).resolve() in mounted:
                self.area.touch(record, now)
                continue
            if record.pinned or record.id in self.limits.pinned:
                continue
            if now - record.last_used > self.limits.lifetime_seconds:
                log.info(
                    "StarDock: staged dataset %s expired (unused since %s)",
                    record.id,
                    record.last_used,
                )
                self.area.remove_dataset(record)
                removed.append(record.id)
        self.area.sweep_store()
        return removed

    async def remove(self, viewer: Viewer, dataset_id: str) -> None:
        """A user removes their own staged dataset (not while a kernel mounts it)."""
        record = self.area.record(dataset_id)
        if record is None or (record.owner != viewer.name and not viewer.admin):
            raise NotFound(f"There is no staged dataset {dataset_id!r} of yours.")
        if self.area.final(record.id).resolve() in await self.mounted():
            raise InUse(f"A running kernel mounts the dataset {dataset_id!r}; stop it first.")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.area.remove_dataset, record)
        await loop.run_in_executor(self._executor, self.area.sweep_store)
        self._forget_records()

    async def shutdown(self) -> None:
        """Stop the sweeper; staging threads stop at their next chunk, their state kept for resume."""
        self._stopping.set()
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value, unit = float(n), "KiB"
    for unit in ("KiB", "MiB", "GiB", "TiB"):  # noqa: B007 (the unit the loop stops at)
        value /= 1024
        if value < 1024:
            break
    return f"{value:.1f} {unit}"


async def kernel_mounts(engine: Engine) -> set[Path]:
    """The host folders any StarDock kernel container on the engine mounts (running or not)."""
    containers = await engine.run(engine.containers_sync, label=labels.KERNEL)
    found = set()
    for c in containers:
        for mount in c.get("Mounts") or ():
            source = mount.get("Source")
            if source:
                found.add(Path(source).resolve())
    return found
