"""Two users on one hub: each builds and runs kernels through the service; neither sees the other."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from ..engine.kernel_helpers import execute, wait_ready
from .conftest import VENV, Hub


def wait_build(hub: Hub, user: str, build_id: str, timeout: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        build = hub.as_user(user, "GET", f"/stardock/api/builds/{build_id}")
        if build["state"] not in ("queued", "running"):
            return build
        assert time.monotonic() < deadline, build
        time.sleep(1)


def build(hub: Hub, user: str, recipe: dict[str, Any]) -> str:
    """Build (or find) through the user's own server; returns the environment id."""
    reply = hub.as_user(user, "POST", "/stardock/api/builds", recipe)
    if reply["build"] is not None:
        done = wait_build(hub, user, reply["build"]["id"])
        assert done["state"] == "succeeded", done
        return str(done["environment_id"])
    return str(reply["environment"]["id"])


def kernelspec_visible(hub: Hub, user: str, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while name not in hub.as_user(user, "GET", "/api/kernelspecs")["kernelspecs"]:
        assert time.monotonic() < deadline, f"{name} never reached {user}'s server"
        time.sleep(1)


async def channels(hub: Hub, user: str, kernel_id: str) -> Any:
    url = hub.url.replace("http://", "ws://") + f"/user/{user}/api/kernels/{kernel_id}/channels"
    return await websocket_connect(
        HTTPRequest(url, headers={"Authorization": f"token {hub.tokens[user]}"})
    )


MARK = uuid.uuid4().hex[:8]
RECIPE = {"commands": [f"echo hub-test-{MARK}"], "dataset": "open"}


def test_each_user_builds_and_runs_a_kernel_through_the_service(hub: Hub) -> None:
    env = build(hub, "sdana", RECIPE)
    name = f"stardock-{env}-open"
    kernelspec_visible(hub, "sdana", name)
    kernel = hub.as_user("sdana", "POST", "/api/kernels", {"name": name}, timeout=300)

    async def run() -> dict[str, Any]:
        ws = await channels(hub, "sdana", kernel["id"])
        await wait_ready(ws)
        out = await execute(
            ws,
            "import os\nprint(os.getuid(), sorted(os.listdir('/data'))[0])\n"
            "open('/outputs/ana.txt', 'w').write('mine')",
        )
        ws.close()
        return out

    out = asyncio.run(run())
    assert out["error"] is None, out
    uid, first = out["stdout"].split()
    assert int(uid) == pwd.getpwnam("sdana").pw_uid  # the kernel runs as the user
    assert first == "README.txt"
    (mine,) = hub.as_user("sdana", "GET", "/stardock/api/kernels")["kernels"]
    outputs = Path(pwd.getpwnam("sdana").pw_dir) / mine["outputs"] / "ana.txt"
    assert outputs.stat().st_uid == pwd.getpwnam("sdana").pw_uid

    # Bob builds the identical recipe: the shared image, no rebuild, no word of Ana.
    reply = hub.as_user("sdbob", "POST", "/stardock/api/builds", RECIPE)
    assert reply["build"] is None and reply["environment"]["id"] == env
    assert "sdana" not in json.dumps(reply)

    hub.as_user("sdana", "DELETE", f"/api/kernels/{kernel['id']}")
    archives = hub.as_user("sdana", "GET", "/stardock/api/archives")["archives"]
    assert any(a["id"] == kernel["id"] for a in archives)


def _ipc_folder(kernel_id: str) -> Path:
    """The host folder of a kernel's ipc sockets, from its container's mounts."""
    found = subprocess.run(
        [
            "docker",
            "ps",
            "-q",
            "--filter",
            f"label=org.jupyter-stardock.kernel.client-id={kernel_id}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    (container,) = found
    mounts = json.loads(
        subprocess.run(
            ["docker", "inspect", "--format", "{{json .Mounts}}", container],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    return Path(next(m["Source"] for m in mounts if m["Destination"] == "/run/stardock/ipc"))


def test_users_cannot_see_or_touch_each_others_things(hub: Hub) -> None:
    private = {"commands": [f"echo private-{MARK}"], "dataset": "ana-only"}
    reply = hub.as_user("sdana", "POST", "/stardock/api/builds", private)
    build_id = reply["build"]["id"]
    env = wait_build(hub, "sdana", build_id)["environment_id"]
    name = f"stardock-{env}-ana-only"
    kernelspec_visible(hub, "sdana", name)
    kernel = hub.as_user("sdana", "POST", "/api/kernels", {"name": name}, timeout=300)
    try:
        service = "/services/stardock/"  # through the hub's proxy, as any user could
        # Bob, through his own server and straight at the service: nothing of Ana's exists.
        for base in ("/user/sdbob/stardock/api", f"{service}stardock/api"):
            assert build_id not in json.dumps(hub.status("GET", f"{base}/builds", "sdbob")[1])
            assert hub.status("GET", f"{base}/builds/{build_id}", "sdbob")[0] == 404
            assert hub.status("GET", f"{base}/builds/{build_id}/log", "sdbob")[0] == 404
            assert hub.status("DELETE", f"{base}/builds/{build_id}", "sdbob")[0] == 404
            assert env not in json.dumps(hub.status("GET", f"{base}/environments", "sdbob")[1])
            assert hub.status("GET", f"{base}/environments/{env}/dockerfile", "sdbob")[0] == 404
            assert hub.status("DELETE", f"{base}/environments/{env}", "sdbob")[0] == 404
            assert kernel["id"] not in json.dumps(hub.status("GET", f"{base}/kernels", "sdbob")[1])
            assert hub.status("GET", f"{base}/service/kernels/{kernel['id']}", "sdbob")[0] == 404
            assert (
                hub.status(
                    "POST", f"{base}/service/kernels/{kernel['id']}/signal", "sdbob", {"signum": 9}
                )[0]
                == 404
            )
            assert hub.status("DELETE", f"{base}/service/kernels/{kernel['id']}", "sdbob")[0] == 404
            # Starting a kernel on Ana's private environment by naming it.
            code, _ = hub.status(
                "POST",
                f"{base}/service/kernels",
                "sdbob",
                {"kernel_id": str(uuid.uuid4()), "environment": env, "dataset": None},
            )
            assert code == 404
            # A dataset not granted to him: 403 with a sentence.
            code, body = hub.status("POST", f"{base}/builds", "sdbob", {"dataset": "ana-only"})
            assert code == 403 and "may not use" in body["message"]
        # Ana's kernel folder (ipc sockets) is closed to Bob's uid.
        (info,) = hub.as_user("sdana", "GET", "/stardock/api/kernels")["kernels"]
        runtime = _ipc_folder(kernel["id"])
        probe = subprocess.run(
            ["runuser", "-u", "sdbob", "--", "ls", str(runtime)], capture_output=True
        )
        assert probe.returncode != 0
        assert info["owner"] == "sdana"
    finally:
        hub.as_user("sdana", "DELETE", f"/api/kernels/{kernel['id']}")
    archives = hub.as_user("sdbob", "GET", "/stardock/api/archives")["archives"]
    assert all(a["id"] != kernel["id"] for a in archives)
    assert hub.status("GET", f"/user/sdbob/stardock/api/archives/{kernel['id']}", "sdbob")[0] == 404


def test_quotas_answer_429_with_a_sentence(hub: Hub) -> None:
    # quota_builds = 1: a second new build while one runs.
    slow = {"commands": [f"echo slow-{MARK}; sleep 30"]}
    first = hub.as_user("sdbob", "POST", "/stardock/api/builds", slow)
    code, body = hub.status(
        "POST", "/user/sdbob/stardock/api/builds", "sdbob", {"commands": [f"echo other-{MARK}"]}
    )
    assert code == 429 and "at once" in body["message"]
    hub.as_user("sdbob", "DELETE", f"/stardock/api/builds/{first['build']['id']}")

    # quota_kernels = 1: a second kernel while one runs.
    env = build(hub, "sdbob", RECIPE)
    name = f"stardock-{env}-open"
    kernelspec_visible(hub, "sdbob", name)
    kernel = hub.as_user("sdbob", "POST", "/api/kernels", {"name": name}, timeout=300)
    try:
        code, body = hub.status("POST", "/user/sdbob/api/kernels", "sdbob", {"name": name})
        assert code >= 400 and "kernel(s) running" in json.dumps(body)
    finally:
        hub.as_user("sdbob", "DELETE", f"/api/kernels/{kernel['id']}")


def test_single_user_servers_have_no_engine_socket(hub: Hub) -> None:
    for user in ("sdana", "sdbob"):
        pids = subprocess.run(
            ["pgrep", "-u", user, "-f", "jupyterhub-singleuser"], capture_output=True, text=True
        )
        assert pids.stdout.split(), f"no server process of {user}"
        for pid in pids.stdout.split():
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            assert not any(e.startswith(b"DOCKER_HOST=") for e in environ)
            status = Path(f"/proc/{pid}/status").read_text()
            groups = status.split("Groups:")[1].splitlines()[0].split()
            import grp

            docker_gid = next(
                (str(g.gr_gid) for g in grp.getgrall() if g.gr_name == "docker"), None
            )
            assert docker_gid not in groups
        # As that user, the engine socket refuses.
        probe = subprocess.run(
            [
                "runuser",
                "-u",
                user,
                "--",
                str(VENV / "bin" / "python"),
                "-c",
                "import socket; s = socket.socket(socket.AF_UNIX); s.connect('/var/run/docker.sock')",
            ],
            capture_output=True,
            text=True,
        )
        assert probe.returncode != 0 and "Permission denied" in probe.stderr
    assert os.path.exists("/var/run/docker.sock")


def test_a_follower_sees_progress_but_cannot_cancel_or_learn_the_owners_request(
    hub: Hub,
) -> None:
    # Ana builds with her private dataset; Bob asks for the same image with the open one.
    commands = [f"echo followed-{MARK}", "for i in $(seq 1 90); do echo tick $i; sleep 1; done"]
    mine = hub.as_user(
        "sdana", "POST", "/stardock/api/builds", {"commands": commands, "dataset": "ana-only"}
    )["build"]
    try:
        reply = hub.as_user(
            "sdbob", "POST", "/stardock/api/builds", {"commands": commands, "dataset": "open"}
        )
        followed = reply["build"]
        assert followed["id"] == mine["id"]  # one engine build for both
        seen = [
            json.dumps(reply),
            json.dumps(hub.as_user("sdbob", "GET", f"/stardock/api/builds/{mine['id']}")),
            json.dumps(hub.as_user("sdbob", "GET", "/stardock/api/builds")),
            json.dumps(hub.as_user("sdbob", "GET", f"/stardock/api/builds/{mine['id']}/log")),
        ]
        for text in seen:
            assert "ana-only" not in text and "sdana" not in text, text[:2000]
        assert followed["following"] is True and followed["recipe"]["dataset"] == "open"
        assert "owner" not in followed and "followers" not in followed

        # Bob can watch its progress and log, through his server and straight at the service.
        service = "/services/stardock/stardock/api"
        for base in ("/user/sdbob/stardock/api", service):
            code, page = hub.status("GET", f"{base}/builds/{mine['id']}/log", "sdbob")
            assert code == 200 and page["state"] in ("queued", "running"), page
            # ...but cancelling it for Ana is refused with a sentence, and it goes on.
            code, body = hub.status("DELETE", f"{base}/builds/{mine['id']}", "sdbob")
            assert code == 403, body
            assert "only" in body["message"] and "sdana" not in json.dumps(body)
        ana = hub.as_user("sdana", "GET", f"/stardock/api/builds/{mine['id']}")
        assert ana["state"] in ("queued", "running") and ana["recipe"]["dataset"] == "ana-only"
        assert ana["following"] is False
    finally:
        cancelled = hub.as_user("sdana", "DELETE", f"/stardock/api/builds/{mine['id']}")
    assert cancelled["state"] == "cancelled"
    assert wait_build(hub, "sdbob", mine["id"])["state"] == "cancelled"
