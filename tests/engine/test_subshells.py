"""Kernel subshells (JEP 91, ipykernel 7) through StarDock kernels, on both transports.

A subshell is created by a ``create_subshell_request`` on the control channel;
an ``execute_request`` whose header names its ``subshell_id`` then runs in its
own thread, so a widget or a second console is answered while the main shell is
busy. Each test proves it by order, not by time: the subshell's reply arrives
before the reply of the main shell's ``time.sleep(10)``.

Hub mode needs no test of its own here: the hub service starts the kernel and
hands its connection info to the user's server (hub/service_kernel.py), whose
kernel websocket then speaks ZeroMQ to the container directly, as below. No
StarDock code relays a kernel channel.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from .conftest import server_config
from .kernel_helpers import wait_ready
from .reach_helpers import base_kernelspec
from .test_kernels import containers_of, start_kernel

SLEEP = "import time; time.sleep(10); print('main done')"
IN_SUBSHELL = "import threading; print('subshell', threading.current_thread().name)"


def _message(
    msg_type: str, content: dict[str, Any], channel: str, subshell: str | None = None
) -> dict[str, Any]:
    header = {
        "msg_id": uuid.uuid4().hex,
        "msg_type": msg_type,
        "username": "test",
        "session": uuid.uuid4().hex,
        "version": "5.4",
        "date": "",
    }
    if subshell is not None:
        header["subshell_id"] = subshell
    return {
        "header": header,
        "parent_header": {},
        "metadata": {},
        "content": content,
        "channel": channel,
        "buffers": [],
    }


def _execute(code: str, subshell: str | None = None) -> dict[str, Any]:
    content = {"code": code, "silent": False, "store_history": False, "allow_stdin": False}
    return _message("execute_request", content, "shell", subshell)


@pytest.fixture(params=["ipc", "tcp-curve"])
def jp_server_config(request: pytest.FixtureRequest, sample_dataset: Any) -> dict[str, Any]:
    config = server_config(sample_dataset)
    if request.param == "tcp-curve":
        config["StarDockProvisioner"] = {"allow_network": True, "encrypt_tcp": True}
    return config


async def test_a_subshell_answers_while_the_main_shell_sleeps(
    jp_fetch, jp_ws_fetch, stardock, base_image, engine, jp_server_config
) -> None:
    spec = base_kernelspec(stardock.kernelspecs)
    kernel_id = await start_kernel(jp_fetch, spec)
    try:
        ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
        await wait_ready(ws)
        (container,) = containers_of(engine, kernel_id)
        ports = engine.inspect_container_sync(container["Id"])["HostConfig"]["PortBindings"]
        tcp = "StarDockProvisioner" in jp_server_config
        assert bool(ports) == tcp  # the transport this case is about

        info = _message("kernel_info_request", {}, "shell")
        await ws.write_message(json.dumps(info))
        create = _message("create_subshell_request", {}, "control")
        replies: dict[str, dict[str, Any]] = {}
        order: list[str] = []

        async def read_until(wanted: str) -> dict[str, Any]:
            """Replies by their request's id; stdout (iopub) by '<id>-stdout'."""
            while wanted not in replies:
                raw = await ws.read_message()
                assert raw is not None, "the kernel websocket closed"
                msg = json.loads(raw)
                parent = msg.get("parent_header", {}).get("msg_id")
                if msg["msg_type"].endswith("_reply"):
                    replies[parent] = msg
                    order.append(parent)
                elif msg["msg_type"] == "stream":
                    out = replies.setdefault(f"{parent}-stdout", {"text": ""})
                    out["text"] += msg["content"]["text"]
            return replies[wanted]

        async def reply_to(request: dict[str, Any]) -> dict[str, Any]:
            return await read_until(request["header"]["msg_id"])

        features = (await asyncio.wait_for(reply_to(info), 30))["content"]
        assert "kernel subshells" in features.get("supported_features", []), features

        main = _execute(SLEEP)
        await ws.write_message(json.dumps(main))
        await ws.write_message(json.dumps(create))
        created = (await asyncio.wait_for(reply_to(create), 30))["content"]
        assert created["status"] == "ok", created
        subshell_id = created["subshell_id"]

        sub = _execute(IN_SUBSHELL, subshell_id)
        await ws.write_message(json.dumps(sub))
        answered = await asyncio.wait_for(reply_to(sub), 30)
        assert answered["content"]["status"] == "ok", answered
        assert main["header"]["msg_id"] not in replies, "the main shell was not busy"
        assert answered["parent_header"].get("subshell_id") == subshell_id
        printed = await asyncio.wait_for(read_until(f"{sub['header']['msg_id']}-stdout"), 30)
        assert printed["text"].startswith("subshell"), printed

        done = await asyncio.wait_for(reply_to(main), 60)
        assert done["content"]["status"] == "ok"
        assert order.index(sub["header"]["msg_id"]) < order.index(main["header"]["msg_id"])

        listed = _message("list_subshell_request", {}, "control")
        await ws.write_message(json.dumps(listed))
        assert (await asyncio.wait_for(reply_to(listed), 30))["content"]["subshell_id"] == [
            subshell_id
        ]
        ws.close()
    finally:
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")
    assert containers_of(engine, kernel_id) == []
