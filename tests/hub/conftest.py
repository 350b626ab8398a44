"""A real JupyterHub on this machine: two unix users, the StarDock service, remote-mode servers.

The hub runs as root with LocalProcessSpawner, so each user's single-user server
runs as that unix user (not in the docker group, no engine socket) from a venv
they can read. The StarDock service is a hub-managed service running as root:
the only process holding the engine.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.core.sample import make_sample_dataset

from ..conftest import REQUIRE_ENGINE
from ..server_process import free_port, stop_process_group

ROOT = Path(__file__).resolve().parents[2]
USERS = ("sdana", "sdbob")
VENV = Path("/opt/stardock-hub-singleuser")


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "the hub test needs root (it creates unix users and spawns servers as them)"
    if shutil.which("configurable-http-proxy") is None:
        return "configurable-http-proxy is not installed (npm install -g configurable-http-proxy)"
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        return "jupyterhub is not installed (pip install jupyterhub)"
    return None


def _ensure_users(users: tuple[str, ...]) -> None:
    for name in users:
        if subprocess.run(["id", name], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)


def _ensure_singleuser_env() -> None:
    """A venv the unix users can run, with this checkout installed (editable, so it is current)."""
    import jupyterhub

    python = VENV / "bin" / "python"
    marker = VENV / ".stardock-deps"
    deps = [
        f"jupyterhub=={jupyterhub.__version__}",
        "jupyter_server>=2.4",
        "docker>=7",
        "urllib3>=2.3",
        "dockerfile>=3.4",
        # issue 15: a kernel terminal's program (jupyter stardock shell) speaks websocket.
        "websocket-client>=1.7",
        "pyzmq",
        "hatchling",
        "hatch-jupyter-builder",
        "editables",
    ]
    if not python.exists():
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(VENV)], check=True)
    if not marker.exists() or marker.read_text() != " ".join(deps):
        subprocess.run([str(python), "-m", "pip", "install", "-q", *deps], check=True)
        marker.write_text(" ".join(deps))
    # The panel is built already in this checkout, so no node step runs here.
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-e",
            str(ROOT),
        ],
        check=True,
    )


@dataclass
class Hub:
    url: str
    admin_token: str
    home: Path
    service_url: str
    proc: subprocess.Popen[bytes]
    datasets: dict[str, Path]
    tokens: dict[str, str] = field(default_factory=dict)

    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        timeout: float = 60,
    ) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"token {token or self.admin_token}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return json.loads(raw) if raw else None

    def status(self, method: str, path: str, user: str, body: Any = None) -> tuple[int, Any]:
        """(HTTP status, JSON body) of a request as ``user``, errors included."""
        try:
            return 200, self.api(method, path, body, token=self.tokens[user])
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                return err.code, json.loads(raw)
            except ValueError:
                return err.code, raw.decode(errors="replace")

    def as_user(
        self, user: str, method: str, path: str, body: Any = None, timeout: float = 120
    ) -> Any:
        return self.api(
            method, f"/user/{user}{path}", body, token=self.tokens[user], timeout=timeout
        )

    def log(self) -> str:
        return (self.home / "hub.log").read_text(errors="replace")[-6000:]


def _hub_config(
    users: tuple[str, ...],
    home: Path,
    ports: dict[str, int],
    admin_token: str,
    service_config_dir: Path,
) -> str:
    return f"""
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {ports["proxy"]}
c.JupyterHub.hub_port = {ports["hub"]}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{ports["proxy_api"]}"
c.ConfigurableHTTPProxy.pid_file = "{home}/proxy.pid"
c.JupyterHub.db_url = "sqlite:///{home}/hub.sqlite"
c.JupyterHub.cookie_secret_file = "{home}/cookie_secret"
c.JupyterHub.pid_file = "{home}/hub.pid"
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = "{uuid.uuid4().hex}"
c.Authenticator.allowed_users = {set(users)!r}
c.Spawner.cmd = ["{VENV}/bin/jupyterhub-singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.environment = {{"STARDOCK_SERVICE_URL": "http://127.0.0.1:{ports["service"]}/services/stardock/"}}
c.Spawner.server_token_scopes = [
    "access:servers!server",
    "users:activity!user",
    "access:services!service=stardock",
]
c.JupyterHub.services = [
    {{
        "name": "stardock",
        "url": "http://127.0.0.1:{ports["service"]}",
        "command": ["{sys.executable}", "-m", "jupyter_stardock", "service"],
        "environment": {{
            "JUPYTER_CONFIG_DIR": "{service_config_dir}",
            "JUPYTER_DATA_DIR": "{home}/service-data",
            "JUPYTER_RUNTIME_DIR": "{home}/service-runtime",
            "PATH": "{os.environ["PATH"]}",
        }},
        "oauth_no_confirm": True,
    }},
    {{"name": "test-admin", "api_token": "{admin_token}"}},
]
c.JupyterHub.load_roles = [
    {{"name": "user", "scopes": ["self", "access:services!service=stardock"]}},
    {{"name": "stardock-reads-users", "services": ["stardock"], "scopes": ["read:users", "read:users:groups"]}},
    {{"name": "test-admin", "services": ["test-admin"], "scopes": ["admin:users", "admin:servers", "tokens", "access:servers", "access:services"]}},
]
"""


def _start_hub(
    home: Path,
    users: tuple[str, ...],
    stardock: dict[str, Any],
    provisioner: dict[str, Any] | None = None,
) -> Iterator[Hub]:
    """A hub with the StarDock service configured by ``stardock`` / ``provisioner``."""
    problem = _missing()
    if problem:
        if REQUIRE_ENGINE:
            pytest.fail(f"STARDOCK_REQUIRE_ENGINE=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    _ensure_users(users)
    _ensure_singleuser_env()
    os.chmod(home, 0o755)
    datasets = {
        "open": make_sample_dataset(home / "data" / "open"),
        "ana-only": make_sample_dataset(home / "data" / "ana-only"),
    }
    ports = {name: free_port() for name in ("proxy", "hub", "proxy_api", "service")}
    service_config = home / "service-config"
    service_config.mkdir()
    config: dict[str, Any] = {
        "StarDockApp": {
            "datasets": {
                "open": {"path": str(datasets["open"]), "title": "Open sample"},
                "ana-only": {"path": str(datasets["ana-only"]), "allowed_users": ["sdana"]},
            },
            "state_dir": str(home / "service-state"),
            **stardock,
        }
    }
    if provisioner:
        config["StarDockProvisioner"] = provisioner
    (service_config / "jupyter_server_config.json").write_text(json.dumps(config))
    admin_token = uuid.uuid4().hex
    (home / "jupyterhub_config.py").write_text(
        _hub_config(users, home, ports, admin_token, service_config)
    )
    log = (home / "hub.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(home / "jupyterhub_config.py")],
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    hub = Hub(
        url=f"http://127.0.0.1:{ports['proxy']}",
        admin_token=admin_token,
        home=home,
        service_url=f"http://127.0.0.1:{ports['service']}/services/stardock/",
        proc=proc,
        datasets=datasets,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                hub.api("GET", "/hub/api")
                try:
                    urllib.request.urlopen(hub.service_url + "api/status", timeout=5)
                except urllib.error.HTTPError:
                    pass  # any answer means the service is up (it wants a token)
                break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the hub did not start:\n{hub.log()}") from None
                time.sleep(0.5)
        for user in users:
            hub.api("POST", f"/hub/api/users/{user}/server")
            token = hub.api(
                "POST",
                f"/hub/api/users/{user}/tokens",
                {
                    "scopes": [f"access:servers!user={user}", "access:services!service=stardock"],
                    "note": "stardock test",
                },
            )
            hub.tokens[user] = token["token"]
        for user in users:
            deadline = time.monotonic() + 180
            while not hub.api("GET", f"/hub/api/users/{user}")["servers"].get("", {}).get("ready"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{user}'s server did not start:\n{hub.log()}")
                time.sleep(0.5)
        yield hub
    finally:
        stop_process_group(proc)
        for user in users:
            _stop_user_processes(user)


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Iterator[Hub]:
    """Two users, kernels over ipc (service and servers share this host), tight quotas."""
    yield from _start_hub(
        tmp_path_factory.mktemp("hub"), USERS, {"quota_builds": 1, "quota_kernels": 1}
    )


@pytest.fixture(scope="module")
def tcp_hub(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Iterator[Hub]:
    """Its own user; kernels over TCP with per-kernel CurveZMQ keys, as across hosts."""
    yield from _start_hub(
        tmp_path_factory.mktemp("tcphub"), ("sdcarl",), {}, {"allow_network": True}
    )


def _stop_user_processes(user: str) -> None:
    uid = pwd.getpwnam(user).pw_uid
    if uid == 0:
        return
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
            if int(fields["Uid"].split()[0]) == uid:
                os.kill(int(status.parent.name), signal.SIGKILL)
        except (OSError, KeyError, ValueError):
            continue
