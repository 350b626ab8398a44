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
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from .. import labels
from ..core.archives import Archives
from ..core.datasets import DATASET_ID, Dataset, DatasetRegistry
from ..core.leases import ServerIdentity, lapsed
from ..core.outputs import ArchiveStore
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
from ..errors import Forbidden, InUse, NotFound, RecipeError, StarDockError
from .staging_area import DatasetRecord, StagingArea
from .staging_run import StagingLimits, StagingRun

__all__ = ["StagingLimits", "StagingService", "kernel_mounts"]

log = logging.getLogger(__name__)

#: The dataset folders kernel containers on the engine mount (any server's): never removed.
MountedPaths = Callable[[], Awaitable[set[Path]]]
T = TypeVar("T")


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
        archive_dir: Path | None = None,
    ) -> None:
        self.archives = archives
        self.area = area
        self.datasets = datasets
        self.identity = identity
        self.limits = limits
        self.mounted = mounted
        #: Kernels' output archives say when a kernel that mounted a dataset stopped.
        self.archive_dir = archive_dir
        #: Staging runs hold their thread for as long as the files take...
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="stardock-stage"
        )
        #: ...so checks, records and sweeps have threads of their own, never queued behind them.
        self._quick = ThreadPoolExecutor(max_workers=2, thread_name_prefix="stardock-stage-io")
        self._requests: dict[str, StagingRequest] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._done: dict[str, Future[None]] = {}
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
        refusals = await self._io(self._refusals, request)
        if refusals:
            raise Forbidden(
                "Nothing was staged: you may not read "
                + "; ".join(refusals)
                + ". Ask the archive's operator for access, or leave these files out."
            )
        request.lineage, request.instance = self.identity.lineage, self.identity.instance
        request.lease_dir = str(self.identity.state_dir)
        await self._io(self.area.save_request, request)
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
        self._done[request.id] = self._executor.submit(self._run, request)
        self._done[request.id].add_done_callback(lambda _f: self._forget_records())

    async def wait(self, request_id: str) -> StagingRequest:
        await asyncio.shield(asyncio.wrap_future(self._done[request_id]))
        return self._requests[request_id]

    async def cancel(self, viewer: Viewer, request_id: str) -> dict[str, Any]:
        request = self._visible(viewer, request_id)
        if request.state not in UNFINISHED:
            return request.view()
        self._cancel[request.id].set()
        if self._done[request.id].cancel():
            # Still waiting for a thread: it never starts, so it ends here.
            request.state, request.message = "cancelled", "Cancelled before it started."
            request.finished = time.time()
            await self._io(self.area.save_request, request)
        else:
            await asyncio.shield(asyncio.wrap_future(self._done[request.id]))
        return request.view()

    async def _io(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._quick, fn, *args)

    # -- staging (in a thread) ---------------------------------------------

    def _run(self, request: StagingRequest) -> None:
        cancel = self._cancel[request.id]

        def others(owner: str) -> int:
            return sum(
                r.bytes_total or r.bytes_done
                for r in self._requests.values()
                if r.owner == owner and r.state in UNFINISHED and r.id != request.id
            )

        StagingRun(
            request, self.archives, self.area, self.limits, cancel, self._stopping, others
        ).run()

    # -- resume, sweep, shutdown -------------------------------------------

    async def start(self) -> None:
        """Resume this lineage's unfinished requests whose server is gone; start the sweeper."""
        found = await self._io(lambda: list(self.area.load_requests()))
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
        removed = await self._io(self._sweep, mounted, time.time() if now is None else now)
        self._forget_records()
        for request in self._forget_finished(time.time() if now is None else now):
            await self._io(self.area.forget_request, request)
        return removed

    def _sweep(self, mounted: set[Path], now: float) -> list[str]:
        removed = []
        stopped = self._last_kernel_stops()
        for record in self.area.records():
            if record.lineage != self.identity.lineage:
                continue
            path = self.area.final(record.id).resolve()
            if path in mounted:
                self.area.touch(record, now)
                continue
            if stopped.get(path, 0.0) > record.last_used:
                # A kernel mounted it between two sweeps: its stop was the last use.
                self.area.touch(record, stopped[path])
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

    def _last_kernel_stops(self) -> dict[Path, float]:
        """When a kernel that had each staged dataset mounted last stopped (its output archive)."""
        stops: dict[Path, float] = {}
        if self.archive_dir is None:
            return stops
        for archive in ArchiveStore(self.archive_dir).list():
            dataset = archive.manifest.get("dataset") or {}
            when = archive.manifest.get("stopped")
            if isinstance(dataset, dict) and dataset.get("path") and isinstance(when, int | float):
                path = Path(str(dataset["path"])).resolve()
                stops[path] = max(stops.get(path, 0.0), float(when))
        return stops

    def _forget_finished(self, now: float) -> list[StagingRequest]:
        """This lineage's requests that ended more than a lifetime ago (on the loop: the dict is its)."""
        gone = [
            r
            for r in self._requests.values()
            if r.state not in UNFINISHED
            and r.lineage == self.identity.lineage
            and now - (r.finished or now) > self.limits.lifetime_seconds
        ]
        for request in gone:
            for table in (self._requests, self._cancel, self._done):
                table.pop(request.id, None)
        return gone

    async def remove(self, viewer: Viewer, dataset_id: str) -> None:
        """A user removes their own staged dataset (not while a kernel mounts it)."""
        record = self.area.record(dataset_id)
        if record is None or (record.owner != viewer.name and not viewer.admin):
            raise NotFound(f"There is no staged dataset {dataset_id!r} of yours.")
        if self.area.final(record.id).resolve() in await self.mounted():
            raise InUse(f"A running kernel mounts the dataset {dataset_id!r}; stop it first.")
        await self._io(self.area.remove_dataset, record)
        await self._io(self.area.sweep_store)
        self._forget_records()

    async def pin(self, viewer: Viewer, dataset_id: str, pinned: bool) -> dict[str, Any]:
        """An operator pins a staged dataset (it never expires) or unpins it.

        The operator is a hub admin, or on a single-user server its own account.
        """
        if viewer.scoped and not viewer.admin:
            raise Forbidden("Only an administrator may pin or unpin a staged dataset.")
        record = self.area.record(dataset_id)
        if record is None:
            raise NotFound(f"There is no staged dataset {dataset_id!r}.")
        record.pinned = pinned
        await self._io(self.area.touch, record, record.last_used)
        self._forget_records()
        return {"id": record.id, "pinned": record.pinned, "owner": record.owner}

    async def shutdown(self) -> None:
        """Stop the sweeper; staging threads stop at their next chunk, their state kept for resume."""
        self._stopping.set()
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._quick.shutdown(wait=False, cancel_futures=True)


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
