"""The hub service's warm pool (issue 14): slots per user, within each user's kernel quota.

The pool's own bookkeeping runs for real; only what would reach the engine (making,
claiming and removing a slot's container) is replaced by small fakes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.core.pool_budget import PoolLimits
from jupyter_stardock.core.quotas import check_kernel_quota, slot_room
from jupyter_stardock.core.users import Viewer
from jupyter_stardock.errors import QuotaExceeded
from jupyter_stardock.kernels import pool as pool_module
from jupyter_stardock.kernels.pool import KernelPool
from jupyter_stardock.kernels.pool_slots import PoolKey, Slot, SlotTemplate
from jupyter_stardock.kernels.settings import ContainerSettings


class FakeImage:
    id = "sha256:img"


class FakeEngine:
    async def image(self, ref: str) -> FakeImage:
        return FakeImage()

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)


class FakeKernel:
    async def poll(self) -> int | None:
        return None


class Owners:
    """Each user's quota and running kernels, as HubKernels.slot_room reads them."""

    def __init__(self, quota: int | None) -> None:
        self.quota = quota
        self.running: dict[str, int] = {}
        self.datasets: dict[str, set[str]] = {}

    async def slot_room(
        self, owner: str, groups: Sequence[str], environment: str, dataset: str | None
    ) -> int | None:
        if dataset is not None and owner not in self.datasets.get(dataset, {owner}):
            return 0
        return slot_room(self.quota, Viewer(owner, scoped=True), self.running.get(owner, 0))


def template(owner: str, dataset: str = "open") -> SlotTemplate:
    key = PoolKey("sha256:img", dataset, 1000, 1000, "ipc", owner=owner)
    return SlotTemplate(
        key=key,
        settings=ContainerSettings().kernel_settings(),
        image="stardock/env:x",
        environment="x",
        dataset=None,
        spec_name=f"stardock-x-{dataset}",
        kernel_name="X",
        outputs_parent=Path("/nonexistent") / owner,
        outputs_trusted=Path("/nonexistent"),
        archive_dir=Path("/nonexistent/archives"),
        owner=owner,
        groups=("astro",),
        view=(Path("/home") / owner / "stardock-outputs", Path("/home") / owner),
    )


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> tuple[KernelPool, Owners, list[Slot]]:
    discarded: list[Slot] = []

    async def make_slot(engine: Any, t: SlotTemplate, env: Any) -> Slot:
        return Slot(t, FakeKernel(), {}, 1, 1e12, None)  # type: ignore[arg-type]

    async def discard_slot(engine: Any, slot: Slot) -> None:
        discarded.append(slot)

    monkeypatch.setattr(pool_module, "make_slot", make_slot)
    monkeypatch.setattr(pool_module, "discard_slot", discard_slot)
    monkeypatch.setattr(pool_module, "QUIET_SECONDS", 0)
    owners = Owners(quota=2)
    p = KernelPool(FakeEngine(), PoolLimits(size=2, max_total=8))  # type: ignore[arg-type]
    p.owners = owners
    p._closed = True  # no background task: each test drives _fill and _expire itself
    return p, owners, discarded


async def fill(p: KernelPool) -> None:
    p._closed = False
    try:
        await p._expire()
        await p._fill()
    finally:
        p._closed = True


def test_a_users_slots_and_kernels_stay_within_their_quota(
    pool: tuple[KernelPool, Owners, list[Slot]],
) -> None:
    p, owners, _ = pool
    owners.running["ana"] = 1
    p.note_use(template("ana"))
    asyncio.run(fill(p))
    # pool_size is 2, but one kernel running and a quota of 2 leave room for one slot.
    assert p.ready(template("ana").key) == 1


def test_a_user_at_the_quota_gets_no_slot_and_a_real_start_is_never_refused_for_one(
    pool: tuple[KernelPool, Owners, list[Slot]],
) -> None:
    p, owners, discarded = pool
    p.note_use(template("ana"))
    asyncio.run(fill(p))
    assert p.ready(template("ana").key) == 2
    # Ana starts two kernels of another environment: her slots make way for them...
    owners.running["ana"] = 2
    asyncio.run(fill(p))
    assert p.ready(template("ana").key) == 0 and len(discarded) == 2
    # ...and the quota check of a real start counts her kernels only, never slots.
    ctx = QuotaContext(quota=3, running=2)
    asyncio.run(check_kernel_quota(ctx, Viewer("ana", scoped=True)))
    with pytest.raises(QuotaExceeded):
        asyncio.run(check_kernel_quota(QuotaContext(2, 2), Viewer("ana", scoped=True)))


class QuotaContext:
    def __init__(self, quota: int, running: int) -> None:
        self.quota_kernels = quota
        self._running = running

    async def running_kernels(self, viewer: Viewer | None = None) -> list[dict[str, Any]]:
        return [{"id": str(i)} for i in range(self._running)]


def test_a_slot_is_one_users_and_a_claim_under_way_still_counts(
    pool: tuple[KernelPool, Owners, list[Slot]],
) -> None:
    p, owners, _ = pool
    owners.quota = 1
    p.note_use(template("ana"))
    asyncio.run(fill(p))
    # Bob asks for the very same image, dataset, uid:gid and transport: not Ana's slot.
    bob = template("bob").key
    assert bob != template("ana").key and p.claim(bob) is None
    slot = p.claim(template("ana").key)
    assert slot is not None and slot.template.owner == "ana"
    # Her claim is under way (its kernel not listed yet): no new slot past her quota.
    asyncio.run(fill(p))
    assert p.ready(template("ana").key) == 0 and p._held("ana") == 1


def test_a_user_who_lost_the_dataset_loses_its_slots(
    pool: tuple[KernelPool, Owners, list[Slot]],
) -> None:
    p, owners, discarded = pool
    p.note_use(template("ana", "ana-only"))
    asyncio.run(fill(p))
    assert p.ready(template("ana", "ana-only").key) == 2
    owners.datasets["ana-only"] = set()  # a Hub group change
    asyncio.run(fill(p))
    assert p.ready(template("ana", "ana-only").key) == 0 and len(discarded) == 2


def test_slot_room_is_the_quota_less_the_running_kernels() -> None:
    ana = Viewer("ana", scoped=True)
    assert slot_room(3, ana, 1) == 2
    assert slot_room(1, ana, 4) == 0
    assert slot_room(None, ana, 4) is None
    assert slot_room(1, Viewer("root", admin=True, scoped=True), 4) is None


def test_the_service_counts_a_users_kernels_and_rechecks_their_dataset(tmp_path: Path) -> None:
    from jupyter_stardock.core.datasets import DatasetRegistry

    from .test_hub_kernels import ENV, FakeKernelManager, FakeKernelSite, kernels

    site = FakeKernelSite(running=1)
    hub = kernels(tmp_path, FakeKernelManager(), site, quota=3)
    assert asyncio.run(hub.slot_room("ana", (), ENV, "m51")) == 2
    site.running = 5
    assert asyncio.run(hub.slot_room("ana", (), ENV, None)) == 0
    # Bob may not use Ana's environment: no slot of it is ever his.
    assert asyncio.run(hub.slot_room("bob", (), ENV, None)) == 0
    # The dataset granted to a group: Ana's groups as her last start showed them count.
    data = tmp_path / "g"
    data.mkdir()
    hub.environments.datasets = DatasetRegistry(
        {"g": {"path": str(data), "allowed_groups": ["astro"]}}
    )
    site.running = 0
    hub._note_viewer(Viewer("ana", ("astro",), scoped=True))
    assert asyncio.run(hub.slot_room("ana", ("astro",), ENV, "g")) == 3
    hub._note_viewer(Viewer("ana", (), scoped=True))  # removed from the group since
    assert asyncio.run(hub.slot_room("ana", ("astro",), ENV, "g")) == 0


def test_a_claim_under_way_never_costs_the_user_another_slot(
    pool: tuple[KernelPool, Owners, list[Slot]],
) -> None:
    p, owners, discarded = pool
    owners.quota = 3
    owners.running["ana"] = 1
    p.note_use(template("ana"))
    asyncio.run(fill(p))
    assert p.ready(template("ana").key) == 2
    assert p.claim(template("ana").key) is not None
    owners.running["ana"] = 2  # the claimed kernel is listed before its claim has finished
    asyncio.run(fill(p))
    assert p.ready(template("ana").key) == 1 and discarded == []
