"""On a hub, a user's kernel that died says why, through the user's own server; only to them."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from .conftest import Hub
from .test_hub import RECIPE, build, kernelspec_visible


def kernel_containers(kernel_id: str) -> list[str]:
    """The user's kernel's containers, found by the id the user's server knows it by."""
    found = subprocess.run(
        [
            "docker",
            "ps",
            "-aq",
            "--filter",
            f"label=org.jupyter-stardock.kernel.client-id={kernel_id}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.split()


def test_a_removed_kernel_container_is_explained_to_its_user_only(hub: Hub) -> None:
    env = build(hub, "sdana", RECIPE)
    name = f"stardock-{env}-open"
    kernelspec_visible(hub, "sdana", name)
    kernel = hub.as_user("sdana", "POST", "/api/kernels", {"name": name}, timeout=300)
    path = f"/user/sdana/stardock/api/kernels/{kernel['id']}/exit"
    try:
        assert hub.status("GET", path, "sdana")[0] == 404
        (container,) = kernel_containers(kernel["id"])
        subprocess.run(["docker", "rm", "-f", container], check=True, capture_output=True)

        # The user's server notices (its restarter asks the service), then restarts it.
        deadline = time.monotonic() + 90
        reply: Any = None
        while time.monotonic() < deadline:
            code, reply = hub.status("GET", path, "sdana")
            if code == 200:
                break
            time.sleep(1)
        assert reply["reason"] == "removed", reply
        assert "removed outside JupyterLab" in reply["message"]
        # Bob asks about Ana's kernel, through his own server: there is none for him.
        code, _ = hub.status(
            "GET", f"/user/sdbob/stardock/api/kernels/{kernel['id']}/exit", "sdbob"
        )
        assert code == 404
    finally:
        # Not while it restarts: jupyter_client cannot shut a kernel down half-started.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            model = hub.as_user("sdana", "GET", f"/api/kernels/{kernel['id']}")
            if kernel_containers(kernel["id"]) and model["execution_state"] == "idle":
                break
            time.sleep(1)
        hub.as_user("sdana", "DELETE", f"/api/kernels/{kernel['id']}", timeout=300)
