"""Two Jupyter servers with StarDock on one engine, as real machines have them.

JupyterLab runs a kernel on server A; a second server B starts and stops beside
it (another terminal of the same user, the same or another state folder, or
another unix user). B never stops, archives or adopts A's kernel. When A is
killed and started again, A's own policy handles its orphan, never B's (B gets
the other policy, so the outcome tells who did it). A manifest names the
dataset the container had mounted, and a kernel's death is explained.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.core.outputs import checksum_listing

from ..conftest import REQUIRE_ENGINE
from ..server_process import ServerProcess
from .kernel_helpers import execute, wait_ready
from .test_kernels import _ws, containers_of

#: The base image's kernel runtime beside the data: a real environment, built in seconds.
RECIPE = {"apps": [], "dataset": "m51"}
NEIGHBOUR = "sdneighbour"


def kernelspec_of(server: ServerProcess, recipe: dict[str, Any] = RECIPE) -> str:
    """The kernelspec of ``recipe`` on a server in a child process, building if need be."""
    body = server.request("POST", "/stardock/api/builds", recipe)
    if body["build"] is not None:
        build_id = body["build"]["id"]
        deadline = time.monotonic() + 900
        while (state := server.request("GET", f"/stardock/api/builds/{build_id}")["state"]) in (
            "queued",
            "running",
        ):
            assert time.monotonic() < deadline
            time.sleep(1)
        assert state == "succeeded", server.request("GET", f"/stardock/api/builds/{build_id}/log")
        body = server.request("POST", "/stardock/api/builds", recipe)
    return str(body["environment"]["kernelspec"])


def wait_for_log(server: ServerProcess, text: str, count: int, timeout: float = 60) -> None:
    """Until the server's log holds ``text`` ``count`` times (the log spans its restarts)."""
    deadline = time.monotonic() + timeout
    while server.log_path.read_text(errors="replace").count(text) < count:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{text!r} not logged {count} times: {server.log_path.read_text()[-3000:]}"
            )
        time.sleep(0.2)


RECONCILED = "reconciled kernel containers at start"


def kernel_ids(server: ServerProcess) -> set[str]:
    return {k["id"] for k in server.request("GET", "/api/kernels")}


def archive_of(server: ServerProcess, kernel_id: str) -> dict[str, Any] | None:
    archives = server.request("GET", "/stardock/api/archives")["archives"]
    return next((a for a in archives if a["id"] == kernel_id), None)


# -- a second unix user --------------------------------------------------


def _runs_as(user: str) -> bool:
    probe = subprocess.run(
        ["runuser", "-u", user, "--", sys.executable, "-c", "import jupyter_stardock"],
        capture_output=True,
        cwd="/",
    )
    return probe.returncode == 0


@pytest.fixture(scope="session")
def neighbour_user() -> Iterator[str]:
    """A second unix user in the docker group who can run this interpreter.

    When the interpreter lives below a private home (pyenv in /root), its
    folders get the search bit (enter, not list) for this session only, as an
    operator sharing one Python with their users would set it.
    """
    if os.geteuid() != 0:
        if REQUIRE_ENGINE:
            pytest.fail("STARDOCK_REQUIRE_ENGINE=1 but a second unix user needs root.")
        pytest.skip("a second unix user needs root")
    try:
        pwd.getpwnam(NEIGHBOUR)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--groups", "docker", NEIGHBOUR], check=True)
    subprocess.run(["usermod", "-aG", "docker", NEIGHBOUR], check=True)
    changed: list[tuple[Path, int]] = []
    if not _runs_as(NEIGHBOUR):
        for target in (Path(sys.executable).resolve(), Path(__file__).resolve()):
            for folder in target.parents:
                mode = folder.stat().st_mode
                if not mode & stat.S_IXOTH:
                    changed.append((folder, mode))
                    os.chmod(folder, stat.S_IMODE(mode) | stat.S_IXOTH)
    try:
        assert _runs_as(NEIGHBOUR), f"{NEIGHBOUR} cannot run {sys.executable}"
        yield NEIGHBOUR
    finally:
        for folder, mode in reversed(changed):
            os.chmod(folder, stat.S_IMODE(mode))


def neighbour_server(user: str, config: dict[str, Any]) -> ServerProcess:
    """A server of ``user``, in a home of theirs (the pytest folders are root's alone)."""
    entry = pwd.getpwnam(user)
    home = Path(tempfile.mkdtemp(prefix="stardock-neighbour-"))
    server = ServerProcess(home, config)
    for path in (home, server.root):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    server.prefix = ["runuser", "-u", user, "--"]
    return server


# -- the neighbours ------------------------------------------------------

NEIGHBOURS = ["same-user-same-state", "same-user-own-state", "other-user"]


@pytest.mark.parametrize("neighbour", NEIGHBOURS)
@pytest.mark.parametrize("policy", ["adopt", "archive"])
async def test_a_neighbour_server_never_touches_a_live_kernel(
    tmp_path, request, base_image, engine, sample_dataset, neighbour: str, policy: str
) -> None:
    datasets = {"m51": {"path": str(sample_dataset), "title": "Messier 51"}}
    other_policy = "archive" if policy == "adopt" else "adopt"
    a = ServerProcess(
        tmp_path / "a",
        {"StarDockApp": {"datasets": datasets, "orphan_policy": policy, "lease_seconds": 3.0}},
    )
    # B looks for orphans every second: if it ever took A's kernel, it would have the chance.
    b_app: dict[str, Any] = {
        "datasets": datasets,
        "orphan_policy": other_policy,
        "lease_seconds": 1.0,
    }
    if neighbour == "same-user-same-state":
        b_app["state_dir"] = str(tmp_path / "a" / "data" / "stardock")
    if neighbour == "other-user":
        b_app["datasets"] = {}  # the sample dataset is in root's private pytest folder
        b = neighbour_server(request.getfixturevalue("neighbour_user"), {"StarDockApp": b_app})
    else:
        b = ServerProcess(tmp_path / "b", {"StarDockApp": b_app})
    kernel_id = ""
    try:
        a.start()
        name = await asyncio.to_thread(kernelspec_of, a)
        kernel_id = a.request("POST", "/api/kernels", {"name": name})["id"]
        ws = await _ws(a, kernel_id)
        await wait_ready(ws)
        await execute(ws, "kept = 'set on A'")
        ws.close()

        for round in range(1, 4):
            b.start()
            wait_for_log(b, RECONCILED, round)
            b.stop()
        assert len(containers_of(engine, kernel_id)) == 1
        ws = await _ws(a, kernel_id)
        await wait_ready(ws)
        assert (await execute(ws, "print(kept)"))["stdout"].strip() == "set on A"
        ws.close()

        b.start()
        wait_for_log(b, RECONCILED, 4)
        a.kill()
        await asyncio.sleep(3)  # B's reconcile runs three times while A is down
        assert kernel_id not in kernel_ids(b)
        a.start()
        wait_for_log(a, RECONCILED, 2)
        if policy == "adopt":
            assert kernel_id in kernel_ids(a)
            ws = await _ws(a, kernel_id)
            await wait_ready(ws)
            assert (await execute(ws, "print(kept)"))["stdout"].strip() == "set on A"
            ws.close()
        else:
            assert containers_of(engine, kernel_id) == []
            archive = archive_of(a, kernel_id)
            assert archive is not None and "had stopped" in archive["manifest"]["note"]
        assert kernel_id not in kernel_ids(b)
        if neighbour != "same-user-same-state":  # there B lists A's archives, as it should
            assert archive_of(b, kernel_id) is None
        assert kernel_id not in b.log_path.read_text()  # B never adopted nor archived it
    finally:
        b.stop()
        if kernel_id and a.proc is not None and a.proc.poll() is None:
            if kernel_id in kernel_ids(a):
                a.request("DELETE", f"/api/kernels/{kernel_id}")
        a.stop()
        for c in containers_of(engine, kernel_id) if kernel_id else ():
            engine.remove_container_sync(c["Id"])
        if neighbour == "other-user":
            shutil.rmtree(b.home, ignore_errors=True)


# -- manifests -----------------------------------------------------------


@pytest.mark.parametrize("policy", ["archive", "adopt"])
async def test_a_manifest_names_the_dataset_the_container_had_mounted(
    tmp_path, base_image, engine, sample_dataset, policy: str
) -> None:
    """The server that writes the archive has the same dataset id pointing elsewhere."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "other.txt").write_text("not what the kernel saw\n")
    server = ServerProcess(
        tmp_path / "a",
        {
            "StarDockApp": {
                "datasets": {"m51": {"path": str(sample_dataset), "title": "Messier 51"}},
                "orphan_policy": policy,
            }
        },
    )
    kernel_id = ""
    try:
        server.start()
        name = await asyncio.to_thread(kernelspec_of, server)
        kernel_id = server.request("POST", "/api/kernels", {"name": name})["id"]
        server.kill()
        server.config["StarDockApp"]["datasets"] = {
            "m51": {"path": str(elsewhere), "title": "Somewhere else"}
        }
        server.start()
        wait_for_log(server, RECONCILED, 2)
        if policy == "adopt":
            assert kernel_id in kernel_ids(server)
            server.request("DELETE", f"/api/kernels/{kernel_id}")
        archive = archive_of(server, kernel_id)
        assert archive is not None
        dataset = archive["manifest"]["dataset"]
        assert dataset["id"] == "m51"
        assert dataset["title"] == "Messier 51"
        assert dataset["path"] == str(sample_dataset)
        assert dataset["checksums"] == json.loads(json.dumps(checksum_listing(sample_dataset)))
    finally:
        server.stop()
        for c in containers_of(engine, kernel_id) if kernel_id else ():
            engine.remove_container_sync(c["Id"])


# -- why a kernel died ---------------------------------------------------


def wait_for_exit(server: ServerProcess, kernel_id: str, reason: str) -> dict[str, Any]:
    """The server's exit record of the kernel once it says ``reason``."""
    import urllib.error

    deadline = time.monotonic() + 90
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = server.request("GET", f"/stardock/api/kernels/{kernel_id}/exit")
            if last["reason"] == reason:
                return dict(last)
        except urllib.error.HTTPError as err:
            if err.code != 404:
                raise
        time.sleep(0.5)
    raise AssertionError(f"no {reason!r} exit of {kernel_id}; last: {last}")


async def test_a_kernel_killed_by_its_memory_limit_says_so(
    tmp_path, base_image, engine, sample_dataset
) -> None:
    server = ServerProcess(
        tmp_path,
        {
            "StarDockApp": {"datasets": {"m51": {"path": str(sample_dataset)}}},
            "StarDockProvisioner": {"mem_limit": "256m"},
        },
    )
    kernel_id = ""
    try:
        server.start()
        name = await asyncio.to_thread(kernelspec_of, server)
        kernel_id = server.request("POST", "/api/kernels", {"name": name})["id"]
        import urllib.error

        with pytest.raises(urllib.error.HTTPError) as none_yet:
            server.request("GET", f"/stardock/api/kernels/{kernel_id}/exit")
        assert none_yet.value.code == 404
        ws = await _ws(server, kernel_id)
        await wait_ready(ws)
        # Written, not only reserved: the pages count against the limit. No reply comes.
        hog = asyncio.ensure_future(execute(ws, "hog = b'x' * (1024 * 2**20)"))
        record = await asyncio.to_thread(wait_for_exit, server, kernel_id, "oom")
        hog.cancel()
        ws.close()
        assert record["message"].startswith("The kernel was stopped: memory limit 256 MiB reached.")
        assert record["exit_code"] == 137

        # jupyter_client's restarter starts it again; then someone removes it by hand.
        deadline = time.monotonic() + 60
        while not [c for c in containers_of(engine, kernel_id) if c["State"] == "running"]:
            assert time.monotonic() < deadline, "the kernel was not restarted"
            await asyncio.sleep(0.5)
        listed = server.request("GET", "/stardock/api/kernels")["kernels"]
        (mine,) = [k for k in listed if k["id"] == kernel_id]
        assert mine["last_exit"]["reason"] == "oom"
        for c in containers_of(engine, kernel_id):
            subprocess.run(["docker", "rm", "-f", c["Id"]], check=True, capture_output=True)
        record = await asyncio.to_thread(wait_for_exit, server, kernel_id, "removed")
        assert "its container was removed outside JupyterLab" in record["message"]
    finally:
        server.stop()
        for c in containers_of(engine, kernel_id) if kernel_id else ():
            engine.remove_container_sync(c["Id"])


async def test_a_kernel_whose_server_died_is_archived_by_a_live_server_of_its_lineage(
    tmp_path, base_image, engine, sample_dataset
) -> None:
    """Same user, state and root folder: B looks again every lease_seconds and archives it."""
    datasets = {"m51": {"path": str(sample_dataset), "title": "Messier 51"}}
    a = ServerProcess(tmp_path / "a", {"StarDockApp": {"datasets": datasets}})
    state = str(tmp_path / "a" / "data" / "stardock")
    b = ServerProcess(
        tmp_path / "b",
        {
            "ServerApp": {"root_dir": str(a.root)},
            "StarDockApp": {"datasets": datasets, "state_dir": state, "lease_seconds": 1.0},
        },
    )
    kernel_id = ""
    try:
        a.start()
        b.start()
        wait_for_log(b, RECONCILED, 1)
        name = await asyncio.to_thread(kernelspec_of, a)
        kernel_id = a.request("POST", "/api/kernels", {"name": name})["id"]
        await asyncio.sleep(3)  # B looks three times: A is alive, its kernel stays
        assert len(containers_of(engine, kernel_id)) == 1
        a.kill()
        deadline = time.monotonic() + 60
        while containers_of(engine, kernel_id):
            assert time.monotonic() < deadline, b.log_path.read_text()[-3000:]
            await asyncio.sleep(0.5)
        archive = archive_of(b, kernel_id)
        assert archive is not None and "had stopped" in archive["manifest"]["note"]
        assert "is no longer running" in b.log_path.read_text()
    finally:
        b.stop()
        a.stop()
        for c in containers_of(engine, kernel_id) if kernel_id else ():
            engine.remove_container_sync(c["Id"])
