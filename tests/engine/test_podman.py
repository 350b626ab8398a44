"""The core loop against Podman's Docker-compatible API (Debian's podman 4.3, rootful).

Build, a kernel beside the read-only data, its outputs, and their archive, with
docker-py talking to ``podman system service`` on a socket of its own. Podman
has no images, and no registry is reachable: the base image is bootstrapped
into it as ``jupyter stardock base --bootstrap`` does (debootstrap, then an
import through the API), once per Podman storage folder.

CI (``.ci/run``) starts the service and names its socket in
``STARDOCK_PODMAN_SOCKET``; without it, the test starts one itself, with its
storage in ``STARDOCK_PODMAN_ROOT`` (default /var/tmp/stardock-podman, kept so
that the bootstrapped base is reused next time).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.engine import Engine
from jupyter_stardock.services.base_image import BaseImageRequest, ensure_base_image

from ..conftest import REQUIRE_ENGINE, host_extra_certs, run_cli
from .conftest import server_config
from .kernel_helpers import execute, wait_ready
from .test_kernels import containers_of, post, start_kernel

#: The processes limit Podman 4.3 runs with where it cannot raise its own (seen here).
PODMAN_NPROC = 32768
PODMAN_ROOT = Path(os.environ.get("STARDOCK_PODMAN_ROOT", "/var/tmp/stardock-podman"))


def write_containers_conf(root: Path) -> Path:
    """Podman's settings for this service, as .ci/podman writes them (docs/podman.md).

    Rootful Podman raises every container's open-files and processes limits to its
    own maximum, which fails ("error setting rlimit type 7") where root may not
    raise limits (no CAP_SYS_RESOURCE, as on this project's test machines); Docker
    Engine's containers inherit the daemon's limits. This gives Podman's containers
    the service's own.
    """
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    # Podman runs itself (and so conmon and runc) with at most 32768 processes when it
    # cannot raise its own limit; a container may not get more than its runc has.
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], PODMAN_NPROC)
    conf = root / "containers.conf"
    conf.write_text(
        f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
    )
    return conf


@contextlib.contextmanager
def podman_service() -> Iterator[str]:
    """Podman's API service on a socket of its own; its address."""
    given = os.environ.get("STARDOCK_PODMAN_SOCKET")
    if given:
        yield given if "://" in given else f"unix://{given}"
        return
    podman = shutil.which("podman")
    if podman is None:
        message = "podman is not installed (`apt-get install podman`; .ci/prepare does)"
        if REQUIRE_ENGINE:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    socket = PODMAN_ROOT / "podman.sock"
    PODMAN_ROOT.mkdir(parents=True, exist_ok=True)
    socket.unlink(missing_ok=True)
    log = open(PODMAN_ROOT / "service.log", "wb")
    conf = write_containers_conf(PODMAN_ROOT)
    proc = subprocess.Popen(
        [
            podman,
            f"--root={PODMAN_ROOT / 'storage'}",
            f"--runroot={PODMAN_ROOT / 'run'}",
            "system",
            "service",
            "--time=0",
            f"unix://{socket}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "CONTAINERS_CONF": str(conf)},
    )
    try:
        deadline = time.monotonic() + 30
        while not socket.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "podman system service did not start: "
                    + (PODMAN_ROOT / "service.log").read_text()[-2000:]
                )
            time.sleep(0.2)
        yield f"unix://{socket}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()


@pytest.fixture(scope="module")
def podman(engine_available: None) -> Iterator[str]:
    """The address of a Podman API service holding StarDock's base image."""
    with podman_service() as address:
        engine = Engine(address, timeout=30)
        try:
            info = engine.info_sync()
            assert info.version.startswith("4."), info  # Debian 12's podman
            ensure_base_image(
                engine,
                BaseImageRequest(
                    bootstrap=True, extra_ca=tuple(Path(p) for p in host_extra_certs())
                ),
                log=lambda line: print(line, file=sys.stderr),
            )
        finally:
            engine.close()
        yield address


@pytest.fixture
def jp_server_config(request: pytest.FixtureRequest, sample_dataset: Path) -> dict[str, Any]:
    # Podman answers info and version more slowly than Docker Engine (docs/podman.md).
    config = server_config(
        sample_dataset, docker_host=request.getfixturevalue("podman"), engine_timeout=10.0
    )
    return config


RECIPE = {"commands": ["echo built-by-podman > /opt/stardock/where.txt"], "dataset": "m51"}


async def test_the_core_loop_on_podman(
    jp_fetch, jp_ws_fetch, jp_root_dir, stardock, podman, sample_dataset
) -> None:
    status = json.loads((await jp_fetch("stardock", "api", "status")).body)
    assert status["engine"]["address"] == podman
    assert status["engine"]["version"].startswith("4.")

    # Build: the recipe's own step, in Podman's builder.
    body = await post(jp_fetch, "stardock", "api", "builds", body=RECIPE)
    if body["build"] is not None:
        record = await stardock.builds.wait(body["build"]["id"])
        assert record.state == "succeeded", stardock.builds.log(record.id).read(0).lines[-30:]
        body = await post(jp_fetch, "stardock", "api", "builds", body=RECIPE)
    environment = body["environment"]
    environments = json.loads((await jp_fetch("stardock", "api", "environments")).body)
    assert environment["id"] in {e["id"] for e in environments["environments"]}
    name = environment["kernelspec"]

    # A kernel beside the data: reads /data, cannot write it, writes /outputs.
    kernel_id = await start_kernel(jp_fetch, name)
    engine = Engine(podman, timeout=10)
    try:
        ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
        await wait_ready(ws)
        out = await execute(
            ws,
            "import os\nprint(open('/opt/stardock/where.txt').read().strip(), os.getuid())\n"
            "print(sorted(os.listdir('/data')))\n"
            "open('/outputs/result.txt', 'w').write('from podman')",
        )
        assert out["error"] is None, out
        first, listed = out["stdout"].strip().split("\n")
        assert first == "built-by-podman 1000"
        assert listed == str(sorted(p.name for p in sample_dataset.iterdir()))
        out = await execute(ws, "open('/data/new.txt', 'w')")
        assert out["error"] == "OSError", out
        (container,) = containers_of(engine, kernel_id)
        host = engine.inspect_container_sync(container["Id"])["HostConfig"]
        assert host["ReadonlyRootfs"] is True and host["NetworkMode"] == "none"
        assert "ALL" in [c.upper() for c in host["CapDrop"]] or not host.get("CapAdd")
        ws.close()
    finally:
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")
    assert containers_of(engine, kernel_id) == []
    engine.close()

    # Outputs and their archive.
    (result,) = (Path(jp_root_dir) / "stardock-outputs").glob("*/result.txt")
    assert result.read_text() == "from podman"
    archives = json.loads((await jp_fetch("stardock", "api", "archives")).body)["archives"]
    (archive,) = [a for a in archives if a["id"] == kernel_id]
    assert archive["manifest"]["dataset"]["id"] == "m51"
    assert archive["manifest"]["recipe"]["commands"] == RECIPE["commands"]


def test_doctor_recognizes_podman(tmp_path: Path, podman: str) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"StarDockApp": {"docker_host": podman, "engine_timeout": 10.0}})
    )
    env = {"JUPYTER_CONFIG_DIR": str(config), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    out = run_cli("doctor", env=env, timeout=120).stdout
    assert "[ok  ] engine: Podman 4." in out and f"at {podman}" in out, out
    assert "[ok  ] base image: stardock/base:latest" in out, out
