"""Which kernel containers a server lists as its own, and which it takes for orphans.

Real leases in a temporary state folder; the engine is a fixed list of
container summaries, as ``containers_sync`` returns them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from jupyter_stardock.core import leases
from jupyter_stardock.core.leases import Lease, ServerIdentity, hold_lease
from jupyter_stardock.core.users import Viewer
from jupyter_stardock.engine import Engine
from jupyter_stardock.kernels.listing import OwnKernels
from jupyter_stardock.kernels.reconcile import OrphanReconciler
from jupyter_stardock.kernels.service_ids import ServiceKernelIds
from jupyter_stardock.labels import KernelLabels


class Containers:
    """An engine that only lists containers."""

    def __init__(self, containers: list[dict[str, Any]]) -> None:
        self.containers = containers

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    def containers_sync(self, *, label: str | None = None, all: bool = True) -> list[dict]:
        return [c for c in self.containers if label in (c.get("Labels") or {})]


class KernelManager:
    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.started: list[dict[str, Any]] = []

    def list_kernel_ids(self) -> list[str]:
        return list(self.ids)

    async def start_kernel(self, *, kernel_id: str, kernel_name: str, **extra: Any) -> str:
        self.started.append({"kernel_id": kernel_id, "kernel_name": kernel_name, **extra})
        return kernel_id


def container(cid: str, identity: ServerIdentity | None, state: Path, **labels: Any) -> dict:
    kernel = KernelLabels(
        kernel_id=f"k-{cid}",
        spec="stardock-env",
        archives=str(state / "archives"),
        outputs=str(state.parent / "root" / "stardock-outputs" / cid),
        server=identity.server_labels if identity is not None else None,
        **labels,
    )
    return {"Id": cid, "State": "running", "Labels": kernel.to_labels()}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr(leases, "_REGISTERED", {})
    state, root = tmp_path / "state", tmp_path / "root"
    me = ServerIdentity.new(state, root)
    lease = hold_lease(me)
    live = ServerIdentity.new(state, root)  # a neighbour of this lineage, alive
    Lease(live).adopt("adopted-by-neighbour")
    dead = ServerIdentity.new(state, root)  # killed: it left no lease
    stranger = ServerIdentity.new(state, tmp_path / "other-root")  # another lineage
    lease.adopt("adopted-here")
    engine = Containers(
        [
            container("mine", me, state),
            container("adopted-here", dead, state),
            container("neighbours", live, state),
            container("adopted-by-neighbour", dead, state),
            container("orphan", dead, state, owner="ana", client_id="ana-id"),
            container("known", dead, state),
            container("strangers", stranger, state),
            container("unleased", None, state),
        ]
    )
    own = OwnKernels(
        cast(Engine, engine),
        identity=me,
        lease=lease,
        archive_dir=state / "archives",
        root_dir=root,
    )
    return {"own": own, "engine": engine, "lease": lease}


async def test_a_server_lists_the_kernels_it_started_or_adopted(world: dict[str, Any]) -> None:
    kernels = await world["own"].running()
    assert sorted(k["container"] for k in kernels) == ["adopted-here", "mine", "unleased"]
    mine = next(k for k in kernels if k["container"] == "mine")
    assert mine["outputs"] == "stardock-outputs/mine"
    assert await world["own"].running(Viewer("bob", scoped=True)) == []


async def test_orphans_are_kernels_of_this_lineage_whose_server_is_gone(
    world: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    reconciler = OrphanReconciler(
        world["own"],
        lease_seconds=60,
        policy="archive",
        kernel_manager=KernelManager(["k-known"]),
        service_ids=None,
        log=logging.getLogger("test-reconcile"),
    )
    with caplog.at_level(logging.WARNING, logger="test-reconcile"):
        orphans = await reconciler.find_orphans()
        assert await reconciler.find_orphans() == orphans
    assert [(o.container_id, o.why) for o in orphans] == [("orphan", "its server left no lease")]
    unleased = [r for r in caplog.records if "older StarDock" in r.getMessage()]
    assert len(unleased) == 1  # logged once, however often it is found


async def test_an_adopted_service_kernel_stays_its_users(world: dict[str, Any]) -> None:
    km, ids = KernelManager(["k-known"]), ServiceKernelIds()
    reconciler = OrphanReconciler(
        world["own"],
        lease_seconds=60,
        policy="adopt",
        kernel_manager=km,
        service_ids=ids,
        log=logging.getLogger("test-reconcile"),
    )
    assert await reconciler.adopt_orphans(await reconciler.find_orphans()) == {"orphan"}
    assert km.started == [
        {
            "kernel_id": "k-orphan",
            "kernel_name": "stardock-env",
            "stardock_adopt": True,
            "stardock_owner": "ana",
            "stardock_groups": [],
            "stardock_client_id": "ana-id",
        }
    ]
    assert ids.aliases == {("ana", "ana-id"): "k-orphan"}
    assert "orphan" in world["lease"].adopted
    assert [k["container"] for k in await world["own"].running(Viewer("ana", scoped=True))] == [
        "orphan"
    ]
