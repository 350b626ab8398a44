"""The warm pool across a server crash and beside a neighbour server (issue 14), real servers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.core.kernelspecs import KernelspecStore
from jupyter_stardock.kernels.pool_claim import POOL_LABEL
from jupyter_stardock.labels import KERNEL as KERNEL_LABEL
from jupyter_stardock.labels import KernelLabels

from ..server_process import ServerProcess
from .kernel_helpers import execute, wait_ready
from .test_kernels import _ws
from .test_neighbours import RECONCILED, archive_of, kernel_ids, wait_for_log


def pooled_server(home: Path, sample_dataset: Path, **app: Any) -> ServerProcess:
    datasets = {"m51": {"path": str(sample_dataset), "title": "Messier 51"}}
    config = {"datasets": datasets, "pool_size": 2, "pool_max_total": 2, **app}
    return ServerProcess(home, {"StarDockApp": config})


def base_spec(server: ServerProcess, count: int = 1) -> str:
    """The base image's kernelspec beside 'm51', written again if the start's prune took it.

    The base image is no environment, so the prune that follows the start's reconcile
    removes its kernelspec; the server lists it once that has run.
    """
    wait_for_log(server, RECONCILED, count)
    store = KernelspecStore(server.home / "data" / "kernels")
    for _ in range(10):
        name = store.write(
            environment="base",
            image="stardock/base:latest",
            dataset_id="m51",
            dataset_title="Messier 51",
            app_titles=[],
            recipe={},
        )
        time.sleep(2)
        if (store.kernels_dir / name).is_dir():
            return name
    raise AssertionError("the base kernelspec kept being pruned")


def wait_ready_slots(server: ServerProcess, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while (server.request("GET", "/stardock/api/status")["pool"] or {}).get("ready", 0) < count:
        assert time.monotonic() < deadline, server.log_path.read_text()[-3000:]
        time.sleep(0.5)


def slots_of(engine: Any, server: ServerProcess) -> dict[str, str]:
    """The server's unclaimed slots (container id -> outputs folder), by their labels and names."""
    root = str(server.root)
    found = {}
    for c in engine.containers_sync(label=POOL_LABEL):
        kernel = KernelLabels.from_labels(c["Labels"])
        assert kernel is not None
        unclaimed = c["Names"][0].lstrip("/") == f"stardock-kernel-{kernel.kernel_id}"
        if unclaimed and kernel.outputs.startswith(root):
            found[c["Id"]] = kernel.outputs
    return found


def container_of(engine: Any, kernel_id: str) -> dict[str, Any] | None:
    return engine.inspect_container_sync(f"stardock-kernel-{kernel_id}")


@pytest.mark.parametrize("policy", ["archive", "adopt"])
async def test_sigkill_with_a_claimed_and_an_unclaimed_slot(
    tmp_path, base_image, engine, sample_dataset, policy: str
) -> None:
    server = pooled_server(tmp_path, sample_dataset, orphan_policy=policy)
    server.start()
    kernels: list[str] = []
    try:
        spec = await asyncio.to_thread(base_spec, server)
        kernels.append(server.request("POST", "/api/kernels", {"name": spec})["id"])
        await asyncio.to_thread(wait_ready_slots, server, 2)
        claimed = server.request("POST", "/api/kernels", {"name": spec})["id"]
        kernels.append(claimed)
        container = container_of(engine, claimed)
        assert container is not None and KERNEL_LABEL + ".pool" in container["Config"]["Labels"]
        ws = await _ws(server, claimed)
        await wait_ready(ws)
        out = await execute(ws, "kept = 'before'; open('/outputs/kept.txt', 'w').write('kept')")
        assert out["error"] is None, out
        ws.close()
        (listed,) = [
            k
            for k in server.request("GET", "/stardock/api/kernels")["kernels"]
            if k["id"] == claimed
        ]
        outputs = server.root / listed["outputs"]
        await asyncio.to_thread(wait_ready_slots, server, 2)  # refilled after the claim
        unclaimed = slots_of(engine, server)
        assert len(unclaimed) == 2

        server.kill()
        assert all(engine.inspect_container_sync(c) for c in unclaimed), "slots outlive a SIGKILL"
        server.start()
        wait_for_log(server, RECONCILED, 2)
        # The unclaimed slots are removed, never archived, their empty folders with them.
        assert not any(engine.inspect_container_sync(c) for c in unclaimed)
        assert not any(Path(p).exists() for p in unclaimed.values())
        archives = server.request("GET", "/stardock/api/archives")["archives"]
        assert not [a for a in archives if a["id"].startswith("pool-")]
        if policy == "archive":
            assert container_of(engine, claimed) is None
            archive = archive_of(server, claimed)
            assert archive is not None and "had stopped" in archive["manifest"]["note"]
            assert archive["manifest"]["dataset"]["id"] == "m51"
        else:
            assert claimed in kernel_ids(server)
            ws = await _ws(server, claimed)
            await wait_ready(ws)
            out = await execute(ws, "print(kept)")
            assert out["stdout"].strip() == "before", out
            ws.close()
            (listed,) = [
                k
                for k in server.request("GET", "/stardock/api/kernels")["kernels"]
                if k["id"] == claimed
            ]
            assert server.root / listed["outputs"] == outputs
            server.request("DELETE", f"/api/kernels/{claimed}")
            assert archive_of(server, claimed) is not None
        assert (outputs / "kept.txt").read_text() == "kept"
    finally:
        if server.proc is not None and server.proc.poll() is None:
            for kernel_id in set(kernels) & kernel_ids(server):
                server.request("DELETE", f"/api/kernels/{kernel_id}")
        server.stop()
        for kernel_id in kernels:
            if container_of(engine, kernel_id) is not None:
                engine.remove_container_sync(f"stardock-kernel-{kernel_id}")


async def test_a_neighbour_server_neither_claims_nor_removes_the_slots(
    tmp_path, base_image, engine, sample_dataset
) -> None:
    """B shares A's user and state folder and looks for orphans every second."""
    a = pooled_server(tmp_path / "a", sample_dataset, lease_seconds=3.0)
    b = pooled_server(
        tmp_path / "b",
        sample_dataset,
        lease_seconds=1.0,
        state_dir=str(tmp_path / "a" / "data" / "stardock"),
    )
    kernels: list[tuple[ServerProcess, str]] = []
    try:
        a.start()
        spec = await asyncio.to_thread(base_spec, a)
        kernels.append((a, a.request("POST", "/api/kernels", {"name": spec})["id"]))
        await asyncio.to_thread(wait_ready_slots, a, 2)
        slots = slots_of(engine, a)
        b.start()
        b_spec = await asyncio.to_thread(base_spec, b)
        for _ in range(2):  # B's own starts never take A's slots
            kernel_id = b.request("POST", "/api/kernels", {"name": b_spec})["id"]
            kernels.append((b, kernel_id))
            container = container_of(engine, kernel_id)
            assert container is not None and container["Id"] not in slots
        await asyncio.sleep(3)  # B reconciles three times
        assert all(engine.inspect_container_sync(c) for c in slots), "B removed A's slots"
        assert slots_of(engine, a) == slots
        # A's next start still takes one of its own slots.
        kernel_id = a.request("POST", "/api/kernels", {"name": spec})["id"]
        kernels.append((a, kernel_id))
        container = container_of(engine, kernel_id)
        assert container is not None and container["Id"] in slots
    finally:
        for server, kernel_id in kernels:
            if server.proc is not None and server.proc.poll() is None:
                server.request("DELETE", f"/api/kernels/{kernel_id}")
        b.stop()
        a.stop()
    assert not any(engine.inspect_container_sync(c) for c in slots), "A's stop removes its slots"
