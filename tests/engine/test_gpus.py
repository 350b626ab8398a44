"""GPU kernels without GPU hardware (issue 18).

A second Docker daemon of the test's own, started with a stand-in
``nvidia-container-runtime-hook`` first on its PATH: Docker Engine registers its
NVIDIA device driver when it finds that hook at start-up and turns a device
request with the ``gpu`` capability into a prestart hook running it, with
``NVIDIA_VISIBLE_DEVICES`` in the container's environment (moby's
daemon/nvidia_linux.go). The daemon has a bridge of its own (never the host's
docker0) and no iptables rules. The stand-in keeps the OCI state runc hands it on
stdin. The daemon also has an ``nvidia`` runtime (a stand-in that runs runc), as
``nvidia-ctk runtime configure`` registers it, so ``docker info`` shows it.

On the machine's ordinary engine, which has neither, the same start fails with
a sentence.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_stardock.core.catalog import Catalog
from jupyter_stardock.core.recipe import Recipe, compose
from jupyter_stardock.engine import Engine

from .conftest import server_config
from .kernel_helpers import execute, wait_ready
from .test_composer_engine import build
from .test_kernels import containers_of, post

HOOK = """#!{python}
# Stand-in for NVIDIA's prestart hook: records the OCI state it is given on stdin,
# its arguments, and the container's environment from the bundle's config.json.
import json, os, sys
state = json.load(sys.stdin)
with open(os.path.join(state["bundle"], "config.json")) as f:
    env = json.load(f)["process"]["env"]
record = {{"state": state, "argv": sys.argv, "env": env}}
with open(os.path.join(os.environ["STARDOCK_GPU_HOOK_RECORD"], state["id"] + ".json"), "w") as f:
    json.dump(record, f)
"""
RUNTIME = """#!/bin/sh
# Stand-in for nvidia-container-runtime: the real one adds the hook and runs runc.
exec runc "$@"
"""


@contextlib.contextmanager
def gpu_daemon() -> Iterator[tuple[str, Path]]:
    """A Docker daemon of this test's own with the stand-ins; its address and the hook's records."""
    home = Path(tempfile.mkdtemp(prefix="sdgpu-", dir="/var/tmp"))
    bin_dir, records = home / "bin", home / "hook"
    bin_dir.mkdir()
    records.mkdir()
    hook = bin_dir / "nvidia-container-runtime-hook"
    hook.write_text(HOOK.format(python=sys.executable))
    runtime = bin_dir / "nvidia-container-runtime"
    runtime.write_text(RUNTIME)
    for script in (hook, runtime):
        script.chmod(0o755)
    socket = home / "docker.sock"
    name = home.name
    # A bridge of its own: a daemon started with --bridge=none deletes the host's
    # docker0 (moby removeDefaultBridgeInterface), which the machine's engine uses.
    bridge = f"sdg{secrets.token_hex(4)}"
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    log = open(home / "dockerd.log", "wb")
    proc = subprocess.Popen(
        [
            "dockerd",
            f"--data-root={home / 'data'}",
            f"--exec-root={home / 'x'}",
            f"--pidfile={home / 'dockerd.pid'}",
            f"--host=unix://{socket}",
            f"--bridge={bridge}",
            "--iptables=false",
            "--ip-masq=false",
            f"--containerd-namespace={name}",
            f"--containerd-plugins-namespace={name}-plugins",
            f"--add-runtime=nvidia={runtime}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/sbin:/usr/bin')}",
            "STARDOCK_GPU_HOOK_RECORD": str(records),
        },
        start_new_session=True,
    )
    address = f"unix://{socket}"
    try:
        engine = Engine(address, timeout=5)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    engine.info_sync()
                    break
                except Exception:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            "the test's dockerd did not start: "
                            + (home / "dockerd.log").read_text()[-3000:]
                        ) from None
                    time.sleep(0.5)
        finally:
            engine.close()
        yield address, records
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def gpu_environment(base_image: str) -> tuple[str, str]:
    """An environment that opted in to GPUs, on the ordinary engine: its id and tag."""
    spec = compose(
        Recipe(gpus=True),
        Catalog([]),
        base_image,
        base_ref="stardock/base:latest",
        repository="stardock-test/env",
    )
    engine = Engine(timeout=30)
    try:
        build(engine, spec)
    finally:
        engine.close()
    return spec.content_hash[:16], spec.tag


@pytest.fixture(scope="module")
def gpu_engine(gpu_environment: tuple[str, str]) -> Iterator[tuple[str, Path]]:
    """The test's daemon, holding the GPU environment (it has no registry to pull from)."""
    with gpu_daemon() as (address, records):
        saved = subprocess.Popen(["docker", "save", gpu_environment[1]], stdout=subprocess.PIPE)
        loaded = subprocess.run(
            ["docker", "-H", address, "load"], stdin=saved.stdout, capture_output=True, text=True
        )
        assert saved.wait() == 0 and loaded.returncode == 0, loaded.stderr
        yield address, records


@pytest.fixture
def jp_server_config(request: pytest.FixtureRequest, sample_dataset: Path) -> dict[str, Any]:
    config = server_config(sample_dataset)
    config["StarDockProvisioner"] = {"gpus": 1}
    if getattr(request, "param", "") == "gpu-engine":
        config["StarDockApp"]["docker_host"] = request.getfixturevalue("gpu_engine")[0]
    return config


def gpu_kernelspec(stardock: Any, environment: tuple[str, str]) -> str:
    return str(
        stardock.kernelspecs.write(
            environment=environment[0],
            image=environment[1],
            dataset_id=None,
            dataset_title=None,
            app_titles=["GPU"],
            recipe={"gpus": True},
        )
    )


@pytest.mark.parametrize("jp_server_config", ["gpu-engine"], indirect=True)
async def test_a_kernel_with_one_gpu_starts_and_the_hook_ran(
    jp_fetch, jp_ws_fetch, stardock, gpu_engine, gpu_environment
) -> None:
    address, records = gpu_engine
    status = json.loads((await jp_fetch("stardock", "api", "status")).body)
    assert status["engine"]["address"] == address
    assert status["engine"]["gpu_runtime"] is True

    kernel = await post(
        jp_fetch, "api", "kernels", body={"name": gpu_kernelspec(stardock, gpu_environment)}
    )
    engine = Engine(address, timeout=10)
    try:
        ws = await jp_ws_fetch("api", "kernels", kernel["id"], "channels")
        await wait_ready(ws)
        out = await execute(ws, "import os\nprint(os.environ['NVIDIA_VISIBLE_DEVICES'])")
        assert out["error"] is None, out
        assert out["stdout"].strip() == "0"  # one GPU: the first
        (container,) = containers_of(engine, kernel["id"])
        record = json.loads((records / f"{container['Id']}.json").read_text())
        assert record["argv"][1:] == ["prestart"]
        assert record["state"]["id"] == container["Id"] and record["state"]["pid"] > 0
        assert "NVIDIA_VISIBLE_DEVICES=0" in record["env"]
        assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility" in record["env"]
        ws.close()
    finally:
        await jp_fetch("api", "kernels", kernel["id"], method="DELETE")
        assert containers_of(engine, kernel["id"]) == []
        engine.close()


async def test_on_an_engine_without_a_gpu_runtime_the_start_says_so(
    jp_fetch, jp_root_dir, stardock, engine, gpu_environment
) -> None:
    status = json.loads((await jp_fetch("stardock", "api", "status")).body)
    assert status["engine"]["gpu_runtime"] is False
    before = {c["Id"] for c in engine.containers_sync()}
    with pytest.raises(HTTPClientError) as info:
        await post(
            jp_fetch, "api", "kernels", body={"name": gpu_kernelspec(stardock, gpu_environment)}
        )
    assert json.loads(info.value.response.body)["message"] == (
        "The kernel's container could not start: This kernel asks for GPUs, but the container "
        "engine offers no GPU runtime (the NVIDIA Container Toolkit is not set up on it). Start "
        "an environment without GPUs, or ask the operator to set up the toolkit or to unset "
        "c.StarDockProvisioner.gpus."
    )
    assert {c["Id"] for c in engine.containers_sync()} <= before
    # A failed first start leaves no nosuid mount of its outputs folder behind (jupyter_client
    # calls no cleanup after a failed launch; the container kernel undoes its own set-up).
    # (A warm kernel the build pre-starts has a hidden slot folder of its own: not this start's.)
    root = os.path.realpath(jp_root_dir)
    with open("/proc/self/mountinfo") as mounts:
        left = [line.split()[4] for line in mounts if line.split()[4].startswith(root + "/")]
    assert [m for m in left if not os.path.basename(m).startswith(".stardock-slot-")] == []
