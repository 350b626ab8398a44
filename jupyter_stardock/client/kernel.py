"""Running code in a kernel on the Jupyter server, over its websocket, as JupyterLab does.

Synchronous on purpose (websocket-client, a dependency of jupyter_server): the
``%%stardock`` magic runs inside a kernel whose event loop is busy running the
cell. Requests are made by jupyter_client's ``Session`` (headers, ids, dates, the
protocol version), as any Jupyter client makes them; importing it costs about
0.15 s, which only a magic pays, inside a kernel that has loaded it already. Every message the remote kernel sends in reply to our request is handed
to a callback, which the magic turns into output of the current cell.
"""

from __future__ import annotations

import contextlib
import json
import struct
import time
from collections.abc import Callable
from typing import Any

import websocket
from jupyter_client.session import Session

from ..errors import ClientError, ExecutionFailed, KernelGone, ServerUnreachable
from .api import StarDockClient

__all__ = ["ExecutionFailed", "KernelGone", "RemoteKernel", "decode_message"]

#: Message types of a request's output, in the order a notebook shows them.
OUTPUT_TYPES = ("stream", "display_data", "update_display_data", "execute_result", "clear_output")


def decode_message(frame: str | bytes) -> dict[str, Any]:
    """A kernel message from a websocket frame: JSON text, or the binary form with buffers."""
    if isinstance(frame, str):
        return dict(json.loads(frame))
    # jupyter_server's binary frame: count, offsets, then the JSON message and its buffers.
    (count,) = struct.unpack("!I", frame[:4])
    offsets = [*struct.unpack(f"!{count}I", frame[4 : 4 + 4 * count]), len(frame)]
    message = dict(json.loads(frame[offsets[0] : offsets[1]].decode("utf-8")))
    message["buffers"] = [frame[offsets[i] : offsets[i + 1]] for i in range(1, count)]
    return message


class RemoteKernel:
    """One kernel running on the server, with a websocket kept open between cells."""

    def __init__(
        self, client: StarDockClient, kernel_id: str, *, poll_seconds: float = 5.0
    ) -> None:
        self.client = client
        self.kernel_id = kernel_id
        # Only builds and packs messages: the websocket carries them, so no key signs them.
        self.session = Session(username="stardock", key=b"")
        self.poll_seconds = poll_seconds
        self._ws: websocket.WebSocket | None = None

    @classmethod
    def start(
        cls, client: StarDockClient, kernelspec: str, *, ready_timeout: float = 120
    ) -> RemoteKernel:
        """Start a kernel of ``kernelspec`` and wait until it answers."""
        kernel = cls(client, client.start_kernel(kernelspec)["id"])
        try:
            kernel.wait_ready(ready_timeout)
        except BaseException:
            with contextlib.suppress(ClientError):
                kernel.shutdown()
            raise
        return kernel

    # -- connection -------------------------------------------------------

    @property
    def ws_url(self) -> str:
        base = self.client.server.url
        scheme = "wss" if base.startswith("https") else "ws"
        rest = base.split("://", 1)[1]
        return f"{scheme}://{rest}api/kernels/{self.kernel_id}/channels?session_id={self.session.session}"

    def _socket(self) -> websocket.WebSocket:
        if self._ws is not None and self._ws.connected:
            return self._ws
        if self.client.kernel(self.kernel_id) is None:
            raise KernelGone(f"The StarDock kernel {self.kernel_id} is no longer running.")
        try:
            self._ws = websocket.create_connection(
                self.ws_url,
                header=[f"{k}: {v}" for k, v in self.client.headers.items()],
                timeout=self.client.timeout,
                suppress_origin=True,
            )
        except (websocket.WebSocketException, OSError) as err:
            raise ServerUnreachable(
                f"Could not open the channels of kernel {self.kernel_id} at "
                f"{self.client.server.url}: {err}."
            ) from None
        return self._ws

    def alive(self) -> bool:
        if self._ws is not None and self._ws.connected:
            return True
        model = self.client.kernel(self.kernel_id)
        return model is not None and model.get("execution_state") != "dead"

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None

    def _send(self, msg_type: str, content: dict[str, Any]) -> str:
        message = {**self.session.msg(msg_type, content), "channel": "shell", "buffers": []}
        frame = self.session.pack(message).decode("utf-8")  # JSON, its date in ISO 8601
        try:
            self._socket().send(frame)
        except (websocket.WebSocketException, OSError):
            self.close()  # the server may have restarted the socket: one fresh try
            self._socket().send(frame)
        return str(message["header"]["msg_id"])

    def _receive(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or None when ``timeout`` seconds pass without one."""
        ws = self._socket()
        ws.settimeout(timeout)
        try:
            opcode, frame = ws.recv_data()
        except websocket.WebSocketTimeoutException:
            return None
        except (websocket.WebSocketException, OSError):
            self.close()
            self._check_alive()
            return None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            self.close()
            self._check_alive()
            return None
        if opcode == websocket.ABNF.OPCODE_TEXT:
            return decode_message(frame.decode("utf-8"))
        return decode_message(frame)

    def _check_alive(self) -> None:
        model = self.client.kernel(self.kernel_id)
        if model is None or model.get("execution_state") == "dead":
            self.close()
            raise KernelGone(
                f"The StarDock kernel {self.kernel_id} stopped (shut down, culled or crashed); "
                "run the cell again to start a new one."
            )

    # -- requests ---------------------------------------------------------

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            msg_id = self._send("kernel_info_request", {})
            until = min(deadline, time.monotonic() + 2)
            while time.monotonic() < until:
                message = self._receive(max(0.1, until - time.monotonic()))
                if (
                    message is not None
                    and message.get("msg_type") == "kernel_info_reply"
                    and message.get("parent_header", {}).get("msg_id") == msg_id
                ):
                    return
            if time.monotonic() >= deadline:
                raise ClientError(
                    f"The StarDock kernel {self.kernel_id} did not answer within {timeout:g} "
                    "seconds; the server's log says why."
                )

    def execute(
        self, code: str, on_output: Callable[[str, dict[str, Any]], None]
    ) -> dict[str, Any]:
        """Run ``code``; each output message goes to ``on_output(msg_type, content)``.

        Returns the execute reply's content; raises ExecutionFailed when the code
        raised. A KeyboardInterrupt interrupts the remote kernel, waits for it to
        stop, and is raised again.
        """
        msg_id = self._send(
            "execute_request",
            {
                "code": code,
                "silent": False,
                "store_history": True,
                "allow_stdin": False,
                "stop_on_error": True,
            },
        )
        failure: ExecutionFailed | None = None
        reply: dict[str, Any] | None = None
        idle = False
        interrupted = False
        while not (idle and reply is not None):
            try:
                message = self._receive(self.poll_seconds)
            except KeyboardInterrupt:
                if interrupted:
                    raise
                interrupted = True
                self.client.interrupt_kernel(self.kernel_id)
                continue
            if message is None:
                self._check_alive()
                continue
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message.get("msg_type", ""), message.get("content", {})
            if kind in OUTPUT_TYPES:
                on_output(kind, content)
            elif kind == "error":
                failure = ExecutionFailed(
                    content.get("ename", "Error"),
                    content.get("evalue", ""),
                    list(content.get("traceback") or ()),
                )
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
            elif kind == "execute_reply":
                reply = content
        if failure is not None:
            raise failure  # an interrupted cell ends with the remote KeyboardInterrupt
        if interrupted:
            raise KeyboardInterrupt
        assert reply is not None
        return reply

    def shutdown(self) -> None:
        self.close()
        self.client.shutdown_kernel(self.kernel_id)
