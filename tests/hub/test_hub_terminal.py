"""A terminal in a hub user's kernel goes through the service; another user gets 404s.

The user's server holds no engine: its terminal's program opens the shell websocket
at the StarDock service with the user's Hub token, and the service finds the kernel
among that user's own.
"""

from __future__ import annotations

import asyncio
import json
import pwd
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from .conftest import Hub
from .test_hub import build, kernelspec_visible

# The desktop environment the engine and browser tests build: found, not rebuilt.
RECIPE = {"apps": ["astropy", "ds9", "desktop"], "dataset": "open"}


async def connect(hub: Hub, user: str, path: str) -> Any:
    url = hub.url.replace("http://", "ws://") + path
    return await websocket_connect(
        HTTPRequest(url, headers={"Authorization": f"token {hub.tokens[user]}"})
    )


async def shell_output(ws: Any, command: str, until: str, timeout: float = 90) -> str:
    """terminado's protocol: ["stdin", ...] in, ["stdout", ...] out, until ``until`` shows."""
    seen = ""

    async def read() -> None:
        nonlocal seen
        while until not in seen:
            message = await ws.read_message()
            assert message is not None, f"the terminal closed; it showed: {seen[-2000:]}"
            kind, *rest = json.loads(message)
            if kind == "stdout":
                seen += rest[0]

    await ws.write_message(json.dumps(["stdin", command + "\r"]))
    await asyncio.wait_for(read(), timeout)
    return seen


def test_a_terminal_in_a_hub_kernel_and_nobody_elses(hub: Hub) -> None:
    env = build(hub, "sdana", RECIPE)
    name = f"stardock-{env}-open"
    kernelspec_visible(hub, "sdana", name)
    kernel = hub.as_user("sdana", "POST", "/api/kernels", {"name": name}, timeout=300)
    kernel_id = kernel["id"]
    try:
        made = hub.as_user("sdana", "POST", f"/stardock/api/kernels/{kernel_id}/terminal")
        uid = pwd.getpwnam("sdana").pw_uid

        async def in_terminal() -> str:
            ws = await connect(hub, "sdana", f"/user/sdana/terminals/websocket/{made['name']}")
            try:
                return await shell_output(ws, "echo U$(id -u)U $(pwd)", f"U{uid}U /outputs")
            finally:
                ws.close()

        assert f"U{uid}U /outputs" in asyncio.run(in_terminal())

        # Her desktop, through her own server (which relays the websocket to the service).
        started = hub.as_user("sdana", "POST", f"/stardock/api/kernels/{kernel_id}/desktop")
        assert started["websocket"] == f"kernels/{kernel_id}/desktop/websocket"

        async def greeting() -> bytes:
            ws = await connect(
                hub, "sdana", f"/user/sdana/stardock/api/kernels/{kernel_id}/desktop/websocket"
            )
            try:
                message = await asyncio.wait_for(ws.read_message(), 30)
                return message if isinstance(message, bytes) else b""
            finally:
                ws.close()

        assert asyncio.run(greeting()).startswith(b"RFB 003.00")

        # Bob: through his own server and straight at the service, both routes are 404s.
        service = "/services/stardock/stardock/api"
        for base in ("/user/sdbob/stardock/api", service):
            code, body = hub.status("POST", f"{base}/kernels/{kernel_id}/terminal", "sdbob")
            assert code == 404, (base, code, body)
            code, body = hub.status("POST", f"{base}/kernels/{kernel_id}/desktop", "sdbob")
            assert code == 404, (base, code, body)

        async def bobs_websockets() -> list[int]:
            codes = []
            for base in ("/user/sdbob/stardock/api", service):
                for path in ("shell", "desktop/websocket"):
                    with pytest.raises(HTTPClientError) as err:
                        await connect(hub, "sdbob", f"{base}/kernels/{kernel_id}/{path}")
                    codes.append(err.value.code)
            return codes

        assert asyncio.run(bobs_websockets()) == [404, 404, 404, 404]
        # A typo'd id is a sentence, not a terminal that closes at once.
        code, body = hub.status(
            "POST", "/user/sdana/stardock/api/kernels/0badc0de/terminal", "sdana"
        )
        assert code == 404 and "no running StarDock kernel" in body["message"], body
    finally:
        hub.as_user("sdana", "DELETE", f"/api/kernels/{kernel_id}")
