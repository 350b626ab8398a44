"""One staging request, run in a thread: find every file, check the quota, fetch, verify, store.

Each file is read (no faster than its archive's bandwidth), checksummed while it
is read, verified against the archive's checksum when it gives one, stored once
in the content store and linked into the request's hidden folder; the dataset
appears in one rename at the end. A cancel or a failure removes the hidden
folder; a server that stops keeps it, and the request's record, for resume.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError
from dataclasses import dataclass
from pathlib import Path

from ..core.archives import CHUNK, Archive, Archives, Located, read_chunks, sha256_of, try_reflink
from ..core.staging import UNFINISHED, FileState, StagingRequest, State
from ..errors import InUse, QuotaExceeded, StarDockError
from .staging_area import DatasetRecord, StagingArea

__all__ = ["StagingLimits", "StagingRun"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StagingLimits:
    quota_bytes: int | None = None
    lifetime_seconds: float = 7 * 86400.0
    pinned: tuple[str, ...] = ()
    sweep_seconds: float = 600.0
    lease_seconds: float = 60.0
    progress_seconds: float = 1.0


class StagingRun:
    """Stages one request (blocking); its record says how far it got after each file."""

    def __init__(
        self,
        request: StagingRequest,
        archives: Archives,
        area: StagingArea,
        limits: StagingLimits,
        cancelled: threading.Event,
        stopping: threading.Event,
        others: Callable[[str], int],
    ) -> None:
        self.request = request
        self.archives = archives
        self.area = area
        self.limits = limits
        self.cancelled = cancelled
        self.stopping = stopping
        #: Bytes the owner's other stagings under way will take.
        self.others = others

    def check(self) -> None:
        """Between chunks: a cancel or a server stop ends the thread here."""
        if self.cancelled.is_set() or self.stopping.is_set():
            raise CancelledError

    def run(self) -> None:
        request, cancel = self.request, self.check
        partial = self.area.partial(request)
        # The outcome is shown (request.state) only once its clean-up is done: a client that
        # reads "failed" must find the partial staging gone, not about to go.
        outcome: tuple[State, str] | None = None
        try:
            request.state = "staging"
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
            outcome = ("complete", "")
        except CancelledError:
            if self.cancelled.is_set():
                outcome = ("cancelled", "Cancelled; nothing was kept.")
            # else the server stops: kept as far as it got, a restarted server resumes it
        except StarDockError as err:
            outcome = ("failed", f"{err} The partial staging was removed.")
        except OSError as err:
            outcome = ("failed", self._os_message(request, err))
        except Exception as err:  # a thread's failure must still end the request, with a sentence
            log.exception("StarDock: staging %s failed", request.id)
            outcome = ("failed", f"Staging failed unexpectedly: {err}.")
        finally:
            if outcome is not None and outcome[0] in ("failed", "cancelled"):
                self.area.remove_folder(partial)
                self._drop_tmp(request)
            if outcome is not None:
                request.state, request.message = outcome
            if request.state not in UNFINISHED:
                request.finished = request.finished or time.time()
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
        self._check_quota(request)
        self.area.save_request(request)

    def _check_quota(self, request: StagingRequest, file: FileState | None = None) -> None:
        """QuotaExceeded naming the first file past the owner's quota (their datasets and stagings)."""
        quota = self.limits.quota_bytes
        if quota is None:
            return
        used = sum(r.bytes for r in self.area.records() if r.owner == request.owner)
        used += self.others(request.owner)
        total = used
        for f in request.files:
            # What the archive said, or what came so far (more, if it said too little).
            total += max(f.size or 0, f.bytes_done)
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
        f.sha256 = None  # a try cut by a restart left its own
        if f.expected_sha256 and self.area.blob(f.expected_sha256).exists():
            with_blob = True
            try:
                self.area.adopt_blob(None, f.expected_sha256, target)
            except FileNotFoundError:
                with_blob = False  # swept away meanwhile: fetch it
            if with_blob:
                f.sha256, f.bytes_done, f.how = (
                    f.expected_sha256,
                    f.size or target.stat().st_size,
                    "stored",
                )
                return
        tmp = self.area.tmp_of(request, index)
        located = Located(f.archive, f.file_id, f.source, f.size, f.expected_sha256)
        f.how = self._fetch(request, archive, located, f, tmp, cancel)
        sha = f.sha256 = f.sha256 or sha256_of(tmp)
        if f.expected_sha256 and f.expected_sha256 != sha:
            tmp.unlink(missing_ok=True)
            raise StarDockError(
                f"The checksum of {f.archive}:{f.file_id} does not match the archive's "
                f"(expected sha256 {f.expected_sha256}, got {sha}); nothing was staged. "
                "The archive's copy may be damaged: tell its operator."
            )
        if f.how == "link":
            # The archive's own file, linked: it stays out of the store (whose files go
            # when nothing else links them, which an archive's file always would).
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        else:
            self.area.adopt_blob(tmp, sha, target)

    def _fetch(
        self,
        request: StagingRequest,
        archive: Archive,
        located: Located,
        f: FileState,
        tmp: Path,
        cancel: Callable[[], None],
    ) -> str:
        """Bring the bytes to ``tmp``: a hard link or reflink when the tiers allow, else a copy."""
        have = tmp.stat().st_size if tmp.exists() else 0
        if f.size is not None and have > f.size:
            have = 0  # not this file's bytes after all
        if have and have == f.size:
            f.bytes_done = have  # all there when the server stopped: only its checksum is left
            return "copy"
        local = archive.local_path(located)
        if local is not None and archive.bandwidth is None and not have:
            if archive.link:
                try:
                    os.link(local, tmp)
                    f.bytes_done = local.stat().st_size
                    return "link"
                except OSError:
                    pass
            if try_reflink(local, tmp):
                f.bytes_done = local.stat().st_size
                return "reflink"
        digest = hashlib.sha256()
        last_save = time.monotonic()
        stream, start = archive.open(located, have)
        with stream, open(tmp, "r+b" if start else "wb") as out:
            # A download cut by a restart goes on where it stopped: the bytes it has
            # are hashed again, the rest comes from the archive.
            while start and out.tell() < start:
                digest.update(out.read(min(CHUNK, start - out.tell())))
            out.truncate(start)
            f.bytes_done = start
            for chunk in read_chunks(stream, archive.bandwidth):
                cancel()
                out.write(chunk)
                digest.update(chunk)
                f.bytes_done += len(chunk)
                if f.size is None or f.bytes_done > f.size:
                    self._check_quota(request, file=f)
                if time.monotonic() - last_save > self.limits.progress_seconds:
                    self.area.save_request(request)
                    last_save = time.monotonic()
        if f.size is None:
            f.size = f.bytes_done
        f.sha256 = digest.hexdigest()
        return "copy"

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


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value, unit = float(n), "KiB"
    for unit in ("KiB", "MiB", "GiB", "TiB"):  # noqa: B007 (the unit the loop stops at)
        value /= 1024
        if value < 1024:
            break
    return f"{value:.1f} {unit}"
