"""The warm pool (issue 14): pre-started kernels claimed by a start, against the real engine."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.kernels.pool_claim import CLAIM_RECORD, POOL_LABEL, SLOT_PREFIX
from jupyter_stardock.labels import KERNEL as KERNEL_LABEL
from jupyter_stardock.labels import KernelLabels

from .conftest import server_config
from .kernel_helpers import (
    changed,
    execute,
    holding,
    root_only_file,
    snapshots,
    tar_files,
    wait_ready,
)

KERNEL_UID = 1000 if os.geteuid() == 0 else os.getuid()
KERNEL_GID = 1000 if os.geteuid() == 0 else os.getgid()


@pytest.fixture
def jp_server_config(sample_dataset: Path) -> dict[str, Any]:
    return server_config(sample_dataset, pool_size=2, pool_max_total=2)


def base_spec(stardock: Any) -> str:
    """A kernelspec of the base image (it carries the kernel runtime) beside 'm51'."""
    return str(
        stardock.kernelspecs.write(
            environment="base",
            image="stardock/base:latest",
            dataset_id="m51",
            dataset_title="Messier 51",
            app_titles=[],
            recipe={},
        )
    )


async def start(jp_fetch: Any, spec: str, path: str | None = None) -> str:
    """A kernel, as JupyterLab starts one: through a session for a notebook (JPY_SESSION_NAME)."""
    if path is None:
        body = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": spec}))
        return str(json.loads(body.body)["id"])
    session = {"path": path, "name": path, "type": "notebook", "kernel": {"name": spec}}
    body = await jp_fetch("api", "sessions", method="POST", body=json.dumps(session))
    return str(json.loads(body.body)["kernel"]["id"])


async def ready_slots(stardock: Any, count: int, timeout: float = 120) -> list[dict[str, Any]]:
    """Wait until the pool has ``count`` ready slots; their containers (engine summaries)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while stardock.pool.sizes()["ready"] < count:
        p = stardock.pool
        assert asyncio.get_running_loop().time() < deadline, (
            p.sizes(),
            p._templates,
            p._used,
            p._task,
            p._starting,
        )
        await asyncio.sleep(0.5)
    engine = stardock.engine
    return [
        c
        for c in await engine.run(engine.containers_sync, label=POOL_LABEL)
        if c["Names"][0].lstrip("/") == f"stardock-kernel-{c['Labels'][KERNEL_LABEL]}"
        and KernelLabels.from_labels(c["Labels"]).server.instance == stardock.identity.instance  # type: ignore[union-attr]
    ]


def named(engine: Any, kernel_id: str) -> dict[str, Any] | None:
    return engine.inspect_container_sync(f"stardock-kernel-{kernel_id}")


def hardening(inspect: dict[str, Any]) -> dict[str, Any]:
    """What a kernel container is made of, less what differs per kernel (names, paths, ids)."""
    host = dict(inspect["HostConfig"])
    for per_kernel in ("Binds", "Mounts"):
        host.pop(per_kernel, None)
    config = inspect["Config"]
    env = sorted(e for e in config["Env"] if not e.startswith("JPY_SESSION_NAME="))
    mounts = sorted((m["Destination"], m["RW"], m.get("Propagation")) for m in inspect["Mounts"])
    return {
        "host": host,
        "user": config["User"],
        "cmd": config["Cmd"],
        "workdir": config["WorkingDir"],
        "env": env,
        "image": config["Image"],
        "mounts": mounts,
    }


async def test_a_pooled_kernel_is_the_kernel_a_cold_start_would_be(
    jp_fetch, jp_ws_fetch, jp_root_dir, stardock, base_image, engine
) -> None:
    spec = base_spec(stardock)
    cold_id = await start(jp_fetch, spec)  # cold: nothing was pooled yet; this start is the use
    slots = await ready_slots(stardock, 2)
    slot = KernelLabels.from_labels(slots[0]["Labels"])
    assert slot is not None and Path(slot.outputs).name.startswith(SLOT_PREFIX)
    slot_outputs = {Path(KernelLabels.from_labels(s["Labels"]).outputs) for s in slots}  # type: ignore[union-attr]
    assert all(p.is_dir() for p in slot_outputs)
    # The pool's own slots are nobody's kernel: not listed.
    listed = json.loads((await jp_fetch("stardock", "api", "kernels")).body)["kernels"]
    assert [k["id"] for k in listed] == [cold_id]

    kernel_id = await start(jp_fetch, spec, path="analysis/night1.ipynb")
    container = named(engine, kernel_id)
    assert container is not None
    labels = KernelLabels.from_labels(container["Config"]["Labels"])
    assert labels is not None and labels.pool, "the kernel came from the pool"
    assert container["Id"] in {s["Id"] for s in slots}
    # The slot's folder is gone: renamed to the kernel's outputs folder.
    remaining = {p for p in slot_outputs if p.exists()}
    assert len(remaining) == 1 and Path(labels.outputs) not in remaining

    listed = json.loads((await jp_fetch("stardock", "api", "kernels")).body)["kernels"]
    (kernel,) = [k for k in listed if k["id"] == kernel_id]
    assert kernel["dataset"] == "m51"
    outputs = Path(jp_root_dir) / kernel["outputs"]
    assert outputs.is_dir() and not outputs.name.startswith(".")
    assert outputs.parent == Path(labels.outputs).parent
    info = os.lstat(outputs)
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700
    assert (info.st_uid, info.st_gid) == (KERNEL_UID, KERNEL_GID)
    # The claim record ties the container to the kernel, in the server-only runtime folder.
    record = json.loads((Path(labels.runtime) / CLAIM_RECORD).read_text())
    assert record["kernel_id"] == kernel_id and record["outputs"] == str(outputs)
    assert os.stat(Path(labels.runtime) / CLAIM_RECORD).st_uid == os.geteuid()

    ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    await wait_ready(ws)
    out = await execute(
        ws,
        "import os\nopen('/outputs/result.txt', 'w').write('done')\n"
        "print(os.getcwd(), os.getuid(), __session__, os.environ['JPY_SESSION_NAME'])\n"
        "print(sorted(os.listdir('/data'))[:1], get_ipython().execution_count)",
    )
    assert out["error"] is None, out
    first, second = out["stdout"].strip().splitlines()
    session_path = str(Path(jp_root_dir) / "analysis" / "night1.ipynb")
    assert first.split() == ["/outputs", str(KERNEL_UID), session_path, session_path]
    # The claim's own (silent) execution left no count and no history behind.
    assert second.endswith(" 1")
    result = outputs / "result.txt"
    assert result.read_text() == "done" and result.stat().st_uid == KERNEL_UID

    # Every hardening setting, as on the cold kernel started from the same kernelspec.
    cold = named(engine, cold_id)
    assert cold is not None
    assert hardening(container) == hardening(cold)
    env = dict(item.split("=", 1) for item in container["Config"]["Env"])
    assert env["STARDOCK_DATASET"] == "m51" and "JPY_SESSION_NAME" not in env

    # A restart is a cold container of the same spec, under the kernel's own labels.
    await jp_fetch("api", "kernels", kernel_id, "restart", method="POST", body="{}")
    await wait_ready(ws)
    out = await execute(ws, "import os; print(sorted(os.listdir('/outputs')))")
    assert out["stdout"].strip() == "['result.txt']"
    restarted = named(engine, kernel_id)
    assert restarted is not None and restarted["Id"] != container["Id"]
    relabelled = KernelLabels.from_labels(restarted["Config"]["Labels"])
    assert relabelled is not None and not relabelled.pool
    assert relabelled.kernel_id == kernel_id and relabelled.outputs == str(outputs)
    assert hardening(restarted) == hardening(cold)
    ws.close()

    # Shut down: archived under the kernel's id, with what it wrote.
    await jp_fetch("api", "kernels", kernel_id, method="DELETE")
    assert named(engine, kernel_id) is None
    archives = json.loads((await jp_fetch("stardock", "api", "archives")).body)["archives"]
    (archive,) = [a for a in archives if a["id"] == kernel_id]
    assert archive["manifest"]["dataset"]["id"] == "m51"
    assert result.is_file()
    await jp_fetch("api", "kernels", cold_id, method="DELETE")


async def test_two_claims_at_once_get_two_slots(
    jp_fetch, jp_ws_fetch, stardock, base_image, engine
) -> None:
    spec = base_spec(stardock)
    first = await start(jp_fetch, spec)
    slots = {s["Id"] for s in await ready_slots(stardock, 2)}
    ids = await asyncio.gather(start(jp_fetch, spec), start(jp_fetch, spec))
    containers = [named(engine, i) for i in ids]
    assert all(c is not None for c in containers)
    got = {c["Id"] for c in containers if c is not None}
    assert got == slots, "each start took its own slot"
    outputs = {c["Config"]["Labels"][f"{KERNEL_LABEL}.outputs"] for c in containers if c}
    assert len(outputs) == 2
    for kernel_id in ids:
        ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
        await wait_ready(ws)
        out = await execute(ws, "print(len(__import__('os').listdir('/outputs')))")
        assert out["stdout"].strip() == "0"
        ws.close()
    for kernel_id in [first, *ids]:
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")
    # Refilled after the claims, and the server's stop removes what is unclaimed.
    await ready_slots(stardock, 2)


async def test_a_changed_image_recycles_the_pool(
    jp_fetch, stardock, base_image, engine, tmp_path
) -> None:
    """A rebuild moves the environment's tag to a new image: its slots go at once."""
    tag = f"stardock-test/pool:{uuid.uuid4().hex[:12]}"
    engine.tag_sync(base_image, tag)
    try:
        spec = stardock.kernelspecs.write(
            environment="pooltest",
            image=tag,
            dataset_id="m51",
            dataset_title="Messier 51",
            app_titles=[],
            recipe={},
        )
        first = await start(jp_fetch, spec)
        old = {s["Id"] for s in await ready_slots(stardock, 2)}
        # What a successful build of the environment tells the pool (the server wires it).
        stardock.pool.recycle(image=tag)
        deadline = asyncio.get_running_loop().time() + 60
        while any(engine.inspect_container_sync(c) for c in old):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.5)
        await jp_fetch("api", "kernels", first, method="DELETE")
    finally:
        engine.remove_image_sync(tag)


async def test_a_build_prestarts_a_slot_and_removing_it_recycles(
    jp_fetch, stardock, base_image, engine
) -> None:
    """The first kernel after a build is warm; the environment's removal takes its slots."""
    recipe = {"dataset": "m51", "commands": [f"echo pool-{uuid.uuid4().hex[:10]}"]}
    reply = await jp_fetch("stardock", "api", "builds", method="POST", body=json.dumps(recipe))
    build = json.loads(reply.body)["build"]
    record = await stardock.builds.wait(build["id"])
    assert record.state == "succeeded", (record.error, record.failure)
    environment = record.environment_id
    try:
        (slot,) = await ready_slots(stardock, 1)
        assert slot["Labels"][f"{KERNEL_LABEL}.environment"] == environment
        # Claimed by the first start, with no cold start before it.
        kernel_id = await start(jp_fetch, f"stardock-{environment}-m51")
        container = named(engine, kernel_id)
        assert container is not None and container["Id"] == slot["Id"]
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")
        refilled = [c["Id"] for c in await ready_slots(stardock, 1)]
        try:
            await jp_fetch("stardock", "api", "environments", environment, method="DELETE")
        except Exception as err:
            raise AssertionError(err.response.body) from err  # type: ignore[attr-defined]
        deadline = asyncio.get_running_loop().time() + 60
        while any(engine.inspect_container_sync(c) is not None for c in refilled):
            assert asyncio.get_running_loop().time() < deadline, "removal recycles the slot"
            await asyncio.sleep(0.5)
        assert stardock.pool.sizes()["ready"] == 0
    finally:
        if engine.image_sync(f"stardock/env:{environment}") is not None:
            await jp_fetch("stardock", "api", "environments", environment, method="DELETE")


#: Kernel code: links to the victim in every folder the kernel shares with the server, at the
#: names the pool and the claim use, and one to the folder the slots are made in.
PLANT = """
import os
victim, slots_parent = {victim!r}, {parent!r}
planted = []
for folder in ('/outputs', '/run/stardock/ipc', '/run/stardock'):
    for name in ('.stardock-slot-planted', 'claim.json', 'connection.json', 'k-1', 'parent'):
        target = slots_parent if name == 'parent' else victim
        try:
            os.symlink(target, os.path.join(folder, name))
            planted.append(os.path.join(folder, name))
        except OSError:
            pass
print(len(planted))
"""


async def test_links_planted_by_a_pooled_kernel_never_reach_a_host_file(
    jp_fetch, jp_ws_fetch, jp_root_dir, stardock, base_image, engine
) -> None:
    spec = base_spec(stardock)
    first = await start(jp_fetch, spec)
    await ready_slots(stardock, 2)
    parent = Path(jp_root_dir) / "stardock-outputs"
    with root_only_file() as victim:
        before = snapshots([victim, victim.parent])
        parent_mode = os.lstat(parent)
        kernel_id = await start(jp_fetch, spec)
        ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
        await wait_ready(ws)
        out = await execute(ws, PLANT.format(victim=str(victim), parent=str(parent)))
        assert out["error"] is None and int(out["stdout"]) >= 4, out
        # A restart (a cold start of the same spec), a refill beside it, another claim.
        await jp_fetch("api", "kernels", kernel_id, "restart", method="POST", body="{}")
        await wait_ready(ws)
        ws.close()
        await ready_slots(stardock, 2)
        second = await start(jp_fetch, spec)
        ws = await jp_ws_fetch("api", "kernels", second, "channels")
        await wait_ready(ws)
        assert (await execute(ws, "print('fine')"))["stdout"].strip() == "fine"
        ws.close()
        for done in (kernel_id, second, first):
            await jp_fetch("api", "kernels", done, method="DELETE")
        await stardock.pool.stop()  # its unclaimed slots go too
        assert changed(before) == {}
        after = os.lstat(parent)  # its entries change (kernels' folders), never what it is
        assert (after.st_mode, after.st_uid, after.st_ino) == (
            parent_mode.st_mode,
            parent_mode.st_uid,
            parent_mode.st_ino,
        )
        archive = await jp_fetch("stardock", "api", "archives", kernel_id)
        assert holding(tar_files(archive.body), [victim]) == []
        assert not any(p.name.startswith(".stardock-slot-") for p in parent.iterdir())
