"""The data service against real archives on loopback, a real server and a real kernel.

Archives: a folder tree read at a throttled rate (a slow tier) and an HTTP file
service (http.server in a thread) serving FITS files with their checksums in
``Repr-Digest``, some of them restricted by an access rule.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_stardock.core.sample import write_fits
from jupyter_stardock.core.staging import MANIFEST_NAME

from ..server_process import ServerProcess
from .kernel_helpers import execute, wait_ready
from .test_kernels import post, start_kernel

#: Slow enough that a request is seen half-way, and can be cancelled or killed there.
TAPE_BANDWIDTH = 30_000


def fits_files(root: Path, prefix: str, count: int) -> list[Path]:
    paths = []
    for n in range(count):
        path = root / prefix / f"obs{n}.fits"
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = [[(x * y + n) % 500 for x in range(64)] for y in range(64)]
        write_fits(path, pixels, {"OBJECT": f"{prefix} field {n}", "FILTER": "r"})
        paths.append(path)
    return paths


class _FileService(http.server.BaseHTTPRequestHandler):
    root: Path
    wrong_digest: set[str] = set()

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        path = (self.root / self.path.removeprefix("/files/")).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        digest = hashlib.sha256(b"not these bytes" if self.path in self.wrong_digest else data)
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Repr-Digest", f"sha-256=:{base64.b64encode(digest.digest()).decode()}:")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("archives")
    fits_files(base / "tape", "raw", 5)
    fits_files(base / "ppa", "public", 5)
    fits_files(base / "ppa", "proprietary", 1)
    fits_files(base / "ppa", "damaged", 1)
    # A link on the tape to a restricted file of another archive: it must not pass.
    (base / "tape" / "raw" / "link.fits").symlink_to(base / "ppa" / "proprietary" / "obs0.fits")
    handler = type("Files", (_FileService,), {"root": (base / "ppa").resolve()})
    handler.wrong_digest = {"/files/damaged/obs0.fits"}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    yield {
        "tape": {"root": str(base / "tape"), "bandwidth": TAPE_BANDWIDTH},
        "ppa": {
            "url": f"http://127.0.0.1:{port}/files/{{id}}",
            "access": [{"files": "proprietary/*", "users": ["ana"]}, {"all": True}],
        },
        "gone": {"url": "http://127.0.0.1:9/files/{id}"},
        "_root": str(base),
        "_port": port,
    }
    server.shutdown()
    server.server_close()


def archive_config(archives: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in archives.items() if not k.startswith("_")}


@pytest.fixture
def jp_server_config(sample_dataset: Path, archives: dict[str, Any], tmp_path: Path) -> Any:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_stardock": True}},
        "StarDockApp": {
            "datasets": {"m51": {"path": str(sample_dataset), "title": "Messier 51"}},
            "archives": archive_config(archives),
            "staging_dir": str(tmp_path / "staging"),
            "staging_sweep_seconds": 3600.0,
        },
    }


TEN = [f"tape:raw/obs{n}.fits" for n in range(5)] + [
    f"http://127.0.0.1:{{port}}/files/public/obs{n}.fits" for n in range(5)
]


async def get(jp_fetch, *path: str) -> Any:  # type: ignore[no-untyped-def]
    return json.loads((await jp_fetch(*path)).body)


async def follow(jp_fetch, request_id: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    seen = []
    while True:
        view = (await get(jp_fetch, "stardock", "api", "staging", request_id))["request"]
        seen.append(view)
        if view["state"] not in ("queued", "staging"):
            return seen
        await asyncio.sleep(0.1)


async def test_stage_ten_files_a_kernel_reads_them_and_expiry_spares_it(
    jp_fetch, jp_ws_fetch, stardock, base_image, engine, archives, tmp_path
) -> None:
    files = [f.format(port=archives["_port"]) for f in TEN]
    body = await post(
        jp_fetch, "stardock", "api", "datasets", body={"files": files, "dataset": "obs10"}
    )
    seen = await follow(jp_fetch, body["request"]["id"])
    final = seen[-1]
    assert final["state"] == "complete", final
    assert (final["files_done"], final["files_total"]) == (10, 10)
    assert final["bytes_done"] == final["bytes_total"] > 0
    # Progress was seen on the way, in files and bytes.
    assert any(0 < v["files_done"] < 10 for v in seen), [v["files_done"] for v in seen]
    assert any(0 < v["bytes_done"] < final["bytes_total"] for v in seen)

    # In the picker, with size and count, like any other dataset.
    listed = {d["id"]: d for d in (await get(jp_fetch, "stardock", "api", "datasets"))["datasets"]}
    assert listed["obs10"]["staged"] is True and listed["m51"]["staged"] is False
    assert listed["obs10"]["files"] == 11  # ten and the manifest
    staged = Path(stardock.staging.area.final("obs10"))
    manifest = json.loads((staged / MANIFEST_NAME).read_text())
    root = Path(archives["_root"])
    for entry in manifest["files"]:
        data = (staged / entry["name"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        origin = root / ("tape" if entry["archive"] == "tape" else "ppa") / entry["name"]
        assert data == origin.read_bytes()
    by_archive = {e["archive"]: e["checksum_from"] for e in manifest["files"]}
    assert by_archive == {"tape": "computed", "ppa": "archive"}

    # A real kernel reads them from /data (the astropy image exists on this engine).
    build = await post(
        jp_fetch, "stardock", "api", "builds", body={"apps": ["astropy"], "dataset": "obs10"}
    )
    if build["build"] is not None:
        record = await stardock.builds.wait(build["build"]["id"])
        assert record.state == "succeeded"
        environment = record.environment_id
    else:
        environment = build["environment"]["id"]
    kernel_id = await start_kernel(jp_fetch, f"stardock-{environment}-obs10")
    later = time.time() + 10 * 86400 * 365
    try:
        ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
        await wait_ready(ws)
        code = (
            "from astropy.io import fits\n"
            "print(fits.getheader('/data/raw/obs3.fits')['OBJECT'], '|', "
            "fits.getheader('/data/public/obs1.fits')['OBJECT'])"
        )
        out = await execute(ws, code)
        assert out["error"] is None, out
        assert out["stdout"].strip() == "raw field 3 | public field 1"
        ws.close()
        # Expired long ago, but a kernel mounts it: the sweep keeps it (and counts it as used).
        assert await stardock.staging.sweep(now=later) == []
        assert staged.is_dir()
    finally:
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")
    # The kernel's output archive carries the staged dataset's provenance.
    listed_archives = (await get(jp_fetch, "stardock", "api", "archives"))["archives"]
    (archive,) = [a for a in listed_archives if a["id"] == kernel_id]
    provenance = archive["manifest"]["dataset"]["provenance"]
    assert provenance["files"] == manifest["files"] and provenance["dataset"] == "obs10"
    lifetime = stardock.staging.limits.lifetime_seconds
    assert await stardock.staging.sweep(now=later + lifetime / 2) == []
    assert await stardock.staging.sweep(now=later + lifetime * 2) == ["obs10"]
    assert not staged.exists()
    listed = (await get(jp_fetch, "stardock", "api", "datasets"))["datasets"]
    assert [d["id"] for d in listed] == ["m51"]
    # Nothing links the stored files any more: the store is empty again.
    assert not list((tmp_path / "staging" / "store").glob("??/*"))


async def test_a_refused_file_is_named_and_nothing_is_staged(jp_fetch, archives, tmp_path) -> None:
    port = archives["_port"]
    files = [f"http://127.0.0.1:{port}/files/public/obs0.fits", "ppa:proprietary/obs0.fits"]
    with pytest.raises(HTTPClientError) as info:
        await post(jp_fetch, "stardock", "api", "datasets", body={"files": files})
    assert info.value.code == 403
    message = json.loads(info.value.response.body)["message"]
    assert "ppa:proprietary/obs0.fits (only ana may read it)" in message
    assert "Nothing was staged" in message
    assert not [p for p in (tmp_path / "staging" / "datasets").iterdir()]


@pytest.mark.parametrize(
    "ref",
    [
        "tape:../ppa/public/obs0.fits",
        "tape:/etc/passwd",
        "tape:raw%2f..%2f..%2fppa",
        "ppa:%2e%2e/x",
    ],
)
async def test_path_escapes_are_refused(jp_fetch, ref: str) -> None:
    with pytest.raises(HTTPClientError) as info:
        await post(jp_fetch, "stardock", "api", "datasets", body={"files": [ref]})
    assert info.value.code == 400
    assert json.loads(info.value.response.body)["message"].startswith("The file id")


async def test_cancel_mid_way_keeps_nothing(jp_fetch, archives, tmp_path) -> None:
    files = [f"tape:raw/obs{n}.fits" for n in range(5)]
    body = await post(
        jp_fetch, "stardock", "api", "datasets", body={"files": files, "dataset": "c"}
    )
    request_id = body["request"]["id"]
    while (await get(jp_fetch, "stardock", "api", "staging", request_id))["request"][
        "bytes_done"
    ] == 0:
        await asyncio.sleep(0.05)
    view = (await post(jp_fetch, "stardock", "api", "staging", request_id, "cancel"))["request"]
    assert view["state"] == "cancelled" and view["files_done"] < 5
    assert not list((tmp_path / "staging" / "datasets").iterdir())
    assert not list((tmp_path / "staging" / "store" / ".tmp").iterdir())
    assert "c" not in {
        d["id"] for d in (await get(jp_fetch, "stardock", "api", "datasets"))["datasets"]
    }


@pytest.mark.parametrize(
    ("files", "sentence"),
    [
        (
            ["ppa:public/obs0.fits", "ppa:damaged/obs0.fits"],
            "The checksum of ppa:damaged/obs0.fits does not match",
        ),
        (
            ["ppa:public/obs0.fits", "ppa:public/nope.fits"],
            "The archive 'ppa' has no file 'public/nope.fits'.",
        ),
        (["gone:public/obs0.fits"], "The archive 'gone' cannot be reached for 'public/obs0.fits'"),
        (
            ["tape:raw/obs0.fits", "tape:raw/link.fits"],
            "'raw/link.fits' is a link that points outside",
        ),
    ],
)
async def test_failures_name_the_file_and_remove_the_partial(
    jp_fetch, tmp_path, files: list[str], sentence: str
) -> None:
    body = await post(
        jp_fetch, "stardock", "api", "datasets", body={"files": files, "dataset": "bad"}
    )
    final = (await follow(jp_fetch, body["request"]["id"]))[-1]
    assert final["state"] == "failed"
    assert sentence in final["message"] and "partial staging was removed" in final["message"]
    assert not list((tmp_path / "staging" / "datasets").iterdir())


def _wait(server: ServerProcess, request_id: str, until: Any) -> dict[str, Any]:
    while True:
        view = server.request("GET", f"/stardock/api/staging/{request_id}")["request"]
        if until(view):
            return dict(view)
        time.sleep(0.1)


def test_resume_after_sigkill_and_a_neighbour_deletes_nothing_of_ours(
    tmp_path: Path, archives: dict[str, Any], engine: Any
) -> None:
    staging_dir = tmp_path / "shared-staging"
    tape = {"tape": {"root": archives["tape"]["root"], "bandwidth": TAPE_BANDWIDTH / 2}}
    server = ServerProcess(
        tmp_path / "a",
        {"StarDockApp": {"archives": tape, "staging_dir": str(staging_dir)}},
    )
    neighbour = ServerProcess(
        tmp_path / "b",
        {
            "StarDockApp": {
                "archives": tape,
                "staging_dir": str(staging_dir),
                # Expires soon after, not at once: the test must see it complete first.
                "staging_lifetime_seconds": 3.0,
                "staging_sweep_seconds": 0.2,
            }
        },
    )
    server.start()
    try:
        files = [f"tape:raw/obs{n}.fits" for n in range(5)]
        body = server.request("POST", "/stardock/api/datasets", {"files": files, "dataset": "kept"})
        request_id = body["request"]["id"]
        _wait(server, request_id, lambda v: v["files_done"] >= 2)
        server.kill()
        killed_at = time.time()
        record = json.loads((staging_dir / "requests" / f"{request_id}.json").read_text())
        assert record["state"] == "staging"
        done_before = [f["name"] for f in record["files"] if f["done"]]
        assert 2 <= len(done_before) < 5
        assert not (staging_dir / "datasets" / "kept").exists()  # never half-visible

        server.start()
        final = _wait(server, request_id, lambda v: v["state"] not in ("queued", "staging"))
        assert final["state"] == "complete", final
        manifest = json.loads((staging_dir / "datasets" / "kept" / MANIFEST_NAME).read_text())
        root = Path(archives["tape"]["root"])
        for entry in manifest["files"]:
            data = (staging_dir / "datasets" / "kept" / entry["name"]).read_bytes()
            assert data == (root / entry["name"]).read_bytes()
            assert entry["sha256"] == hashlib.sha256(data).hexdigest()
            # What was staged before the kill was kept, not read again.
            assert (entry["staged_at"] < killed_at) == (entry["name"] in done_before)

        # A second server on the same staging area, whose datasets expire at once.
        neighbour.start()
        body = neighbour.request(
            "POST", "/stardock/api/datasets", {"files": files[:1], "dataset": "short"}
        )
        _wait(neighbour, body["request"]["id"], lambda v: v["state"] == "complete")
        while (staging_dir / "datasets" / "short").exists():  # its own sweep removes its own
            time.sleep(0.1)
        listed = {d["id"] for d in server.request("GET", "/stardock/api/datasets")["datasets"]}
        assert "kept" in listed
        assert (staging_dir / "datasets" / "kept" / "raw" / "obs0.fits").is_file()
    finally:
        neighbour.stop()
        server.stop()
