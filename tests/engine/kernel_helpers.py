"""Talking to a kernel over jupyter_server's websocket, as JupyterLab does."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any


def _message(msg_type: str, content: dict[str, Any], channel: str = "shell") -> dict[str, Any]:
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "username": "test",
            "session": uuid.uuid4().hex,
            "version": "5.3",
            "date": "",
        },
        "parent_header": {},
        "metadata": {},
        "content": content,
        "channel": channel,
        "buffers": [],
    }


async def execute(ws: Any, code: str, timeout: float = 120) -> dict[str, Any]:
    """Run code; returns stdout, stderr, the error (ename) and display data of that request."""
    request = _message(
        "execute_request",
        {"code": code, "silent": False, "store_history": False, "allow_stdin": False},
    )
    await ws.write_message(json.dumps(request))
    result: dict[str, Any] = {
        "stdout": "",
        "stderr": "",
        "error": None,
        "display": [],
        "status": None,
    }
    msg_id = request["header"]["msg_id"]
    idle = reply = False

    async def read() -> None:
        nonlocal idle, reply
        while not (idle and reply):
            raw = await ws.read_message()
            if raw is None:
                raise ConnectionError("the kernel websocket closed")
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                result[content["name"]] += content["text"]
            elif kind == "error":
                result["error"] = content["ename"]
            elif kind in ("display_data", "execute_result"):
                result["display"].append(content["data"])
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
            elif kind == "execute_reply":
                reply = True
                result["status"] = content["status"]

    await asyncio.wait_for(read(), timeout)
    return result


async def wait_ready(ws: Any, timeout: float = 60) -> None:
    """kernel_info until the kernel answers on shell *and* iopub (it may still be starting).

    After a restart the shell reply can come before the server's iopub subscription
    is live; an execute then would lose its output. The status messages a
    kernel_info_request causes on iopub show that it is.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        request = _message("kernel_info_request", {})
        await ws.write_message(json.dumps(request))
        replied = published = False
        try:
            while not (replied and published):
                raw = await asyncio.wait_for(ws.read_message(), 2)
                msg = json.loads(raw)
                if msg["parent_header"].get("msg_id") != request["header"]["msg_id"]:
                    continue
                replied = replied or msg["msg_type"] == "kernel_info_reply"
                published = published or msg["msg_type"] == "status"
            return
        except TimeoutError:
            if asyncio.get_running_loop().time() > deadline:
                raise
