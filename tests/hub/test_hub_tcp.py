"""Across the boundary over TCP: the user's server reaches the kernel with its per-kernel CurveZMQ keys."""

from __future__ import annotations

import asyncio
import json
import pwd
from pathlib import Path

from ..engine.kernel_helpers import execute, wait_ready
from .conftest import Hub
from .test_hub import build, channels, kernelspec_visible


def test_kernel_over_tcp_with_curve_keys(tcp_hub: Hub) -> None:
    env = build(tcp_hub, "sdcarl", {"commands": ["echo tcp-hub"], "dataset": "open"})
    name = f"stardock-{env}-open"
    kernelspec_visible(tcp_hub, "sdcarl", name)
    kernel = tcp_hub.as_user("sdcarl", "POST", "/api/kernels", {"name": name}, timeout=300)
    try:

        async def run() -> dict:
            ws = await channels(tcp_hub, "sdcarl", kernel["id"])
            await wait_ready(ws)
            out = await execute(ws, "import os; print(os.getuid(), len(os.listdir('/data')))")
            ws.close()
            return out

        out = asyncio.run(run())
        assert out["error"] is None, out
        assert out["stdout"].split() == [str(pwd.getpwnam("sdcarl").pw_uid), "5"]
        # The connection the user's server holds: TCP on loopback, with the kernel's keys.
        home = Path(pwd.getpwnam("sdcarl").pw_dir)
        (conn,) = home.glob(f".local/share/jupyter/runtime/kernel-{kernel['id']}.json")
        info = json.loads(conn.read_text())
        assert info["transport"] == "tcp" and info["ip"] == "127.0.0.1"
        assert info.get("curve_publickey") and info.get("curve_secretkey")
    finally:
        tcp_hub.as_user("sdcarl", "DELETE", f"/api/kernels/{kernel['id']}")
