"""What `pip install .` must give: the server extension, the prebuilt panel, the command, the provisioner."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import entry_points

from jupyter_stardock.engine import DEFAULT_SOCKET, Engine

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _jupyter(*args: str) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "jupyter", *args], capture_output=True, text=True, timeout=120
    )
    return ANSI.sub("", run.stdout + run.stderr)


def test_server_extension_enabled_and_ok() -> None:
    out = _jupyter("server", "extension", "list")
    assert re.search(r"jupyter_stardock\s+enabled", out), out
    assert re.search(r"jupyter_stardock \S+ OK", out), out


def test_prebuilt_labextension_enabled_and_ok() -> None:
    out = _jupyter("labextension", "list")
    assert re.search(r"jupyter-stardock v\S+ enabled OK \(python, jupyter-stardock\)", out), out


def test_command_and_provisioner_entry_points() -> None:
    scripts = {ep.name for ep in entry_points(group="console_scripts")}
    assert "jupyter-stardock" in scripts
    provisioners = {
        ep.name: ep.value for ep in entry_points(group="jupyter_client.kernel_provisioners")
    }
    assert (
        provisioners["stardock-provisioner"]
        == "jupyter_stardock.kernels.provisioner:StarDockProvisioner"
    )


def test_engine_address_follows_docker_conventions(monkeypatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert Engine().address == DEFAULT_SOCKET
    monkeypatch.setenv("DOCKER_HOST", "tcp://engine.example.org:2376")
    assert Engine().address == "tcp://engine.example.org:2376"
    # The operator's setting wins over the environment.
    assert Engine("unix:///run/podman/podman.sock").address == "unix:///run/podman/podman.sock"
