"""A process inside a running container, with its stdio as one socket (``docker exec``).

docker-py's ``exec_create`` + ``exec_start(socket=True)`` hand back the engine's
hijacked HTTP connection: with a tty it carries the terminal's bytes both ways;
without one, what the process writes comes in docker's 8-byte framed stream
(``frames``). Each exec gets its own client, because the hijacked connection is
never given back to a pool, and reads without a timeout (a shell may be idle for
hours). Everything here blocks: callers run it in a thread.

Never ``privileged``: a privileged exec gets every capability whatever the
container was started with. A plain exec inherits the container's capability
set, no-new-privileges, cgroup (its memory counts against the kernel's limit)
and namespaces (no network when the container has none).
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .connection import Connections

__all__ = ["ExecStream", "Execs", "frames"]

_HEADER = struct.Struct(">BxxxL")


@dataclass
class ExecStream:
    """One running exec: its id, its raw socket, and the client that keeps it open."""

    exec_id: str
    sock: socket.socket
    _connections: Connections

    def resize(self, rows: int, cols: int) -> None:
        """The tty's new size (the engine sends the process SIGWINCH)."""
        api = self._connections.client(quick=True)
        self._connections.call(lambda: api.exec_resize(self.exec_id, height=rows, width=cols))

    def exit_code(self) -> int | None:
        """The process's exit status once it ended; None while it runs."""
        api = self._connections.client(quick=True)
        info: dict[str, Any] = self._connections.call(lambda: api.exec_inspect(self.exec_id))
        return None if info.get("Running") else info.get("ExitCode")

    def close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        self._connections.forget()


class Execs:
    """Starts processes in containers of one engine, as the container's own user."""

    def __init__(self, base_url: str | None, timeout: float = 10.0) -> None:
        self.base_url = base_url
        self.timeout = timeout

    def _create(
        self,
        container_id: str,
        argv: Sequence[str],
        *,
        user: str,
        workdir: str | None,
        environment: Mapping[str, str] | None,
        tty: bool,
        stdin: bool,
    ) -> tuple[Connections, str]:
        """A fresh client (its connection will be hijacked) and the new exec's id."""
        connections = Connections(self.base_url, self.timeout)
        api = connections.client(quick=True)
        created: dict[str, Any] = connections.call(
            lambda: api.exec_create(
                container_id,
                list(argv),
                stdout=True,
                stderr=True,
                stdin=stdin,
                tty=tty,
                privileged=False,
                user=user,
                environment=dict(environment or {}),
                workdir=workdir,
            )
        )
        return connections, str(created["Id"])

    def open(
        self,
        container_id: str,
        argv: Sequence[str],
        *,
        user: str,
        workdir: str | None = None,
        environment: Mapping[str, str] | None = None,
        tty: bool = True,
        size: tuple[int, int] | None = None,
        stdin: bool = True,
    ) -> ExecStream:
        """Start ``argv`` (stdin open unless told); its stdio is the returned stream's socket."""
        connections, exec_id = self._create(
            container_id,
            argv,
            user=user,
            workdir=workdir,
            environment=environment,
            tty=tty,
            stdin=stdin,
        )
        api = connections.client(quick=False)
        raw = connections.call(lambda: api.exec_start(exec_id, tty=tty, socket=True))
        # Over a unix socket docker-py returns a SocketIO; the socket is underneath it.
        sock: socket.socket = getattr(raw, "_sock", raw)
        sock.settimeout(None)
        stream = ExecStream(exec_id, sock, connections)
        if tty and size is not None:
            stream.resize(*size)
        return stream

    def run(
        self,
        container_id: str,
        argv: Sequence[str],
        *,
        user: str,
        environment: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """Run ``argv`` to its end: its exit status and what it wrote (stdout, then stderr)."""
        stream = self.open(
            container_id, argv, user=user, environment=environment, tty=False, stdin=False
        )
        try:
            out = {1: b"", 2: b""}
            for kind, chunk in frames(stream.sock):
                out[kind if kind in out else 2] += chunk
            code = stream.exit_code()
        finally:
            stream.close()
        return (-1 if code is None else code), out[1] + out[2]


def frames(sock: socket.socket) -> Iterator[tuple[int, bytes]]:
    """(stream, bytes) of a non-tty exec's output: 1 is stdout, 2 stderr; ends at EOF."""
    buffer = b""
    while True:
        while len(buffer) < _HEADER.size:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buffer += chunk
        kind, length = _HEADER.unpack_from(buffer)
        while len(buffer) < _HEADER.size + length:
            chunk = sock.recv(max(65536, length))
            if not chunk:
                return
            buffer += chunk
        yield kind, buffer[_HEADER.size : _HEADER.size + length]
        buffer = buffer[_HEADER.size + length :]
