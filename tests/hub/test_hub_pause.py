"""On a hub, a user pauses and resumes their kernel through their own server; no one else can."""

from __future__ import annotations

import json
import subprocess

from .conftest import Hub
from .test_hub import RECIPE, build, kernelspec_visible
from .test_hub_exits import kernel_containers


def paused(container: str) -> bool:
    out = subprocess.run(
        ["docker", "inspect", "--format", "{{json .State.Paused}}", container],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return bool(json.loads(out))


def test_a_user_pauses_and_resumes_their_kernel_through_the_service(hub: Hub) -> None:
    env = build(hub, "sdana", RECIPE)
    name = f"stardock-{env}-open"
    kernelspec_visible(hub, "sdana", name)
    kernel = hub.as_user("sdana", "POST", "/api/kernels", {"name": name}, timeout=300)
    base = f"/stardock/api/kernels/{kernel['id']}"
    try:
        (container,) = kernel_containers(kernel["id"])
        reply = hub.as_user("sdana", "POST", f"{base}/pause", {})
        assert reply == {"id": kernel["id"], "state": "paused"}
        assert paused(container)
        # Bob, through his own server, finds no such kernel to resume (or to pause again).
        for action in ("resume", "pause", "suspend"):
            code, body = hub.status("POST", f"/user/sdbob{base}/{action}", "sdbob", {})
            assert code == 404, (action, body)
        assert paused(container)
        code, body = hub.status("POST", f"/user/sdana{base}/pause", "sdana", {})
        assert code == 409 and "paused already" in body["message"]
        code, body = hub.status("POST", f"/user/sdana{base}/suspend", "sdana", {})
        assert code == 409 and "not available in a hub yet" in body["message"]
        assert hub.as_user("sdana", "POST", f"{base}/resume", {})["state"] == "running"
        assert not paused(container)
    finally:
        hub.as_user("sdana", "DELETE", f"/api/kernels/{kernel['id']}", timeout=300)
