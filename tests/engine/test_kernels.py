"""Container kernels beside the data, through jupyter_server, against the real engine."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_stardock.core.datasets import DatasetRegistry
from jupyter_stardock.labels import KERNEL as KERNEL_LABEL

from ..server_process import ServerProcess
from .kernel_helpers import execute, wait_ready

KERNEL_UID = 1000 if os.geteuid() == 0 else os.getuid()


async def post(jp_fetch, *path: str, body: Any = None) -> Any:  # type: ignore[no-untyped-def]
    response = await jp_fetch(*path, method="POST", body=json.dumps(body or {}))
    return json.loads(response.body) if response.body else None


async def astropy_kernelspec(jp_fetch, stardock) -> str:  # type: ignore[no-untyped-def]
    """Build (once per engine: later calls find the image) astropy with the dataset."""
    body = await post(
        jp_fetch, "stardock", "api", "builds", body={"apps": ["astropy"], "dataset": "m51"}
    )
    if body["build"] is not None:
        record = await stardock.builds.wait(body["build"]["id"])
        assert record.state == "succeeded", stardock.builds.log(record.id).read(0).lines[-30:]
        environment = record.environment_id
    else:
        environment = body["environment"]["id"]
    return f"stardock-{environment}-m51"


async def start_kernel(jp_fetch, name: str) -> str:  # type: ignore[no-untyped-def]
    return (await post(jp_fetch, "api", "kernels", body={"name": name}))["id"]


def containers_of(engine, kernel_id: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    return [
        c
        for c in engine.containers_sync(label=KERNEL_LABEL)
        if c["Labels"].get(KERNEL_LABEL) == kernel_id
    ]


async def test_kernel_beside_the_data(
    jp_fetch, jp_ws_fetch, jp_root_dir, stardock, base_image, engine, sample_dataset
) -> None:
    name = await astropy_kernelspec(jp_fetch, stardock)
    specs = json.loads((await jp_fetch("api", "kernelspecs")).body)["kernelspecs"]
    assert name in specs
    assert specs[name]["spec"]["display_name"] == "StarDock · Astropy · Messier 51"

    kernel_id = await start_kernel(jp_fetch, name)
    ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    await wait_ready(ws)

    # A FITS header from the read-only dataset, read with the image's astropy.
    out = await execute(
        ws, "from astropy.io import fits\nprint(fits.getheader('/data/m51_r.fits')['OBJECT'])"
    )
    assert out["error"] is None, out
    assert out["stdout"].strip() == "M51 (synthetic)"

    out = await execute(ws, "open('/data/new.txt', 'w')")
    assert out["error"] == "OSError", out  # read-only file system
    assert not (sample_dataset / "new.txt").exists()

    code = (
        "import numpy as np\nfrom astropy.io import fits\n"
        "fits.PrimaryHDU(np.arange(16, dtype='int16').reshape(4, 4)).writeto('/outputs/result.fits')\n"
        "import os; print(os.getuid(), os.getcwd())"
    )
    out = await execute(ws, code)
    assert out["error"] is None, out
    assert out["stdout"].split() == [str(KERNEL_UID), "/outputs"]
    (kernel,) = json.loads((await jp_fetch("stardock", "api", "kernels")).body)["kernels"]
    assert kernel["id"] == kernel_id and kernel["dataset"] == "m51"
    result = Path(jp_root_dir) / kernel["outputs"] / "result.fits"
    assert result.is_file()
    assert result.stat().st_uid == KERNEL_UID

    # Every hardening setting, as the engine reports it.
    (summary,) = containers_of(engine, kernel_id)
    inspect = engine.inspect_container_sync(summary["Id"])
    host = inspect["HostConfig"]
    assert (
        inspect["Config"]["User"]
        == f"{KERNEL_UID}:{KERNEL_UID if os.geteuid() == 0 else os.getgid()}"
    )
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["ReadonlyRootfs"] is True
    assert set(host["Tmpfs"]) == {"/tmp", "/home/stardock"}
    assert host["Memory"] > 0 and host["NanoCpus"] > 0 and host["PidsLimit"] > 0
    assert host["Init"] is True
    assert host["Privileged"] is False
    assert host["NetworkMode"] == "none"
    assert host["PidMode"] == "" and host["IpcMode"] == "private"
    assert not host.get("PortBindings")
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "2", "max-size": "1m"}}
    mounts = {m["Destination"]: m for m in inspect["Mounts"]}
    assert set(mounts) == {"/data", "/outputs", "/run/stardock", "/run/stardock/ipc"}
    assert mounts["/data"]["RW"] is False and mounts["/outputs"]["RW"] is True
    # What the server writes (the connection file) the kernel can only read; the
    # ipc folder, the kernel's own, is new at each start.
    assert mounts["/run/stardock"]["RW"] is False and mounts["/run/stardock/ipc"]["RW"] is True
    assert not any("docker.sock" in m["Source"] for m in inspect["Mounts"])
    env = dict(item.split("=", 1) for item in inspect["Config"]["Env"])
    assert not any("TOKEN" in k or "JUPYTER" in k for k in env), env
    assert env["STARDOCK_DATASET"] == "m51"

    # Interrupt a long sleep, by message.
    sleeper = asyncio.ensure_future(execute(ws, "import time; time.sleep(60)"))
    await asyncio.sleep(2)
    start = time.monotonic()
    await post(jp_fetch, "api", "kernels", kernel_id, "interrupt")
    out = await sleeper
    assert out["error"] == "KeyboardInterrupt"
    assert time.monotonic() - start < 15

    # Restart: same outputs, fresh interpreter.
    await execute(ws, "x = 41")
    await post(jp_fetch, "api", "kernels", kernel_id, "restart")
    await wait_ready(ws)
    out = await execute(ws, "import os; print('x' in dir(), sorted(os.listdir('/outputs')))")
    assert out["stdout"].strip() == "False ['result.fits']"
    ws.close()

    # Shutdown: the container goes, the outputs stay, an archive with a manifest appears.
    await jp_fetch("api", "kernels", kernel_id, method="DELETE")
    assert containers_of(engine, kernel_id) == []
    assert result.is_file()
    archives = json.loads((await jp_fetch("stardock", "api", "archives")).body)["archives"]
    (archive,) = [a for a in archives if a["id"] == kernel_id]
    manifest = archive["manifest"]
    assert manifest["recipe"]["apps"] == ["astropy"]
    assert manifest["dockerfile"].count("RUN ") >= 2
    assert manifest["image_id"].startswith("sha256:")
    assert manifest["dataset"]["id"] == "m51"
    checksums = {f["path"]: f.get("sha256") for f in manifest["dataset"]["checksums"]["files"]}
    assert set(checksums) >= {"m51_r.fits", "calibration/flat_r.fits"} and all(checksums.values())
    assert manifest["stopped"] > manifest["started"] > 0
    download = await jp_fetch("stardock", "api", "archives", kernel_id)
    path = Path(jp_root_dir) / "archive.tar.gz"
    path.write_bytes(download.body)
    with tarfile.open(path) as tar:
        names = tar.getnames()
    assert "manifest.json" in names and "outputs/result.fits" in names


async def test_two_kernels_started_at_once_both_answer(
    jp_fetch, jp_ws_fetch, stardock, base_image, engine
) -> None:
    name = await astropy_kernelspec(jp_fetch, stardock)
    ids = await asyncio.gather(start_kernel(jp_fetch, name), start_kernel(jp_fetch, name))
    try:
        for i, kernel_id in enumerate(ids):
            ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
            await wait_ready(ws)
            out = await execute(ws, f"print({i} * 2)")
            assert out["stdout"].strip() == str(i * 2)
            ws.close()
    finally:
        for kernel_id in ids:
            await jp_fetch("api", "kernels", kernel_id, method="DELETE")
    assert all(containers_of(engine, k) == [] for k in ids)


async def test_missing_image_and_vanished_dataset_fail_with_a_sentence(
    jp_fetch, jp_data_dir, stardock, base_image, engine, tmp_path
) -> None:
    before = {c["Id"] for c in engine.containers_sync()}
    spec = stardock.kernelspecs.write(
        environment="feedfacefeedface",
        image="stardock/env:feedfacefeedface",
        dataset_id=None,
        dataset_title=None,
        app_titles=[],
        recipe={},
    )
    with pytest.raises(HTTPClientError) as info:
        await start_kernel(jp_fetch, spec)
    assert "no longer exists" in json.loads(info.value.response.body)["message"]

    # A dataset whose folder vanished after it was configured.
    name = await astropy_kernelspec(jp_fetch, stardock)
    gone = tmp_path / "gone"
    gone.mkdir()
    # Kernel starts use the server's own dataset registry (they no longer read the config
    # files): the operator's m51 now points at a folder that is then removed.
    server_registry = stardock.dataset_registry
    stardock.dataset_registry = DatasetRegistry({"m51": {"path": str(gone)}})
    gone.rmdir()
    try:
        with pytest.raises(HTTPClientError) as info:
            await start_kernel(jp_fetch, name)
    finally:
        stardock.dataset_registry.close()
        stardock.dataset_registry = server_registry
    assert "is missing" in json.loads(info.value.response.body)["message"]
    assert {c["Id"] for c in engine.containers_sync()} <= before


def astropy_kernelspec_of(server: ServerProcess) -> str:
    """The astropy + m51 kernelspec on a server in a child process, building if need be."""
    recipe = {"apps": ["astropy"], "dataset": "m51"}
    body = server.request("POST", "/stardock/api/builds", recipe)
    if body["build"] is not None:
        build_id = body["build"]["id"]
        deadline = time.monotonic() + 1200
        while server.request("GET", f"/stardock/api/builds/{build_id}")["state"] in (
            "queued",
            "running",
        ):
            assert time.monotonic() < deadline
            time.sleep(1)
        body = server.request("POST", "/stardock/api/builds", recipe)
    return str(body["environment"]["kernelspec"])


def test_nbconvert_executes_a_notebook_on_a_stardock_kernel(
    tmp_path, base_image, engine, sample_dataset
) -> None:
    """Any jupyter_client tool can use the kernelspec, with the operator's settings."""
    server = ServerProcess(
        tmp_path, {"StarDockApp": {"datasets": {"m51": {"path": str(sample_dataset)}}}}
    )
    server.start()
    try:
        name = astropy_kernelspec_of(server)
    finally:
        server.stop()
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"],
        env=server.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert name in json.loads(listed.stdout)["kernelspecs"]
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(
        json.dumps(
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "metadata": {},
                        "execution_count": None,
                        "outputs": [],
                        "source": "import os\nprint(sorted(os.listdir('/data'))[0])",
                    }
                ],
                "metadata": {
                    "kernelspec": {"name": name, "display_name": name, "language": "python"}
                },
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )
    # The operator's config (datasets) is read from the server's config files.
    config_dir = Path(server.env()["JUPYTER_CONFIG_DIR"])
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps({"StarDockApp": {"datasets": {"m51": {"path": str(sample_dataset)}}}})
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--stdout",
            str(notebook),
        ],
        env=server.env(),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    executed = json.loads(run.stdout)
    text = executed["cells"][0]["outputs"][0]["text"]
    assert "".join(text).strip() == "README.txt"


def test_sigkill_server_with_a_kernel_running_leaves_no_orphan(
    tmp_path, base_image, engine, sample_dataset
) -> None:
    server = ServerProcess(
        tmp_path, {"StarDockApp": {"datasets": {"m51": {"path": str(sample_dataset)}}}}
    )
    server.start()
    try:
        name = astropy_kernelspec_of(server)
        kernel = server.request("POST", "/api/kernels", {"name": name})
        (running,) = server.request("GET", "/stardock/api/kernels")["kernels"]
        outputs = server.root / running["outputs"]
        (outputs / "kept.txt").write_text("written while the kernel ran\n")
        server.kill()
        assert containers_of(engine, kernel["id"]), "the container outlives a SIGKILLed server"
        server.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and containers_of(engine, kernel["id"]):
            time.sleep(0.5)
        assert containers_of(engine, kernel["id"]) == []
        archives = server.request("GET", "/stardock/api/archives")["archives"]
        (archive,) = [a for a in archives if a["id"] == kernel["id"]]
        assert "server had stopped" in archive["manifest"]["note"]
        assert (outputs / "kept.txt").is_file()
    finally:
        server.stop()


async def _ws(server: ServerProcess, kernel_id: str):  # type: ignore[no-untyped-def]
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    url = f"ws://127.0.0.1:{server.port}/api/kernels/{kernel_id}/channels"
    return await websocket_connect(
        HTTPRequest(url, headers={"Authorization": f"token {server.token}"})
    )


async def test_adopt_policy_keeps_a_kernel_alive_across_a_server_crash(
    tmp_path, base_image, engine, sample_dataset
) -> None:
    server = ServerProcess(
        tmp_path,
        {
            "StarDockApp": {
                "datasets": {"m51": {"path": str(sample_dataset)}},
                "orphan_policy": "adopt",
            }
        },
    )
    server.start()
    try:
        name = await asyncio.to_thread(astropy_kernelspec_of, server)
        kernel = server.request("POST", "/api/kernels", {"name": name})
        ws = await _ws(server, kernel["id"])
        await wait_ready(ws)
        await execute(ws, "remembered = 'set before the crash'")
        ws.close()
        server.kill()
        server.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(k["id"] == kernel["id"] for k in server.request("GET", "/api/kernels")):
                break
            await asyncio.sleep(0.5)
        ws = await _ws(server, kernel["id"])
        await wait_ready(ws)
        out = await execute(ws, "print(remembered)")
        assert out["stdout"].strip() == "set before the crash"
        ws.close()
        server.request("DELETE", f"/api/kernels/{kernel['id']}")
        assert containers_of(engine, kernel["id"]) == []
        archives = server.request("GET", "/stardock/api/archives")["archives"]
        assert any(a["id"] == kernel["id"] for a in archives)
    finally:
        server.stop()


async def test_tcp_transport_is_curve_encrypted_on_loopback(
    tmp_path, monkeypatch, base_image, engine
) -> None:
    """With network allowed, kernels speak TCP on engine-picked loopback ports, with CurveZMQ."""
    import zmq
    from jupyter_client.manager import AsyncKernelManager

    from jupyter_stardock.core.kernelspecs import KernelspecStore

    for name in ("config", "data", "runtime"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    (tmp_path / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"StarDockProvisioner": {"allow_network": True}})
    )
    # The base image carries the kernel runtime, so it serves as an environment here.
    spec = KernelspecStore(tmp_path / "data" / "kernels").write(
        environment="base",
        image="stardock/base:latest",
        dataset_id=None,
        dataset_title=None,
        app_titles=[],
        recipe={},
    )
    km = AsyncKernelManager(kernel_name=spec)
    await km.start_kernel(cwd=str(tmp_path))
    try:
        info = km.get_connection_info()
        assert info["transport"] == "tcp" and info["ip"] == "127.0.0.1"
        assert info.get("curve_publickey")
        (container,) = containers_of(engine, km.kernel_id)
        bindings = engine.inspect_container_sync(container["Id"])["HostConfig"]["PortBindings"]
        assert {b[0]["HostIp"] for b in bindings.values()} == {"127.0.0.1"}
        client = km.client()
        client.start_channels()
        await client.wait_for_ready(timeout=60)
        reply = await client.execute("print(6 * 7)", reply=True, timeout=30)
        assert reply["content"]["status"] == "ok"
        client.stop_channels()

        # A client without the kernel's keys gets nothing back.
        ctx = zmq.Context.instance()
        plain = ctx.socket(zmq.REQ)
        plain.linger = 0
        plain.rcvtimeo = 3000
        plain.connect(f"tcp://127.0.0.1:{info['hb_port']}")
        plain.send(b"ping")
        with pytest.raises(zmq.Again):
            plain.recv()
        plain.close()
    finally:
        await km.shutdown_kernel(now=True)
    assert containers_of(engine, km.kernel_id) == []
