"""The hub service's warm pool (issue 14): a slot is one Hub user's, and counts against their quota.

A real hub with two unix users and remote-mode servers; the service keeps one
slot per user and kernelspec, and each user may run two kernels.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.kernels.pool_claim import CLAIM_RECORD, claimed_labels
from jupyter_stardock.kernels.pool_recent import RECENT_FILE
from jupyter_stardock.labels import KERNEL, KernelLabels

from ..engine.kernel_helpers import execute, wait_ready
from .conftest import Hub, _start_hub
from .test_hub import build, channels, kernelspec_visible

RECIPE = {"commands": ["echo hub-pool-test"], "dataset": "open"}
#: Unix users of this module's own hub: its teardown stops every process of its users, so
#: sharing the session hub's (sdana, sdbob) would kill their servers for later modules.
POOL_USERS = ("sdhal", "sdivy")


@pytest.fixture(scope="module")
def pool_hub(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Iterator[Hub]:
    home = tmp_path_factory.mktemp("poolhub")
    try:
        yield from _start_hub(
            home,
            POOL_USERS,
            {"quota_kernels": 2, "pool_hub_users": True, "pool_size": 1, "pool_max_total": 4},
        )
    finally:
        # The service removes its slots as it stops; whatever a failed run left goes too.
        left = [c["Id"] for c in kernel_containers(home, f"label={KERNEL}", all_states=True)]
        if left:
            subprocess.run(["docker", "rm", "-f", *left], capture_output=True)


def uid(user: str) -> int:
    return pwd.getpwnam(user).pw_uid


def kernel_containers(home: Path, label: str, all_states: bool = False) -> list[dict[str, Any]]:
    """The kernel containers (docker inspect) of the service whose state is below ``home``."""
    ids = subprocess.run(
        ["docker", "ps", "-aq" if all_states else "-q", "--filter", label],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not ids:
        return []
    found = json.loads(
        subprocess.run(
            ["docker", "inspect", *ids], capture_output=True, text=True, check=True
        ).stdout
    )
    prefix = str(home)
    return [
        c for c in found if c["Config"]["Labels"].get(f"{KERNEL}.runtime", "").startswith(prefix)
    ]


def containers(hub: Hub, owner: str) -> list[dict[str, Any]]:
    """This hub's running kernel containers of ``owner``."""
    return kernel_containers(hub.home, f"label={KERNEL}.owner={owner}")


def slots(hub: Hub, owner: str) -> list[dict[str, Any]]:
    """``owner``'s unclaimed slots (a claimed one is renamed for its kernel)."""
    return [c for c in containers(hub, owner) if c["Name"].startswith("/stardock-kernel-pool-")]


def ready_slots(hub: Hub) -> int:
    """The service's ready slots, all users together (its status shows only the totals)."""
    code, status = hub.status("GET", "/services/stardock/stardock/api/status", "sdhal")
    assert code == 200, status
    return int((status["pool"] or {}).get("ready", 0))


def wait_slot(hub: Hub, owner: str, ready: int, timeout: float = 240) -> dict[str, Any]:
    """``owner``'s slot, once it answered (the service then has ``ready`` slots in all)."""
    deadline = time.monotonic() + timeout
    while not (found := slots(hub, owner)) or ready_slots(hub) < ready:
        assert time.monotonic() < deadline, f"no warm kernel of {owner}:\n{hub.log()}"
        time.sleep(1)
    (slot,) = found
    return slot


def start(hub: Hub, user: str, name: str) -> str:
    return str(hub.as_user(user, "POST", "/api/kernels", {"name": name}, timeout=300)["id"])


def run(hub: Hub, user: str, kernel_id: str, code: str) -> str:
    async def go() -> dict[str, Any]:
        ws = await channels(hub, user, kernel_id)
        await wait_ready(ws)
        out = await execute(ws, code)
        ws.close()
        return out

    out = asyncio.run(go())
    assert out["error"] is None, out
    return str(out["stdout"])


def listed(hub: Hub, user: str, kernel_id: str) -> dict[str, Any]:
    kernels = hub.as_user(user, "GET", "/stardock/api/kernels")["kernels"]
    (kernel,) = [k for k in kernels if k["id"] == kernel_id]
    return dict(kernel)


def refused_to(user: str, *command: str) -> bool:
    return (
        subprocess.run(["runuser", "-u", user, "--", *command], capture_output=True).returncode != 0
    )


def assert_only_anas(labels: KernelLabels) -> None:
    """The slot's key and sockets: Ana's uid may reach them, Bob's never (as a cold kernel's)."""
    ipc, runtime = Path(labels.ipc), Path(labels.runtime)
    info = ipc.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (uid("sdhal"), 0o700)
    info = runtime.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o711)
    assert stat.S_IMODE(runtime.parent.stat().st_mode) == 0o700  # nobody but the service
    info = (runtime / "connection.json").stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (uid("sdhal"), 0o400)
    assert refused_to("sdivy", "ls", str(ipc))
    assert refused_to("sdivy", "cat", str(runtime / "connection.json"))


def test_a_users_second_kernel_is_their_warm_slot_and_never_another_users(pool_hub: Hub) -> None:
    hub = pool_hub
    env = build(hub, "sdhal", RECIPE)
    name = f"stardock-{env}-open"
    kernelspec_visible(hub, "sdhal", name)
    first = start(hub, "sdhal", name)  # cold: now the service keeps a slot of it for Ana
    slot = wait_slot(hub, "sdhal", 1)
    labels = KernelLabels.from_labels(slot["Config"]["Labels"])
    assert labels is not None and labels.pool and labels.owner == "sdhal"
    assert slot["Config"]["User"].split(":")[0] == str(uid("sdhal"))
    assert_only_anas(labels)
    outputs = Path(labels.outputs)
    assert outputs.stat().st_uid == uid("sdhal") and outputs.name.startswith(".stardock-slot-")

    # Ana's second start (one kernel and one slot: at her quota of two) takes the slot.
    second = start(hub, "sdhal", name)
    mine = listed(hub, "sdhal", second)
    assert slot["Id"].startswith(mine["container"]), hub.log()
    now = json.loads(
        subprocess.run(
            ["docker", "inspect", slot["Id"]], capture_output=True, text=True, check=True
        ).stdout
    )[0]
    assert not now["Name"].startswith("/stardock-kernel-pool-")  # renamed for the kernel
    state = hub.home / "service-state"
    effective, claimed = claimed_labels(labels, [now["Name"]], state)
    assert claimed and effective is not None
    assert (effective.pool, effective.client_id, effective.owner) == ("", second, "sdhal")
    assert (Path(labels.runtime) / CLAIM_RECORD).stat().st_uid == 0
    assert_only_anas(labels)
    out = run(
        hub,
        "sdhal",
        second,
        "import os\nprint(os.getuid(), os.getcwd())\nopen('/outputs/warm.txt', 'w').write('x')",
    )
    assert out.split() == [str(uid("sdhal")), "/outputs"]
    home = Path(pwd.getpwnam("sdhal").pw_dir)
    written = home / mine["outputs"] / "warm.txt"  # through the link in her home
    assert written.stat().st_uid == uid("sdhal")
    renamed = Path(effective.outputs)
    assert not outputs.exists() and renamed.parent == outputs.parent
    assert (renamed.stat().st_uid, stat.S_IMODE(renamed.stat().st_mode)) == (uid("sdhal"), 0o700)
    assert os.path.realpath(home / mine["outputs"]) == str(renamed)

    # Bob starts the very same environment and dataset: a cold kernel of his own.
    assert build(hub, "sdivy", RECIPE) == env
    kernelspec_visible(hub, "sdivy", name)
    bobs = start(hub, "sdivy", name)
    assert run(hub, "sdivy", bobs, "import os; print(os.getuid())").split() == [str(uid("sdivy"))]
    assert not slot["Id"].startswith(listed(hub, "sdivy", bobs)["container"])
    bob_slot = wait_slot(hub, "sdivy", 1)  # Bob's own slot, made for him
    assert bob_slot["Config"]["User"].split(":")[0] == str(uid("sdivy"))

    # Ana runs two kernels, her quota: meanwhile the service made Bob's slot, none for her...
    assert slots(hub, "sdhal") == [] and ready_slots(hub) == 1
    # ...until one of them stops: then her slot is back.
    hub.as_user("sdhal", "DELETE", f"/api/kernels/{first}")
    anas = wait_slot(hub, "sdhal", 2)
    assert anas["Id"] != slot["Id"] and anas["Config"]["User"].split(":")[0] == str(uid("sdhal"))

    # Bob's second kernel, with Ana's slot ready beside his: his own slot, never hers.
    bobs_second = start(hub, "sdivy", name)
    assert bob_slot["Id"].startswith(listed(hub, "sdivy", bobs_second)["container"])
    assert run(hub, "sdivy", bobs_second, "import os; print(os.getuid())").split() == [
        str(uid("sdivy"))
    ]
    assert [c["Id"] for c in slots(hub, "sdhal")] == [anas["Id"]]  # hers, unclaimed
    for user, kernel in (("sdhal", second), ("sdivy", bobs), ("sdivy", bobs_second)):
        hub.as_user(user, "DELETE", f"/api/kernels/{kernel}")
    # What a restarted service refills from: each user's use of the kernelspec, no path.
    record = state / RECENT_FILE
    uses = json.loads(record.read_text())["uses"]
    assert {(u["spec"], u["owner"]) for u in uses} == {(name, "sdhal"), (name, "sdivy")}
    assert (record.stat().st_uid, stat.S_IMODE(record.stat().st_mode)) == (0, 0o600)


def service_pid(hub: Hub) -> int:
    """The StarDock service process of this hub (found by its own data folder)."""
    marker = f"JUPYTER_DATA_DIR={hub.home}/service-data".encode()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                cmdline = (environ.parent / "cmdline").read_bytes()
                if b"jupyter_stardock" in cmdline and b"service" in cmdline:
                    return int(environ.parent.name)
        except OSError:
            continue
    raise AssertionError(f"no StarDock service process of {hub.home}")


def test_a_killed_service_leaves_no_slot_and_its_next_instance_refills_from_its_record(
    pool_hub: Hub,
) -> None:
    hub = pool_hub
    old = wait_slot(hub, "sdhal", 1)  # Ana runs nothing now: her slot is back (the first test)
    pid = service_pid(hub)
    os.kill(pid, signal.SIGKILL)  # no shutdown hook runs: its slots outlive it
    # The hub starts the service again; at its start it removes the dead instance's
    # unclaimed slots (nothing archived: they ran no user code)...
    deadline = time.monotonic() + 240
    while old["Id"] in {c["Id"] for c in containers(hub, "sdhal")}:
        assert time.monotonic() < deadline, f"the dead service's slot stayed:\n{hub.log()}"
        time.sleep(1)
    assert service_pid(hub) != pid
    assert not Path(old["Config"]["Labels"][f"{KERNEL}.outputs"]).exists()
    # ...and, with no kernel started since, makes each user's slot again from its record.
    again = wait_slot(hub, "sdhal", 1)
    assert again["Id"] != old["Id"] and again["Config"]["User"].split(":")[0] == str(uid("sdhal"))
    archives = hub.as_user("sdhal", "GET", "/stardock/api/archives")["archives"]
    assert not [a for a in archives if a["id"].startswith("pool-")]
