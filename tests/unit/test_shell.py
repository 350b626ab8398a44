"""The pieces of `jupyter stardock shell` and the exec bridge that need no engine."""

from __future__ import annotations

import socket
import struct
from typing import Any

import pytest

from jupyter_stardock.client.discovery import ServerInfo
from jupyter_stardock.client.shell import _exit_status, resolve_kernel, shell_url
from jupyter_stardock.engine.exec import frames
from jupyter_stardock.errors import ClientError
from jupyter_stardock.server.terminal_handlers import shell_program


class Listing:
    """A client whose kernel listing is given."""

    def __init__(self, kernels: list[dict[str, Any]]) -> None:
        self.kernels = kernels
        self.server = ServerInfo("http://127.0.0.1:8888/base/", "t")

    def stardock_kernels(self) -> list[dict[str, Any]]:
        return self.kernels


KERNELS = [
    {"id": "3f2a9c1e-aaaa", "state": "running"},
    {"id": "3f2b0000-bbbb", "state": "running"},
    {"id": "77770000-cccc", "state": "exited"},
]


def test_a_kernel_is_named_by_its_id_or_a_unique_prefix() -> None:
    client: Any = Listing(KERNELS)
    assert resolve_kernel(client, "3f2a9c1e-aaaa") == "3f2a9c1e-aaaa"
    assert resolve_kernel(client, "3f2b") == "3f2b0000-bbbb"
    with pytest.raises(ClientError, match="names several of your kernels"):
        resolve_kernel(client, "3f2")
    with pytest.raises(ClientError, match="no running StarDock kernel '7777'"):
        resolve_kernel(client, "7777")  # stopped kernels have no shell


def test_a_typo_lists_the_running_kernels() -> None:
    with pytest.raises(ClientError) as err:
        resolve_kernel(Listing(KERNELS), "nope")  # type: ignore[arg-type]
    assert "3f2a9c1e-aaaa, 3f2b0000-bbbb" in str(err.value)
    with pytest.raises(ClientError, match="Your running kernels: none"):
        resolve_kernel(Listing([]), "nope")  # type: ignore[arg-type]


def test_the_websocket_address_keeps_the_base_url_and_the_size() -> None:
    client: Any = Listing([])
    assert shell_url(client, "k1", (24, 80)) == (
        "ws://127.0.0.1:8888/base/stardock/api/kernels/k1/shell?rows=24&cols=80"
    )
    client.server = ServerInfo("https://hub.example/services/stardock/", "t")
    assert shell_url(client, "k1", None).startswith("wss://hub.example/services/stardock/")


def test_the_exit_status_comes_from_the_close_reason() -> None:
    assert _exit_status(struct.pack(">H", 1000) + b"exit 3") == 3
    assert _exit_status(struct.pack(">H", 1000) + b"exited") == 0
    assert _exit_status(b"") == 0


def test_frames_split_docker_multiplexed_output() -> None:
    a, b = socket.socketpair()
    payload = struct.pack(">BxxxL", 1, 5) + b"hello" + struct.pack(">BxxxL", 2, 3) + b"err"
    # Split mid-header and mid-body, as a socket may deliver it.
    a.sendall(payload[:3])
    a.sendall(payload[3:10] + payload[10:] + struct.pack(">BxxxL", 1, 2) + b"ok")
    a.close()
    assert list(frames(b)) == [(1, b"hello"), (2, b"err"), (1, b"ok")]


def test_the_terminal_runs_this_interpreter_and_the_shell_module() -> None:
    argv = shell_program("k1")
    assert argv[1:] == ["-m", "jupyter_stardock.cli.shell", "k1"]
