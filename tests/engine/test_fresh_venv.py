"""The README's main command, as written, on Debian's own python3 in a fresh virtual environment.

The test environment has the test extras (pytest, JupyterLab, ...) installed; a new
user has none of them. So this runs the README's command itself, with a fresh
machine's PATH and a home folder of its own: `python3` is Debian's (externally
managed, hence the venv), the venv holds only the package's own dependencies, and
another JupyterLab further down PATH (this machine's other Python) must not be the
one that starts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from ..conftest import REQUIRE_ENGINE
from ..server_process import free_port, stop_process_group
from ..unit.test_readme import ROOT, main_command

DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEBIAN_PYTHON = Path("/usr/bin/python3")


def _fresh_env(home: Path) -> dict[str, str]:
    """This machine's environment as a new login would have it: no venv, no Jupyter paths."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER", "PYTHON", "VIRTUAL_ENV", "PYENV", "PYTEST", "STARDOCK"))
    }
    # The other Python's JupyterLab stays reachable on PATH, after Debian's folders:
    # the demo must start its own interpreter's JupyterLab, not the first one found.
    others = [p for p in os.environ.get("PATH", "").split(":") if p and p not in DEBIAN_PATH]
    env.update(
        HOME=str(home),
        PATH=":".join([DEBIAN_PATH, *others]),
        # A new home has no pip cache; reuse this machine's so CI downloads less.
        PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip"),
    )
    return env


def _page_config(html: str) -> dict[str, object]:
    match = re.search(
        r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html, re.S
    )
    assert match, html[:2000]
    return dict(json.loads(match.group(1)))


def _process_serving(port: int) -> list[str]:
    """The command line of the process started with --port=PORT."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"--port={port}".encode() in argv:
            return [a.decode() for a in argv if a]
    return []


def test_readme_main_command_in_a_fresh_venv_serves_lab_with_panel_and_sample(
    tmp_path: Path, base_image: str
) -> None:
    if not DEBIAN_PYTHON.exists():
        # The README is written for Debian 12: without its python3 this proves nothing.
        if REQUIRE_ENGINE:
            pytest.fail("STARDOCK_REQUIRE_ENGINE=1 but there is no Debian /usr/bin/python3")
        pytest.skip("needs Debian's /usr/bin/python3 (STARDOCK_REQUIRE_ENGINE=1 fails instead)")
    command = main_command()
    steps = command.split(" && ")
    # The shape this test relies on: a venv from Debian's python3, pip install of the
    # checkout into it, and the demo run from it, last (so options can follow).
    assert steps[0] == "bash .ci/prepare", steps
    venv_step = next(s for s in steps if " -m venv " in s)
    assert venv_step.startswith("python3 -m venv "), venv_step
    venv = Path(venv_step.split()[-1].replace("~", str(tmp_path / "home"), 1))
    assert steps[-1].endswith("jupyter stardock demo"), steps

    home = tmp_path / "home"
    home.mkdir()
    env = _fresh_env(home)
    port, token = free_port(), uuid.uuid4().hex
    log_path = tmp_path / "readme-command.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            "bash",
            "-c",
            f"{command} -- --no-browser --port={port} --IdentityProvider.token={token}",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def output() -> str:
        return log_path.read_text(errors="replace")[-5000:]

    def get(path: str) -> bytes:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"token {token}"}
        )
        with urllib.request.urlopen(request, timeout=20) as response:
            return bytes(response.read())

    try:
        # Installing into a fresh venv takes a minute or two: once, for all the checks below.
        deadline = time.monotonic() + 900
        while True:
            try:
                datasets = json.loads(get("/stardock/api/datasets"))["datasets"]
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, output()
                assert time.monotonic() < deadline, output()
                time.sleep(1)

        # Debian's python3 made the venv, and the venv has no test extras.
        assert (venv / "pyvenv.cfg").is_file(), output()
        assert "home = /usr/bin" in (venv / "pyvenv.cfg").read_text()
        probe = subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import pytest"],
            capture_output=True,
            text=True,
            env=env,
        )
        assert probe.returncode != 0, "the venv must hold only the package's own dependencies"
        assert "No module named 'pytest'" in probe.stderr

        # The JupyterLab that serves is the venv's own, not the other Python's on PATH.
        argv = _process_serving(port)
        assert argv[:3] == [str(venv / "bin" / "python3"), "-m", "jupyterlab"] or argv[:3] == [
            str(venv / "bin" / "python"),
            "-m",
            "jupyterlab",
        ], argv

        (m51,) = datasets
        assert m51["id"] == "m51" and m51["files"] == 5 and m51["exists"]

        # The panel: listed in the page's federated extensions, its bundle served.
        config = _page_config(get("/lab").decode())
        extensions = {e["name"]: e for e in config["federated_extensions"]}  # type: ignore[union-attr]
        assert "jupyter-stardock" in extensions, sorted(extensions)
        entry = extensions["jupyter-stardock"]["load"]
        assert get(f"/lab/extensions/jupyter-stardock/{entry}").startswith(b"var _JUPYTERLAB")

        # The next step is said.
        assert "StarDock tab in the left sidebar" in output()
    finally:
        stop_process_group(proc)
