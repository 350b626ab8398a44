"""A real `jupyter server` in a child process, for tests that kill and restart it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any


def stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own session and what it started (never anything else)."""
    if proc.pid <= 1:
        return
    # The leader may have exited already while what it started still runs.
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``jupyter server`` with StarDock, its own data/runtime dirs and a fixed token."""

    def __init__(self, home: Path, config: dict[str, Any] | None = None) -> None:
        self.home = home
        self.token = uuid.uuid4().hex
        self.port = free_port()
        self.config = config or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.root = home / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.log_path = home / "server.log"
        #: Runs the server through this, e.g. ["runuser", "-u", "ana", "--"] for another user.
        self.prefix: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "JUPYTER_DATA_DIR": str(self.home / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.home / "runtime"),
            "JUPYTER_CONFIG_DIR": str(self.home / "config"),
        }

    def start(self, timeout: float = 60) -> None:
        config_file = self.home / "jupyter_server_config.json"
        config = {
            "ServerApp": {
                "jpserver_extensions": {"jupyter_stardock": True},
                "port": self.port,
                "port_retries": 0,
                "ip": "127.0.0.1",
                "open_browser": False,
                "root_dir": str(self.root),
                "allow_root": True,
            },
            "IdentityProvider": {"token": self.token},
        }
        for section, values in self.config.items():
            config.setdefault(section, {}).update(values)
        config_file.write_text(json.dumps(config))
        self.proc = subprocess.Popen(
            [*self.prefix, sys.executable, "-m", "jupyter_server", f"--config={config_file}"],
            env=self.env(),
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter server exited: {self.log_path.read_text()[-3000:]}")
            try:
                self.request("GET", "/api/status")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise RuntimeError(f"jupyter server did not start: {self.log_path.read_text()[-3000:]}")

    def request(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return json.loads(raw) if raw else None

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks run, as when a machine or an OOM killer stops it."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
