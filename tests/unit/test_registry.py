"""The registry's parts that decide, without an engine: its address, the credentials file, the streams."""

from __future__ import annotations

import base64
import json
import os
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.engine import Engine
from jupyter_stardock.engine.registry import (
    Registry,
    RegistryAddress,
    RegistryCredentials,
    load_credentials,
)
from jupyter_stardock.errors import EngineError, RegistryError
from jupyter_stardock.services.registry import registry_service


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_address_is_a_host_and_a_prefix() -> None:
    address = RegistryAddress.parse("registry.example.org:5000/site/stardock/")
    assert (address.host, address.prefix) == ("registry.example.org:5000", "site/stardock")
    assert address.repository("env") == "registry.example.org:5000/site/stardock/env"
    assert address.path("env") == "site/stardock/env"
    assert RegistryAddress.parse("https://127.0.0.1:5000").repository("env") == "127.0.0.1:5000/env"


@pytest.mark.parametrize("value", ["stardock/env", "", "  ", "127.0.0.1:5000/Site"])
def test_an_address_that_names_no_registry_is_a_sentence(value: str) -> None:
    with pytest.raises(RegistryError, match=r"^c\.StarDockApp\.registry = .*\.$"):
        RegistryAddress.parse(value)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("127.8.0.1", True),
        ("10.0.0.1:5000", False),
        ("registry.example.org:5000", False),
    ],
)
def test_only_loopback_registries_without_a_ca_are_spoken_to_in_plain_http(
    host: str, loopback: bool, tmp_path: Path
) -> None:
    registry = Registry(Engine(), RegistryAddress(host), certs_dir=tmp_path)
    assert registry.url == f"{'http' if loopback else 'https'}://{host}"
    (tmp_path / host).mkdir()
    (tmp_path / host / "ca.crt").write_text("a CA")
    assert registry.url == f"https://{host}"  # the engine's CA for it: TLS, as the engine does


def private(path: Path, data: Mapping[str, Any]) -> Path:
    path.write_text(json.dumps(data))
    os.chmod(path, 0o600)
    return path


def test_credentials_come_from_a_docker_config_json(tmp_path: Path) -> None:
    auth = base64.b64encode(b"alice:s3cret:with-colon").decode()
    path = private(tmp_path / "c.json", {"auths": {"127.0.0.1:5000": {"auth": auth}}})
    creds = load_credentials(path, "127.0.0.1:5000")
    assert (creds.username, creds.password) == ("alice", "s3cret:with-colon")
    assert "s3cret" not in repr(creds)
    plain = private(
        tmp_path / "p.json", {"auths": {"reg.example.org": {"username": "bob", "password": "pw"}}}
    )
    assert load_credentials(plain, "reg.example.org").auth_config() == {
        "username": "bob",
        "password": "pw",
    }


def test_credentials_others_may_read_or_that_name_another_host_are_refused(tmp_path: Path) -> None:
    path = private(tmp_path / "c.json", {"auths": {"a.example.org": {"auth": "eDp5"}}})
    with pytest.raises(RegistryError, match=r"no entry for b\.example\.org .*a\.example\.org"):
        load_credentials(path, "b.example.org")
    os.chmod(path, 0o644)
    with pytest.raises(RegistryError, match=r"may be read by other users; .*chmod 600"):
        load_credentials(path, "a.example.org")
    with pytest.raises(RegistryError, match="Could not read the registry credentials"):
        load_credentials(tmp_path / "missing.json", "a.example.org")
    bad = tmp_path / "bad.json"
    bad.write_text("user:password")
    os.chmod(bad, 0o600)
    with pytest.raises(RegistryError, match="are not JSON"):
        load_credentials(bad, "a.example.org")


class FakeAPI:
    """The docker-py calls a push and a pull make, answering with a given stream."""

    def __init__(self, chunks: list[dict[str, Any]]) -> None:
        self.chunks = chunks
        self.calls: list[tuple[str, Any]] = []

    def tag(self, image: str, repository: str, tag: str, force: bool) -> None:
        self.calls.append(("tag", f"{repository}:{tag}"))

    def remove_image(self, ref: str, force: bool, noprune: bool) -> None:
        self.calls.append(("remove", ref))

    def push(self, repository: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.calls.append(("push", kwargs["auth_config"]))
        yield from self.chunks

    pull = push


def fake_registry(
    monkeypatch: pytest.MonkeyPatch, chunks: list[dict[str, Any]]
) -> tuple[Registry, FakeAPI]:
    engine = Engine()
    api = FakeAPI(chunks)
    monkeypatch.setattr(engine, "_client", lambda quick=True: api)
    # Nothing listens there: the registry's own answer to "why" is that it cannot be reached.
    address = RegistryAddress(f"127.0.0.1:{closed_port()}", "site")
    creds = RegistryCredentials("alice", "pw", "/etc/creds.json")
    return Registry(engine, address, creds, timeout=2), api


def test_a_push_returns_the_digest_and_leaves_only_our_own_tag(monkeypatch) -> None:
    registry, api = fake_registry(
        monkeypatch,
        [
            {"status": "Preparing", "id": "abc", "progressDetail": {}},
            {"status": "Pushing", "id": "abc", "progress": "[==>  ]"},
            {"status": "latest: digest: sha256:1234 size: 527"},
            {"aux": {"Tag": "x", "Digest": "sha256:1234", "Size": 527}},
        ],
    )
    lines: list[str] = []
    assert registry.push_sync("stardock/env:x", "env", "x", lines.append) == "sha256:1234"
    remote = f"{registry.address.host}/site/env:x"
    assert api.calls == [
        ("tag", remote),
        ("push", {"username": "alice", "password": "pw"}),
        ("remove", remote),
    ]
    assert lines == ["abc Preparing", "latest: digest: sha256:1234 size: 527"]  # no progress bars


def test_an_error_inside_the_push_stream_fails_the_push_with_its_sentence(monkeypatch) -> None:
    registry, api = fake_registry(
        monkeypatch,
        [
            {"status": "Preparing", "id": "abc"},
            {
                "errorDetail": {"message": "denied: requested access"},
                "error": "denied: requested access",
            },
        ],
    )
    with pytest.raises(RegistryError) as info:
        registry.push_sync("stardock/env:x", "env", "x")
    message = str(info.value)
    assert message.startswith(f"Could not push {registry.address.host}/site/env:x: denied: ")
    assert "cannot be reached (connection refused" in message  # the registry's own reason
    assert isinstance(info.value, EngineError)
    assert api.calls[-1] == ("remove", f"{registry.address.host}/site/env:x")  # untagged anyway


def test_a_pull_stream_error_is_a_registry_error(monkeypatch) -> None:
    registry, _ = fake_registry(monkeypatch, [{"error": "manifest unknown"}])
    with pytest.raises(
        RegistryError, match=r"^Could not pull .*/site/env@sha256:9: manifest unknown"
    ):
        registry.pull_sync("env", "sha256:9")


def test_settings_that_cannot_be_used_leave_builds_local_and_say_why(tmp_path: Path) -> None:
    shared = tmp_path / "c.json"
    shared.write_text("{}")
    os.chmod(shared, 0o644)
    service = registry_service(Engine(), "127.0.0.1:5000/site", str(shared))
    assert service is not None and service.registry is None
    said: list[str] = []
    assert service.fetch_sync("stardock/env:abc", said.append) is None
    assert service.publish_sync("stardock/env:abc", said.append).error == service.problem
    assert said and all(s.startswith("Not using the image registry: ") for s in said)
    assert "may be read by other users" in said[0]
    assert registry_service(Engine(), "", "") is None


def test_local_tags_map_to_the_registrys_names() -> None:
    service = registry_service(Engine(), "reg.example.org/site", "")
    assert service is not None
    assert service.reference("stardock-x/env:0123abcd") == "reg.example.org/site/env:0123abcd"
    assert service.reference("stardock/base:latest") == "reg.example.org/site/base:latest"
