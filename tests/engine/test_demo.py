"""The README's main command: `jupyter stardock demo` serves JupyterLab with StarDock on the sample data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

from ..server_process import free_port


def test_demo_serves_lab_with_the_sample_dataset(tmp_path, base_image) -> None:
    port, token = free_port(), uuid.uuid4().hex
    env = {
        **os.environ,
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
    }
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_stardock",
            "demo",
            "--workdir",
            str(tmp_path / "work"),
            "--",
            "--no-browser",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/stardock/api/datasets",
                    headers={"Authorization": f"token {token}"},
                )
                with urllib.request.urlopen(request, timeout=10) as response:
                    datasets = json.loads(response.read())["datasets"]
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, (tmp_path / "demo.log").read_text()[-3000:]
                assert time.monotonic() < deadline, (tmp_path / "demo.log").read_text()[-3000:]
                time.sleep(0.5)
        (m51,) = datasets
        assert m51["id"] == "m51" and m51["files"] == 5 and m51["exists"]
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/lab?token={token}", timeout=10
        ) as response:
            assert (
                b"jupyter-stardock" in response.read()
            )  # the panel is in the page's extension list
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
