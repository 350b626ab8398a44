"""Debian's ``docker-registry`` (distribution 2.8) started by a test: plain, or TLS with htpasswd.

Each registry listens on its own loopback port with its storage in the test's
temporary folder. For TLS the test makes a CA with ``openssl``; the engine
trusts it through ``/etc/docker/certs.d/127.0.0.1:PORT/ca.crt``, which is
removed again when the registry stops.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

REGISTRY_BIN = "/usr/bin/docker-registry"
CERTS_DIR = Path("/etc/docker/certs.d")


@dataclass(frozen=True)
class LocalRegistry:
    host: str  # 127.0.0.1:PORT
    url: str  # http(s)://127.0.0.1:PORT
    ca: Path | None = None
    user: str = ""
    password: str = ""
    credentials: Path | None = None  # a docker config.json with the user's auth

    def get(self, path: str, **kwargs: object) -> requests.Response:
        """The registry's own API, as an operator's curl would ask it."""
        kwargs.setdefault("auth", (self.user, self.password) if self.user else None)
        return requests.request(
            str(kwargs.pop("method", "GET")),
            f"{self.url}{path}",
            verify=str(self.ca) if self.ca else True,
            timeout=10,
            **kwargs,  # type: ignore[arg-type]
        )

    def tags(self, name: str) -> list[str]:
        response = self.get(f"/v2/{name}/tags/list")
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return list(response.json().get("tags") or [])

    def digest(self, name: str, tag: str) -> str | None:
        response = self.get(
            f"/v2/{name}/manifests/{tag}",
            method="HEAD",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        return response.headers.get("Docker-Content-Digest") if response.ok else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca_and_cert(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca.crt, server.crt, server.key)."""
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=stardock test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
        "-out", "server.csr", "-subj", "/CN=127.0.0.1",
        cwd=folder,
    )  # fmt: skip
    (folder / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "1", "-out", "server.crt", "-extfile", "ext.cnf",
        cwd=folder,
    )  # fmt: skip
    return folder / "ca.crt", folder / "server.crt", folder / "server.key"


def write_credentials(path: Path, host: str, user: str, password: str) -> Path:
    """A docker config.json with the user's auth for ``host``, private to its owner."""
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    os.chmod(path, 0o600)
    return path


@contextlib.contextmanager
def run_registry(
    folder: Path, *, tls: bool = False, user: str = "", password: str = ""
) -> Iterator[LocalRegistry]:
    """A registry on a free loopback port, deletion enabled; stopped and cleaned up after."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    host = f"127.0.0.1:{port}"
    lines = [
        "version: 0.1",
        "log: {level: warn}",
        "storage:",
        f"  filesystem: {{rootdirectory: {folder / 'data'}}}",
        "  delete: {enabled: true}",
        "http:",
        f"  addr: {host}",
    ]
    ca = None
    installed: Path | None = None
    if tls:
        ca, cert, key = make_ca_and_cert(folder)
        lines.append(f"  tls: {{certificate: {cert}, key: {key}}}")
        installed = CERTS_DIR / host
        installed.mkdir(parents=True, exist_ok=True)
        shutil.copy(ca, installed / "ca.crt")
    credentials = None
    if user:
        htpasswd = subprocess.run(
            ["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True
        ).stdout
        (folder / "htpasswd").write_text(htpasswd)
        lines += ["auth:", f"  htpasswd: {{realm: stardock-test, path: {folder / 'htpasswd'}}}"]
        credentials = write_credentials(folder / "credentials.json", host, user, password)
    (folder / "config.yml").write_text("\n".join(lines) + "\n")
    log = (folder / "registry.log").open("wb")
    proc = subprocess.Popen(
        [REGISTRY_BIN, "serve", str(folder / "config.yml")], stdout=log, stderr=log
    )
    registry = LocalRegistry(
        host, f"{'https' if tls else 'http'}://{host}", ca, user, password, credentials
    )
    try:
        for _ in range(100):
            if proc.poll() is not None:
                raise RuntimeError(
                    f"docker-registry exited: {(folder / 'registry.log').read_text()}"
                )
            with contextlib.suppress(requests.RequestException):
                if registry.get("/v2/").status_code in (200, 401):
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError("docker-registry did not answer within 10 seconds")
        yield registry
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
        if installed is not None:
            shutil.rmtree(installed, ignore_errors=True)
