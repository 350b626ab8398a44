"""One engine, several servers of one unix user: each offers and lists only what is its own.

Real `jupyter server` processes on the real engine. They share the unix user's
Jupyter data folder (so StarDock kernelspec files of one are on the other's disk)
and runtime folder (so `jupyter stardock doctor` finds all of them), but each has
its own state folder (its claims, its build history) and its own datasets.
A third server's engine address answers nothing, until the test makes it answer.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.core.kernelspecs import KernelspecStore, kernelspec_name
from jupyter_stardock.core.sample import make_sample_dataset
from jupyter_stardock.engine import DEFAULT_SOCKET

from ..conftest import run_cli
from ..server_process import ServerProcess

pytestmark = pytest.mark.timeout(900)


class SharedHomeServer(ServerProcess):
    """A server whose Jupyter data and runtime folders are the unix user's, shared."""

    def __init__(self, home: Path, shared: Path, config: dict[str, Any]) -> None:
        super().__init__(home, config)
        self.shared = shared

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            "JUPYTER_DATA_DIR": str(self.shared / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.shared / "runtime"),
        }

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class World:
    shared: Path
    a: SharedHomeServer
    b: SharedHomeServer
    down: SharedHomeServer
    down_socket: Path
    env_a: str
    env_b: str
    spec_a: str
    spec_b: str
    gone_spec: str
    images: list[str]

    @property
    def kernels_dir(self) -> Path:
        return self.shared / "data" / "kernels"


def _stardock(state: Path, datasets: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"StarDockApp": {"state_dir": str(state), "datasets": datasets, **more}}


def _build(server: ServerProcess, recipe: dict[str, Any]) -> dict[str, Any]:
    reply = server.request("POST", "/stardock/api/builds", recipe)
    build = reply["build"]
    deadline = time.monotonic() + 600
    while build["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, build
        time.sleep(1)
        build = server.request("GET", f"/stardock/api/builds/{build['id']}")
    assert build["state"] == "succeeded", build
    return dict(build)


def _specs(server: ServerProcess) -> dict[str, Any]:
    return dict(server.request("GET", "/api/kernelspecs")["kernelspecs"])


def _env_ids(server: ServerProcess) -> set[str]:
    return {e["id"] for e in server.request("GET", "/stardock/api/environments")["environments"]}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Iterator[World]:
    root = tmp_path_factory.mktemp("own-lists")
    shared = root / "user"
    m51 = make_sample_dataset(root / "datasets" / "m51")
    other = make_sample_dataset(root / "datasets" / "other")
    # The third server's engine: a socket file nothing listens on (connections are refused).
    down_socket = root / "engine.sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(down_socket))
    sock.close()

    a = SharedHomeServer(
        root / "a",
        shared,
        _stardock(root / "a" / "state", {"m51": {"path": str(m51), "title": "Messier 51"}}),
    )
    b = SharedHomeServer(
        root / "b",
        shared,
        _stardock(root / "b" / "state", {"other": {"path": str(other), "title": "Other"}}),
    )
    down = SharedHomeServer(
        root / "down",
        shared,
        _stardock(
            root / "down" / "state",
            {"m51": {"path": str(m51)}},
            docker_host=f"unix://{down_socket}",
            engine_timeout=1.0,
        ),
    )
    servers = [a, b, down]
    images: list[str] = []
    try:
        for server in servers:
            server.start()
        tag = uuid.uuid4().hex[:10]
        built_a = _build(a, {"commands": [f"echo own-a-{tag}"], "dataset": "m51"})
        built_b = _build(b, {"commands": [f"echo own-b-{tag}"], "dataset": "other"})
        images += [built_a["tag"], built_b["tag"]]
        gone = "0123456789abcdef"
        # A kernelspec whose environment is gone from the engine (removed by hand).
        gone_spec = KernelspecStore(shared / "data" / "kernels").write(
            environment=gone,
            image=f"stardock/env:{gone}",
            dataset_id="m51",
            dataset_title="Messier 51",
            app_titles=[],
            recipe={},
        )
        yield World(
            shared=shared,
            a=a,
            b=b,
            down=down,
            down_socket=down_socket,
            env_a=built_a["environment_id"],
            env_b=built_b["environment_id"],
            spec_a=kernelspec_name(built_a["environment_id"], "m51"),
            spec_b=kernelspec_name(built_b["environment_id"], "other"),
            gone_spec=gone_spec,
            images=images,
        )
    finally:
        for server in servers:
            server.stop()
        # Only our own images: the engine is shared with everyone else's tests.
        if images:
            subprocess.run(["docker", "image", "rm", *images], capture_output=True, check=False)


def test_launcher_offers_only_kernels_this_server_can_start(world: World) -> None:
    on_disk = {p.name for p in world.kernels_dir.iterdir()}
    assert {world.spec_a, world.spec_b, world.gone_spec} <= on_disk

    a, b = _specs(world.a), _specs(world.b)
    # A's own kernel; not B's (a dataset A does not have), not one whose environment is gone.
    assert world.spec_a in a and world.spec_b not in a and world.gone_spec not in a, sorted(a)
    assert world.spec_b in b and world.spec_a not in b and world.gone_spec not in b, sorted(b)
    assert "python3" in a  # other kernels stay as they are

    # Asking for the hidden kernelspec by name is a 404, as for any missing one.
    with pytest.raises(urllib.error.HTTPError) as info:
        world.a.request("GET", f"/api/kernelspecs/{world.spec_b}")
    assert info.value.code == 404
    assert world.a.request("GET", f"/api/kernelspecs/{world.spec_a}")["name"] == world.spec_a

    # Tools without a server (nbconvert, jupyter console) still see every file.
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"],
        env=world.a.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert {world.spec_a, world.spec_b} <= set(json.loads(listed.stdout)["kernelspecs"])


def test_a_new_build_is_offered_at_once(world: World) -> None:
    before = _specs(world.a)  # the engine's answer is now cached on A
    built = _build(
        world.a, {"commands": [f"echo own-new-{uuid.uuid4().hex[:10]}"], "dataset": "m51"}
    )
    world.images.append(built["tag"])
    name = kernelspec_name(built["environment_id"], "m51")
    assert name not in before
    assert name in _specs(world.a)


def test_each_server_lists_its_own_environments(world: World) -> None:
    assert world.env_a in _env_ids(world.a) and world.env_b not in _env_ids(world.a)
    assert world.env_b in _env_ids(world.b) and world.env_a not in _env_ids(world.b)
    # The command line shows the same list.
    result = run_cli("envs", "--json", "--url", world.a.url, "--token", world.a.token)
    assert result.returncode == 0, result.stderr
    listed = {e["id"] for e in json.loads(result.stdout)}
    assert world.env_a in listed and world.env_b not in listed


def test_an_operator_shares_an_environment(world: World, tmp_path: Path) -> None:
    shared_env = SharedHomeServer(
        tmp_path / "c",
        world.shared,
        _stardock(tmp_path / "c" / "state", {}, shared_environments=[world.env_b]),
    )
    shared_env.start()
    try:
        listed = _env_ids(shared_env)
        assert world.env_b in listed and world.env_a not in listed
    finally:
        shared_env.stop()


def test_doctor_with_several_servers_and_a_given_config(world: World, tmp_path: Path) -> None:
    env = {"JUPYTER_RUNTIME_DIR": str(world.shared / "runtime")}
    config = tmp_path / "site_config.json"
    m51 = world.a.config["StarDockApp"]["datasets"]["m51"]
    config.write_text(json.dumps({"StarDockApp": {"datasets": {"m51": m51}}}))

    # Every running server is checked; the one whose engine does not answer must be fixed.
    result = run_cli("doctor", f"--config={config}", env=env, timeout=300)
    out = result.stdout + result.stderr
    assert "No Jupyter server is running" not in out and "No running" not in out, out
    assert f"[ok  ] server {world.a.url}/: It runs StarDock" in out, out
    assert f"[ok  ] server {world.b.url}/: It runs StarDock" in out, out
    assert f"[FAIL] server {world.down.url}/: Its StarDock cannot reach its engine" in out, out
    assert "[ok  ] dataset m51: Messier 51: 5 files" in out, out  # from --config
    assert "All good." not in out and result.returncode == 1, out

    # The one given: nothing else is checked, and with nothing to fix, all is good.
    result = run_cli(
        "doctor", f"--config={config}", "--url", world.a.url, "--token", world.a.token, env=env
    )
    out = result.stdout + result.stderr
    assert f"server {world.a.url}/: It runs StarDock" in out and world.b.url not in out, out
    assert out.rstrip().endswith("All good.") and result.returncode == 0, out + result.stderr


def test_engine_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    world: World,
) -> None:
    server = world.down
    # With the engine down: no StarDock kernel is offered, though the files are there.
    specs = _specs(server)
    assert not [n for n in specs if n.startswith("stardock-")], sorted(specs)
    assert "python3" in specs
    for _ in range(4):  # the panel polls the status and its lists
        for path in ("/stardock/api/status", "/stardock/api/environments"):
            with pytest.raises(urllib.error.HTTPError) as info:
                server.request("GET", path)
            assert info.value.code == 503
            assert str(world.down_socket) in json.loads(info.value.read())["message"]
        _specs(server)
    log = server.log()
    assert log.count("is unreachable:") == 1, log[-4000:]
    assert '"User-Agent"' not in log, log[-4000:]  # no request headers dumped per poll

    # The engine answers again at the same address.
    world.down_socket.unlink()
    world.down_socket.symlink_to(DEFAULT_SOCKET.removeprefix("unix://"))
    for _ in range(3):
        assert server.request("GET", "/stardock/api/status")["engine"]["version"]
    log = server.log()
    assert log.count("answers again") == 1, log[-4000:]
    assert log.count("is unreachable:") == 1
    # Its kernels are offered again at once (m51 is this server's dataset too).
    specs = _specs(server)
    assert world.spec_a in specs and world.spec_b not in specs, sorted(specs)
