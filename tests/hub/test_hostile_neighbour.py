"""A hostile user on the hub (issue 12): from their own unix account and their own server.

sdbob works against sdana, and sdana against the host, with what a unix user
really has: their shell (``runuser -u USER --``), their Hub token, their server's
REST API (which lets them choose a kernel's id) and the service's URL. The
victims are made by the test: a root-owned 0600 file in a root-only 0700
folder, a file of a dataset, and sdana's own folders. Each test asserts the
victim's content, owner and mode before and after, or the status and body the
attacker gets.
"""

from __future__ import annotations

import asyncio
import json
import pwd
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..engine.kernel_helpers import (
    LINK_SWAPPER,
    changed,
    execute,
    holding,
    root_only_file,
    snapshots,
    tar_files,
    wait_ready,
)
from .conftest import Hub
from .test_hub import build, channels, kernelspec_visible

MARK = uuid.uuid4().hex[:8]


ANA, BOB = "sdana", "sdbob"


def home_of(user: str) -> Path:
    return Path(pwd.getpwnam(user).pw_dir)


def as_user(user: str, code: str, *args: str) -> Any:
    """Run Python ``code`` as the unix user (their own account, no privileges); its JSON output."""
    run = subprocess.run(
        ["runuser", "-u", user, "--", "/usr/bin/python3", "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


@pytest.fixture
def root_victim() -> Iterator[Path]:
    with root_only_file() as path:
        yield path


@pytest.fixture(scope="module")
def kernelspec(hub: Hub) -> str:
    """An environment both users asked for (so both have its kernelspec) with dataset 'open'."""
    recipe = {"commands": [f"echo hostile-{MARK}"], "dataset": "open"}
    env = build(hub, ANA, recipe)
    assert build(hub, BOB, recipe) == env
    name = f"stardock-{env}-open"
    for user in (ANA, BOB):
        kernelspec_visible(hub, user, name)
    return name


def start_kernel(hub: Hub, user: str, name: str, kernel_id: str | None = None) -> tuple[int, Any]:
    """POST /api/kernels on the user's own server (which lets the caller choose the id)."""
    body: dict[str, Any] = {"name": name}
    if kernel_id is not None:
        body["kernel_id"] = kernel_id
    return hub.status("POST", f"/user/{user}/api/kernels", user, body)


def stop_kernel(hub: Hub, user: str, kernel_id: str) -> None:
    hub.status("DELETE", f"/user/{user}/api/kernels/{kernel_id}", user)


def run_code(hub: Hub, user: str, kernel_id: str, code: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        ws = await channels(hub, user, kernel_id)
        try:
            await wait_ready(ws, timeout=90)
            return await execute(ws, code)
        finally:
            ws.close()

    return asyncio.run(run())


def archive_contents(hub: Hub, user: str, kernel_id: str) -> dict[str, bytes]:
    """Every regular file in the user's archive of that kernel, downloaded as they would."""
    request = urllib.request.Request(
        f"{hub.url}/user/{user}/stardock/api/archives/{kernel_id}",
        headers={"Authorization": f"token {hub.tokens[user]}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            raw = response.read()
    except urllib.error.HTTPError as err:
        raise AssertionError(f"{user} gets no archive of kernel {kernel_id}: {err}") from err
    return tar_files(raw)


#: Run as sdbob: every folder of the service's for others that he can write becomes links.
SWAP_WHAT_BOB_CAN_WRITE = (
    LINK_SWAPPER
    + r"""
import sys
victims, roots = json.loads(sys.argv[1]), json.loads(sys.argv[2])
home, tops = os.path.expanduser('~'), []
for root in roots:
    for folder, dirs, files in os.walk(root):
        if folder == home or folder.startswith(home + '/'):
            dirs[:] = []
        elif 'stardock' in folder and os.access(folder, os.W_OK | os.X_OK):
            tops.append(folder)
            dirs[:] = []
swap_tree(tops, victims, victims[0])
print(summary(tops=tops))
"""
)


def test_bob_turning_what_he_can_write_of_anas_into_links_changes_nothing(
    hub: Hub, kernelspec: str, root_victim: Path
) -> None:
    """While sdana's kernel runs, sdbob swaps every StarDock file he can write; she restarts."""
    before = snapshots([root_victim, root_victim.parent])
    code, kernel = start_kernel(hub, ANA, kernelspec)
    assert code == 200, kernel
    try:
        out = run_code(hub, ANA, kernel["id"], "open('/outputs/ana.txt', 'w').write('mine')")
        assert out["error"] is None, out
        report = as_user(
            BOB,
            SWAP_WHAT_BOB_CAN_WRITE,
            json.dumps([str(root_victim)]),
            json.dumps([str(p) for p in ana_side_roots(hub)]),
        )
        hub.status("POST", f"/user/{ANA}/api/kernels/{kernel['id']}/restart", ANA, {})
        out = run_code(hub, ANA, kernel["id"], "print(open('/outputs/ana.txt').read())")
        assert out["stdout"].strip() == "mine", f"sdana's kernel after sdbob's links: {out}"
    finally:
        stop_kernel(hub, ANA, kernel["id"])
    assert not changed(before), f"sdbob's links reached a victim: {changed(before)}; {report}"
    files = archive_contents(hub, ANA, kernel["id"])
    assert files["outputs/ana.txt"] == b"mine"
    assert not holding(files, [root_victim])


def ana_side_roots(hub: Hub) -> list[Path]:
    """Where the service keeps things for sdana's kernels on this host."""
    return [Path("/tmp"), Path("/run"), Path("/var/tmp"), Path("/dev/shm"), home_of(ANA), hub.home]
