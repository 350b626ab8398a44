"""The staging service on real folders: checks before moving, checksums, dedup, limits, sweep.

The kernels' mounts are handed in (the engine tests use the real engine's listing).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from jupyter_stardock.core.archives import Archives
from jupyter_stardock.core.datasets import DatasetRegistry
from jupyter_stardock.core.leases import ServerIdentity, hold_lease
from jupyter_stardock.core.sample import write_fits
from jupyter_stardock.core.staging import MANIFEST_NAME, FileState, StagingRequest, read_manifest
from jupyter_stardock.core.users import Viewer
from jupyter_stardock.errors import Forbidden, InUse, NotFound, RecipeError
from jupyter_stardock.services.staging import StagingLimits, StagingService
from jupyter_stardock.services.staging_area import StagingArea

ANA = Viewer("ana")
BOB = Viewer("bob", groups=("students",))


def make_tape(root: Path, count: int = 4) -> list[str]:
    ids = []
    for n in range(count):
        path = root / "raw" / f"obs{n}.fits"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_fits(path, [[n, 1], [2, 3]], {"OBJECT": f"field {n}"})
        ids.append(f"raw/obs{n}.fits")
    (root / "restricted").mkdir()
    write_fits(root / "restricted" / "p.fits", [[9]], {"OBJECT": "proprietary"})
    return ids


class Mounts:
    def __init__(self) -> None:
        self.paths: set[Path] = set()

    async def __call__(self) -> set[Path]:
        return self.paths


def service(
    tmp_path: Path,
    *,
    lineage_root: str = "root",
    mounts: Mounts | None = None,
    workers: int = 2,
    **limits: object,
) -> StagingService:
    tape = tmp_path / "tape"
    archives = Archives(
        {
            "tape": {
                "root": str(tape),
                "access": [{"files": "restricted/*", "users": ["ana"]}, {"all": True}],
            }
        }
    )
    state = tmp_path / f"state-{lineage_root}"
    identity = ServerIdentity.new(state, tmp_path)
    identity = ServerIdentity(identity.instance, f"lineage-{lineage_root}", state, tmp_path)
    state.mkdir(exist_ok=True)
    hold_lease(identity)
    return StagingService(
        archives,
        StagingArea(tmp_path / "staging"),
        DatasetRegistry({}),
        identity=identity,
        limits=StagingLimits(**limits),  # type: ignore[arg-type]
        mounted=mounts or Mounts(),
        workers=workers,
    )


@pytest.fixture
def ids(tmp_path: Path) -> list[str]:
    return make_tape(tmp_path / "tape")


async def test_stage_checksums_manifest_and_dedup(tmp_path: Path, ids: list[str]) -> None:
    svc = service(tmp_path)
    view = await svc.submit(ANA, {"files": [f"tape:{i}" for i in ids], "dataset": "obs"})
    done = await svc.wait(view["id"])
    assert done.state == "complete", done.message
    assert (done.files_done, done.bytes_done) == (4, done.bytes_total)
    dataset = svc.datasets.for_user("obs", "ana")
    manifest = json.loads((dataset.path / MANIFEST_NAME).read_text())
    for entry in manifest["files"]:
        data = (dataset.path / entry["name"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["source"] == str(tmp_path / "tape" / entry["name"])
        assert entry["checksum_from"] == "computed"
    # Another user's dataset of the same files stores them once.
    again = await svc.submit(BOB, {"files": [f"tape:{i}" for i in ids], "dataset": "obs2"})
    assert (await svc.wait(again["id"])).state == "complete"
    a = (dataset.path / "raw/obs0.fits").stat()
    b = (svc.datasets.get("obs2").path / "raw/obs0.fits").stat()
    assert a.st_ino == b.st_ino and a.st_nlink == 3
    # Only its owner sees a staged dataset.
    assert [d.id for d in svc.datasets.visible_to("bob")] == ["obs2"]
    with pytest.raises(InUse, match="already"):
        await svc.submit(ANA, {"files": ["tape:raw/obs0.fits"], "dataset": "obs"})


async def test_a_refused_file_is_named_and_nothing_moves(tmp_path: Path, ids: list[str]) -> None:
    svc = service(tmp_path)
    with pytest.raises(Forbidden) as info:
        await svc.submit(BOB, {"files": ["tape:raw/obs0.fits", "tape:restricted/p.fits"]})
    assert "tape:restricted/p.fits (only ana may read it)" in str(info.value)
    assert not list((tmp_path / "staging" / "datasets").iterdir())
    assert not list((tmp_path / "staging" / "requests").iterdir())
    with pytest.raises(RecipeError, match=re.escape("'..'")):
        await svc.submit(ANA, {"files": ["tape:raw/../../state-root/x"]})


async def test_checksum_mismatch_and_unknown_id_remove_the_partial(
    tmp_path: Path, ids: list[str]
) -> None:
    svc = service(tmp_path)
    (tmp_path / "tape" / "raw" / "obs1.fits.sha256").write_text("0" * 64 + "  obs1.fits\n")
    view = await svc.submit(ANA, {"files": [f"tape:{i}" for i in ids], "dataset": "bad"})
    failed = await svc.wait(view["id"])
    assert failed.state == "failed"
    assert "The checksum of tape:raw/obs1.fits does not match" in failed.message
    assert "partial staging was removed" in failed.message
    assert sorted(os.listdir(tmp_path / "staging" / "datasets")) == []
    view = await svc.submit(ANA, {"files": ["tape:raw/obs0.fits", "tape:raw/nope.fits"]})
    failed = await svc.wait(view["id"])
    assert "has no file 'raw/nope.fits'" in failed.message
    assert sorted(os.listdir(tmp_path / "staging" / "datasets")) == []


async def test_quota_names_the_file_past_it(tmp_path: Path, ids: list[str]) -> None:
    size = (tmp_path / "tape" / ids[0]).stat().st_size
    svc = service(tmp_path, quota_bytes=3 * size)
    first = await svc.submit(ANA, {"files": [f"tape:{i}" for i in ids[:2]], "dataset": "a"})
    assert (await svc.wait(first["id"])).state == "complete"
    view = await svc.submit(ANA, {"files": [f"tape:{i}" for i in ids[2:]], "dataset": "b"})
    failed = await svc.wait(view["id"])
    assert failed.state == "failed"
    assert "Staging tape:raw/obs3.fits would pass your quota" in failed.message
    assert "nothing was staged" in failed.message


async def test_sweep_spares_mounted_pinned_and_neighbours_datasets(
    tmp_path: Path, ids: list[str]
) -> None:
    mounts = Mounts()
    svc = service(tmp_path, mounts=mounts, lifetime_seconds=60, pinned=("kept",))
    for name in ("used", "idle", "kept"):
        view = await svc.submit(ANA, {"files": [f"tape:{ids[0]}"], "dataset": name})
        assert (await svc.wait(view["id"])).state == "complete"
    neighbour = service(tmp_path, lineage_root="other", lifetime_seconds=0)
    mounts.paths = {(tmp_path / "staging" / "datasets" / "used").resolve()}
    later = time.time() + 3600
    assert await neighbour.sweep(now=later) == []  # not its datasets
    assert await svc.sweep(now=later) == ["idle"]
    # Requests that ended a lifetime ago are forgotten with their records.
    assert svc.views(ANA) == [] and not list((tmp_path / "staging" / "requests").iterdir())
    assert {d.id for d in svc.datasets} == {"used", "kept"}
    # The store keeps the bytes the remaining datasets link.
    assert (svc.datasets.get("used").path / ids[0]).is_file()
    mounts.paths = set()
    assert await svc.sweep(now=later + 30) == []  # its last use was the sweep that saw it mounted
    assert await svc.sweep(now=later + 3600) == ["used"]


async def test_hub_users_groups_drive_access_and_each_sees_only_their_own(
    tmp_path: Path, ids: list[str]
) -> None:
    svc = service(tmp_path)
    svc.archives = Archives(
        {"tape": {"root": str(tmp_path / "tape"), "access": {"groups": ["odi"]}}}
    )
    ana = Viewer("ana", groups=("odi",), scoped=True)
    eve = Viewer("eve", groups=("public",), scoped=True)
    with pytest.raises(Forbidden, match="only group odi may read it"):
        await svc.submit(eve, {"files": [f"tape:{ids[0]}"]})
    view = await svc.submit(ana, {"files": [f"tape:{ids[0]}"], "dataset": "anas"})
    assert (await svc.wait(view["id"])).state == "complete"
    assert svc.views(eve) == [] and [v["id"] for v in svc.views(ana)] == [view["id"]]
    with pytest.raises(NotFound):
        svc.view(eve, view["id"])
    with pytest.raises(NotFound):
        await svc.remove(eve, "anas")
    assert [d.id for d in svc.datasets.visible_to("eve", ["odi"])] == []
    # The staged dataset's manifest is its provenance; a link in its place is not read.
    dataset = svc.datasets.for_user("anas", "ana")
    assert (read_manifest(dataset.path) or {})["owner"] == "ana"
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / MANIFEST_NAME).symlink_to(dataset.path / MANIFEST_NAME)
    assert read_manifest(fake) is None
    # Only an operator pins (a hub admin; a single-user server's own account is one).
    with pytest.raises(Forbidden, match="administrator"):
        await svc.pin(ana, "anas", True)
    assert (await svc.pin(Viewer("admin", admin=True, scoped=True), "anas", True))["pinned"]
    assert await svc.sweep(now=time.time() + 10 * 365 * 86400) == []
    await svc.remove(ana, "anas")
    assert not dataset.path.exists() and not list((tmp_path / "staging" / "store").glob("??/*"))


async def test_a_queued_request_cancels_at_once_and_a_running_one_at_its_next_chunk(
    tmp_path: Path, ids: list[str]
) -> None:
    svc = service(tmp_path, workers=1)
    svc.archives = Archives({"tape": {"root": str(tmp_path / "tape"), "bandwidth": 2000}})
    slow = await svc.submit(ANA, {"files": [f"tape:{i}" for i in ids], "dataset": "slow"})
    queued = await svc.submit(ANA, {"files": [f"tape:{ids[0]}"], "dataset": "queued"})
    view = await svc.cancel(ANA, queued["id"])
    assert (view["state"], view["message"]) == ("cancelled", "Cancelled before it started.")
    view = await svc.cancel(ANA, slow["id"])
    assert view["state"] == "cancelled" and view["files_done"] < len(ids)
    assert not list((tmp_path / "staging" / "datasets").iterdir())
    await svc.shutdown()


async def test_a_full_disk_names_the_file_and_removes_the_partial(
    tmp_path: Path, ids: list[str]
) -> None:
    small = tmp_path / "small"
    small.mkdir()
    # A real file system that fills up: a 64 KiB tmpfs (the tests run as root).
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], check=True)
    try:
        big = tmp_path / "tape" / "raw" / "big.fits"
        write_fits(big, [[n % 300 for n in range(256)] for _ in range(256)], {"OBJECT": "big"})
        svc = service(tmp_path)
        svc.area = StagingArea(small / "staging")
        svc.area.ensure()
        view = await svc.submit(ANA, {"files": [f"tape:{ids[0]}", "tape:raw/big.fits"]})
        failed = await svc.wait(view["id"])
        assert failed.state == "failed"
        assert failed.message.startswith(
            "The staging area is full while staging tape:raw/big.fits; the partial staging was removed."
        )
        assert not list((small / "staging" / "datasets").iterdir())
        assert not list((small / "staging" / "store" / ".tmp").iterdir())
    finally:
        subprocess.run(["umount", str(small)], check=True)


async def test_a_kernel_that_stopped_between_sweeps_counts_as_use(
    tmp_path: Path, ids: list[str]
) -> None:
    svc = service(tmp_path, lifetime_seconds=600)
    svc.archive_dir = tmp_path / "archives"
    svc.archive_dir.mkdir()
    view = await svc.submit(ANA, {"files": [f"tape:{ids[0]}"], "dataset": "short-run"})
    assert (await svc.wait(view["id"])).state == "complete"
    stopped = time.time() + 3600
    # The output archive of a kernel that had it mounted (as kernels/archive.py writes it).
    path = str(svc.datasets.get("short-run").path)
    manifest = {"kernel_id": "k1", "dataset": {"id": "short-run", "path": path}, "stopped": stopped}
    (svc.archive_dir / "k1.json").write_text(json.dumps(manifest))
    (svc.archive_dir / "k1.tar.gz").write_bytes(b"")
    assert await svc.sweep(now=stopped + 500) == []
    assert await svc.sweep(now=stopped + 700) == ["short-run"]


class _Ranged(http.server.BaseHTTPRequestHandler):
    """A file service that honours Range requests, and remembers the ranges asked for."""

    data = b""
    ranges: list[str] = []

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.data)))
        self.end_headers()

    def do_GET(self) -> None:
        asked = self.headers.get("Range")
        self.ranges.append(asked or "")
        start = int(asked.removeprefix("bytes=").rstrip("-")) if asked else 0
        self.send_response(206 if asked else 200)
        self.send_header("Content-Length", str(len(self.data) - start))
        self.end_headers()
        self.wfile.write(self.data[start:])

    def log_message(self, *args: object) -> None:
        pass


async def test_a_cut_download_resumes_from_where_it_stopped(tmp_path: Path, ids: list[str]) -> None:
    _Ranged.data = (tmp_path / "tape" / ids[0]).read_bytes() * 3
    _Ranged.ranges = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ranged)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        svc = service(tmp_path)
        url = f"http://127.0.0.1:{server.server_address[1]}/files/{{id}}"
        svc.archives = Archives({"ppa": {"url": url}})
        # A request a killed server of this lineage left half-way: its download cut at 5000 bytes.
        request = StagingRequest(
            dataset="cut",
            owner="ana",
            files=[FileState(archive="ppa", file_id="big.fits", name="big.fits")],
            state="staging",
            lineage=svc.identity.lineage,
            instance="0123456789abcdef",  # a server that left no lease: it is gone
            lease_dir=str(svc.identity.state_dir),
        )
        svc.area.save_request(request)
        svc.area.partial(request).mkdir()
        svc.area.tmp_of(request, 0).write_bytes(_Ranged.data[:5000])
        await svc.start()
        done = await svc.wait(request.id)
        assert done.state == "complete", done.message
        assert _Ranged.ranges == ["bytes=5000-"]
        staged = svc.datasets.get("cut").path / "big.fits"
        assert staged.read_bytes() == _Ranged.data
        assert done.files[0].sha256 == hashlib.sha256(_Ranged.data).hexdigest()
        await svc.shutdown()
    finally:
        server.shutdown()
        server.server_close()


async def test_an_archive_whose_files_never_change_is_hard_linked_not_stored(
    tmp_path: Path, ids: list[str]
) -> None:
    svc = service(tmp_path)
    svc.archives = Archives({"tape": {"root": str(tmp_path / "tape"), "link": True}})
    view = await svc.submit(ANA, {"files": [f"tape:{ids[0]}"], "dataset": "linked"})
    done = await svc.wait(view["id"])
    assert done.state == "complete" and done.files[0].how == "link"
    staged = svc.datasets.get("linked").path / ids[0]
    assert staged.stat().st_ino == (tmp_path / "tape" / ids[0]).stat().st_ino
    assert not list((tmp_path / "staging" / "store").glob("??/*"))
    await svc.remove(ANA, "linked")
    assert (tmp_path / "tape" / ids[0]).is_file()


class _NoHead(http.server.BaseHTTPRequestHandler):
    """A file service that answers GET only (HEAD: 501), so sizes come with the bytes."""

    data = b"SIMPLE" * 2000

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()  # no Content-Length either: read to the end
        self.wfile.write(self.data)
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


async def test_sizes_the_archive_does_not_tell_are_learnt_and_the_quota_holds(
    tmp_path: Path, ids: list[str]
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoHead)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        svc = service(tmp_path, quota_bytes=20_000)
        url = f"http://127.0.0.1:{server.server_address[1]}/{{id}}"
        svc.archives = Archives({"ppa": {"url": url}})
        view = await svc.submit(ANA, {"files": ["ppa:a.fits"], "dataset": "one"})
        assert view["bytes_total"] is None
        done = await svc.wait(view["id"])
        assert done.state == "complete", done.message
        assert done.bytes_total == len(_NoHead.data)
        view = await svc.submit(ANA, {"files": ["ppa:a.fits", "ppa:b.fits"], "dataset": "two"})
        failed = await svc.wait(view["id"])
        assert failed.state == "failed"
        assert "Staging ppa:a.fits would pass your quota of 19.5 KiB" in failed.message
        await svc.shutdown()
    finally:
        server.shutdown()
        server.server_close()
