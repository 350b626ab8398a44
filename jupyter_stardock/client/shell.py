"""``jupyter stardock shell KERNEL``: this terminal becomes a shell inside the kernel's container.

It opens ``/stardock/api/kernels/<id>/shell`` (a websocket the server, or in a hub
the StarDock service, bridges to a ``docker exec`` of the user's shell as the
kernel's user) and copies bytes between it and this process's tty: keystrokes go
as binary frames, the window size as ``{"resize": [rows, cols]}`` whenever it
changes, the shell's output comes back as binary frames. JupyterLab's terminals
of a kernel run this same program on their pty.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import sys
import termios
import time
import tty
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import websocket

from ..errors import ClientError, ServerUnreachable
from .api import StarDockClient

__all__ = ["OPEN_MIME", "open_desktop", "open_terminal", "resolve_kernel", "run_shell", "shell_url"]

#: The output the panel renders as an "Open" button (opened at once when just made).
OPEN_MIME = "application/vnd.jupyter.stardock.open+json"


def resolve_kernel(client: StarDockClient, ref: str) -> str:
    """The id of the caller's running kernel ``ref`` names (the whole id or a unique prefix)."""
    kernels = [k for k in client.stardock_kernels() if k.get("state", "running") == "running"]
    ids = [str(k["id"]) for k in kernels]
    if not ref:
        matches = ids
    else:
        matches = [i for i in ids if i == ref] or [i for i in ids if i.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    listing = ", ".join(ids[:8]) if ids else "none"
    if not ref:
        raise ClientError(f"Name one of your running StarDock kernels: {listing}.")
    if matches:
        raise ClientError(f"{ref!r} names several of your kernels ({listing}); give more of it.")
    raise ClientError(
        f"There is no running StarDock kernel {ref!r} of yours. Your running kernels: {listing} "
        "(`jupyter stardock kernels` lists them; start one from the launcher)."
    )


def _pick(client: StarDockClient, ref: str | None, preferred: Sequence[str]) -> str:
    """The kernel named, else the one this notebook started, else the only one running."""
    if ref:
        return resolve_kernel(client, ref)
    if len(preferred) == 1:
        return preferred[0]
    return resolve_kernel(client, "")


def open_terminal(
    client: StarDockClient, ref: str | None, preferred: Sequence[str] = ()
) -> dict[str, Any]:
    """Create a JupyterLab terminal in the kernel; the display bundle that opens it."""
    kernel_id = _pick(client, ref, preferred)
    made = client.api("POST", f"kernels/{kernel_id}/terminal")
    link = urllib.parse.urljoin(client.server.url, str(made["url"]))
    return _bundle(
        f"Terminal {made['name']} in kernel {kernel_id}: {link}",
        {"action": "terminal", "name": made["name"], "kernel": kernel_id},
    )


def open_desktop(
    client: StarDockClient, ref: str | None, preferred: Sequence[str] = ()
) -> dict[str, Any]:
    """Start the kernel's desktop; the display bundle that opens its tab."""
    kernel_id = _pick(client, ref, preferred)
    client.api("POST", f"kernels/{kernel_id}/desktop")
    return _bundle(
        f"The desktop of kernel {kernel_id} runs (DISPLAY=:1 in the kernel); open it from "
        "the StarDock panel's running kernels, or with this output's button.",
        {"action": "desktop", "kernel": kernel_id},
    )


def _bundle(text: str, action: dict[str, Any]) -> dict[str, Any]:
    return {"text/plain": text, OPEN_MIME: {**action, "created": time.time()}}


def shell_url(client: StarDockClient, kernel_id: str, size: tuple[int, int] | None) -> str:
    base = client.server.url
    scheme = "wss" if base.startswith("https") else "ws"
    query = f"?{urllib.parse.urlencode({'rows': size[0], 'cols': size[1]})}" if size else ""
    return f"{scheme}://{base.split('://', 1)[1]}stardock/api/kernels/{kernel_id}/shell{query}"


def _size(fd: int) -> tuple[int, int] | None:
    try:
        columns, lines = os.get_terminal_size(fd)
    except OSError:
        return None
    return lines, columns


def _connect(
    client: StarDockClient, kernel_id: str, size: tuple[int, int] | None
) -> websocket.WebSocket:
    try:
        return websocket.create_connection(
            shell_url(client, kernel_id, size),
            header=[f"{k}: {v}" for k, v in client.headers.items()],
            timeout=client.timeout,
            suppress_origin=True,
            enable_multithread=True,
        )
    except websocket.WebSocketBadStatusException as err:
        if err.status_code == 404:
            raise ClientError(
                f"The server has no running StarDock kernel {kernel_id!r} of yours."
            ) from None
        raise ClientError(
            f"The server refused a shell in kernel {kernel_id} ({err.status_code})."
        ) from None
    except (websocket.WebSocketException, OSError) as err:
        raise ServerUnreachable(
            f"Could not open a shell in kernel {kernel_id} at {client.server.url}: {err}."
        ) from None


@contextlib.contextmanager
def _raw(fd: int) -> Iterator[None]:
    """The local tty passes every key (Ctrl-C included) to the remote shell."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSANOW)  # keep what was typed before the shell came up
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _exit_status(frame: bytes) -> int:
    reason = frame[2:].decode(errors="replace")
    word = reason.rsplit(" ", 1)[-1]
    return int(word) if reason.startswith("exit ") and word.isdigit() else 0


def run_shell(
    client: StarDockClient,
    kernel_id: str,
    *,
    stdin: int = 0,
    stdout: BinaryIO | None = None,
) -> int:
    """Bridge this process's stdin/stdout to the kernel's shell; returns its exit status."""
    out = stdout if stdout is not None else sys.stdout.buffer
    ws = _connect(client, kernel_id, _size(stdin))
    ws.settimeout(None)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    previous = signal.signal(signal.SIGWINCH, lambda *_: None)
    old_wakeup = signal.set_wakeup_fd(wake_w)
    sock = ws.sock
    assert sock is not None  # connected
    watched: list[int | socket.socket] = [sock, stdin, wake_r]
    try:
        with _raw(stdin):
            while True:
                ready, _, _ = select.select(watched, [], [])
                if wake_r in ready:
                    os.read(wake_r, 512)
                    size = _size(stdin)
                    if size is not None:
                        ws.send(json.dumps({"resize": list(size)}))
                if stdin in ready:
                    data = os.read(stdin, 65536)
                    if data:
                        ws.send_binary(data)
                    else:
                        watched.remove(stdin)  # piped input ended: keep showing output
                if sock in ready:
                    try:
                        opcode, data = ws.recv_data()
                    except websocket.WebSocketConnectionClosedException:
                        return 0
                    if opcode == websocket.ABNF.OPCODE_CLOSE:
                        return _exit_status(data)
                    out.write(data)
                    out.flush()
    finally:
        signal.set_wakeup_fd(old_wakeup)
        signal.signal(signal.SIGWINCH, previous)
        os.close(wake_r)
        os.close(wake_w)
        with contextlib.suppress(Exception):
            ws.close()
