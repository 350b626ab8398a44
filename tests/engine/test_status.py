"""GET /stardock/api/status against the real engine, and its failure modes."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_stardock import __version__


@pytest.fixture
def jp_server_config(jp_server_config):  # type: ignore[no-untyped-def]
    return {"ServerApp": {"jpserver_extensions": {"jupyter_stardock": True}}}


async def test_status_reports_the_real_engine(jp_fetch, base_image):  # type: ignore[no-untyped-def]
    response = await jp_fetch("stardock", "api", "status")
    assert response.code == 200
    body = json.loads(response.body)
    cli = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert body["engine"]["version"] == cli[0]
    assert body["engine"]["api_version"] == cli[1]
    assert body["engine"]["storage_driver"]
    assert body["engine"]["os"]
    assert body["version"] == __version__
    assert body["base_image"]["exists"] is True
    assert body["base_image"]["id"] == base_image
    assert body["base_image"]["name"] == "stardock/base:latest"


@pytest.fixture
def unreachable_config(tmp_path):  # type: ignore[no-untyped-def]
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_stardock": True}},
        "StarDockApp": {"docker_host": f"unix://{tmp_path}/nothing-listens.sock"},
    }


class TestUnreachable:
    @pytest.fixture
    def jp_server_config(self, unreachable_config):  # type: ignore[no-untyped-def]
        # A real socket file with no listener, not just a missing path.
        import socket

        path = unreachable_config["StarDockApp"]["docker_host"].removeprefix("unix://")
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(path)
        sock.close()
        return unreachable_config

    async def test_503_fast_with_a_sentence(self, jp_fetch):  # type: ignore[no-untyped-def]
        start = time.monotonic()
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch("stardock", "api", "status")
        elapsed = time.monotonic() - start
        assert info.value.code == 503
        body = json.loads(info.value.response.body)
        assert "nothing-listens.sock" in body["message"]
        assert "Start the engine" in body["message"]
        assert body["version"] == __version__
        assert elapsed < 2.0


class TestNoBlackhole:
    """A TCP address that never answers still gets its 503 within the limit."""

    @pytest.fixture
    def jp_server_config(self):  # type: ignore[no-untyped-def]
        import socket

        # A listening socket that never accepts: connects hang in the backlog.
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        port = self.listener.getsockname()[1]
        return {
            "ServerApp": {"jpserver_extensions": {"jupyter_stardock": True}},
            "StarDockApp": {"docker_host": f"tcp://127.0.0.1:{port}", "engine_timeout": 1.0},
        }

    async def test_503_within_two_seconds(self, jp_fetch):  # type: ignore[no-untyped-def]
        start = time.monotonic()
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch("stardock", "api", "status")
        assert info.value.code == 503
        assert time.monotonic() - start < 2.0
        self.listener.close()
