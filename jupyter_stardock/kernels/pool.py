"""A warm pool of pre-started kernel containers, so a kernel start skips the engine's start.

Per key (image id, dataset, uid:gid, transport, owner) the pool keeps
``pool_size`` slots for the keys a kernel was started with in the last
``pool_recent_hours``, within ``pool_max_total`` and a memory budget. A slot is
a container made with exactly a cold start's spec (launch.container_spec,
through ContainerKernel.start) and its own fresh key; it counts as ready only
once it answered ``kernel_info``. Slots are made one at a time in a background
task that waits while any kernel start is under way, so a cold start never
queues behind one.

A claim (:meth:`KernelPool.claim`) is a synchronous pop on the event loop:
two starts can never get the same slot. What makes the claimed slot one
kernel's (folders, claim record, name, session) is :meth:`KernelPool.finish_claim`
and pool_claim.py. A claimed slot never comes back; its restarts are cold
starts of the same spec.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from jupyter_client.connect import KernelConnectionInfo

from ..core.pool_budget import SLOT_BYTES, PoolLimits
from ..engine import Engine
from .pool_recent import RecentUse, RecentUses
from .pool_slots import (
    PoolKey,
    Slot,
    SlotTemplate,
    claim_slot,
    dataset_inode,
    discard_slot,
    make_slot,
)

__all__ = ["KernelPool", "SlotOwners"]

log = logging.getLogger(__name__)

#: After a cold start's container started, its kernel boots for about a second more.
QUIET_SECONDS = 1.5


class SlotOwners(Protocol):
    """Hub service: how many slots a Hub user may hold (services/hub_kernels.HubKernels)."""

    async def slot_room(
        self, owner: str, groups: Sequence[str], environment: str, dataset: str | None
    ) -> int | None:
        """Slots the user may hold in all (their quota less their kernels); None: no limit."""
        ...


class KernelPool:
    """The warm slots of one server, refilled in the background."""

    def __init__(
        self, engine: Engine, limits: PoolLimits, *, env: Callable[[], Mapping[str, str]] = dict
    ) -> None:
        self.engine = engine
        self.limits = limits
        #: The server's environment a slot's container sees (allowlisted by container_spec).
        self._env = env
        self._slots: dict[PoolKey, list[Slot]] = {}
        self._templates: dict[PoolKey, SlotTemplate] = {}
        self._used: dict[PoolKey, float] = {}
        self._built: set[PoolKey] = set()
        self._making: PoolKey | None = None
        self._starting = 0
        self._quiet_until = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Future[None] | None = None
        self._closed = False
        self._discards: set[asyncio.Future[None]] = set()
        #: Hub service: slots count against their user's kernel quota (None: one server user).
        self.owners: SlotOwners | None = None
        #: Slots taken by a start whose claim is under way, per Hub user (not listed yet).
        self._claiming: dict[str, int] = {}
        #: Which kernelspecs were used recently, kept in the state folder (pool_recent.py).
        self.recent: RecentUses | None = None

    # -- what the server and the provisioner call --------------------------

    def start(self, after: asyncio.Event | None = None) -> None:
        """Begin keeping slots; ``after``: once the server's reconcile has run."""
        if self._task is None and self.limits.capacity > 0:
            self._task = asyncio.ensure_future(self._run(after))

    async def stop(self) -> None:
        """Remove every unclaimed slot (a claimed one is its kernel's)."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            # A slot being made finishes first (its container is made in an engine thread,
            # which a cancel would not stop), then goes with the rest.
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 90)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
            except Exception:
                log.exception("StarDock: the warm kernel pool ended with an error")
        for key in list(self._slots):
            for slot in self._slots.pop(key):
                await discard_slot(self.engine, slot)
        await self._save_recent()
        if self._discards:
            await asyncio.gather(*self._discards, return_exceptions=True)

    @contextlib.contextmanager
    def starting(self) -> Iterator[None]:
        """Held by a kernel start: no slot is made meanwhile, so the start never waits for one."""
        self._starting += 1
        try:
            yield
        finally:
            self._starting -= 1
            self._quiet_until = time.monotonic() + QUIET_SECONDS
            self._wake.set()

    def note_use(
        self, template: SlotTemplate, *, at: float | None = None, built: bool = False
    ) -> None:
        """A kernel of this key started (or, ``built``, a build made one likely): keep slots of it.

        A build's kernelspec gets one slot until a kernel of it starts; then pool_size.
        """
        if built:
            self._built.add(template.key)
        else:
            self._built.discard(template.key)
        self._templates[template.key] = template
        self._used[template.key] = time.time() if at is None else at
        if self.recent is not None and template.spec_name:  # kept across a restart
            use = RecentUse(
                template.spec_name,
                template.key.owner,
                self._used[template.key],
                template.groups,
                built=built,
            )
            self.recent.note(use)
        if not self._closed:
            self.start()  # a server whose start hook did not run (tests' in-process servers)
        self._wake.set()

    def claim(self, key: PoolKey) -> Slot | None:
        """Take a ready slot of ``key``, or None. Synchronous: two claims get two slots."""
        slots = self._slots.get(key)
        if not slots:
            return None
        slot = slots.pop(0)
        if key.owner:  # still the user's until its kernel is listed: a refill counts it
            self._claiming[key.owner] = self._claiming.get(key.owner, 0) + 1
        self._wake.set()  # refill
        return slot

    def recycle(
        self,
        *,
        environment: str | None = None,
        dataset: str | None = None,
        image: str | None = None,
    ) -> None:
        """Drop the slots of an environment (rebuilt or removed) or a dataset (changed)."""

        def stale(key: PoolKey, template: SlotTemplate) -> bool:
            return (
                (environment is not None and template.environment == environment)
                or (image is not None and template.image == image)
                or (dataset is not None and key.dataset == dataset)
            )

        for key, template in list(self._templates.items()):
            if stale(key, template):
                self._retire(key)
        self._wake.set()

    async def drop(self, *, environment: str) -> None:
        """:meth:`recycle` an environment's slots and wait until their containers are gone."""
        self.recycle(environment=environment)
        deadline = time.monotonic() + 90
        while self._making is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # a slot being made goes once it is
        if self._discards:
            await asyncio.gather(*self._discards, return_exceptions=True)

    def sizes(self) -> dict[str, Any]:
        """For the status: slots ready per environment and dataset, and their memory.

        The hub service's status is any Hub user's to read: there only the totals
        show, never whose slots they are or of which environment and dataset.
        """
        pools = []
        for key, slots in self._slots.items() if self.owners is None else ():
            template = self._templates.get(key) or (slots[0].template if slots else None)
            if template is None or not slots:
                continue
            pools.append(
                {
                    "environment": template.environment,
                    "dataset": key.dataset or None,
                    "transport": key.transport,
                    "owner": key.owner or None,
                    "ready": len(slots),
                }
            )
        ready = sum(len(s) for s in self._slots.values())
        return {
            "ready": ready,
            "capacity": self.limits.capacity,
            "size": self.limits.size,
            "memory_bytes": ready * SLOT_BYTES,
            "memory_budget_bytes": self.limits.memory_bytes,
            "pools": pools,
        }

    def ready(self, key: PoolKey) -> int:
        return len(self._slots.get(key, ()))

    async def finish_claim(
        self,
        slot: Slot,
        *,
        kernel_id: str,
        client_id: str,
        spec_name: str,
        kernel_name: str,
        env: Mapping[str, str],
    ) -> KernelConnectionInfo:
        """Make a claimed slot the kernel ``kernel_id`` (pool_slots.claim_slot)."""
        try:
            return await claim_slot(
                self.engine,
                slot,
                kernel_id=kernel_id,
                client_id=client_id,
                spec_name=spec_name,
                kernel_name=kernel_name,
                env=env,
            )
        finally:
            owner = slot.key.owner
            if owner and self._claiming.get(owner, 0) > 0:
                self._claiming[owner] -= 1
            self._wake.set()

    # -- inside -----------------------------------------------------------

    def _retire(self, key: PoolKey) -> None:
        self._templates.pop(key, None)
        self._used.pop(key, None)
        for slot in self._slots.pop(key, []):
            task = asyncio.ensure_future(discard_slot(self.engine, slot))
            self._discards.add(task)
            task.add_done_callback(self._discards.discard)

    async def _run(self, after: asyncio.Event | None) -> None:
        while after is not None and not after.is_set() and not self._closed:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(after.wait(), 1)
        while not self._closed:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 30)
            self._wake.clear()
            try:
                await self._save_recent()
                await self._expire()
                await self._fill()
            except asyncio.CancelledError:
                raise
            except Exception:  # the pool must go on whatever one slot did
                log.exception("StarDock: the warm kernel pool could not refill")
                await asyncio.sleep(5)

    async def _save_recent(self) -> None:
        if self.recent is not None and self.recent.dirty:
            try:
                await self.engine.run(self.recent.save)
            except OSError as err:
                log.warning("StarDock: could not keep the warm pool's recent kernels: %s", err)

    def refresh(self) -> None:
        """Check the slots again now (the hub service: a user's groups changed)."""
        self._wake.set()

    async def _expire(self) -> None:
        """Drop slots past pool_ttl, dead ones, and those of a replaced image or dataset."""
        now = time.time()
        for key in [k for k, t in self._used.items() if now - t > self.limits.recent_hours * 3600]:
            self._retire(key)
        images: dict[str, str | None] = {}
        for key, template in list(self._templates.items()):
            if template.image not in images:
                image = await self.engine.image(template.image)
                images[template.image] = image.id if image is not None else None
            if images[template.image] != key.image_id:
                self._retire(key)  # rebuilt or removed: a start of the new image makes its key
        for slots in list(self._slots.values()):
            for slot in list(slots):
                dataset = slot.template.dataset
                old = (
                    now - slot.created > self.limits.ttl
                    or (dataset is not None and dataset_inode(dataset.path) != slot.dataset_inode)
                    or await slot.kernel.poll() is not None
                )
                if old and slot in slots:
                    slots.remove(slot)
                    await discard_slot(self.engine, slot)
        await self._trim()

    # -- hub service: a user's slots count against their kernel quota --------

    def _held(self, owner: str) -> int:
        """The user's slots: ready, being made, and claimed by a start not finished yet."""
        ready = sum(len(s) for k, s in self._slots.items() if k.owner == owner)
        making = self._making is not None and self._making.owner == owner
        return ready + making + self._claiming.get(owner, 0)

    async def _room(self, key: PoolKey) -> int | None:
        """Slots the key's user may hold in all; None: no limit (one server user, an admin)."""
        template = self._templates.get(key) or next(
            (s.template for s in self._slots.get(key, ())), None
        )
        if self.owners is None or not key.owner or template is None:
            return None
        return await self.owners.slot_room(
            key.owner, template.groups, template.environment, key.dataset or None
        )

    async def _trim(self) -> None:
        """Slots past their user's room go: they started kernels, or lost the dataset.

        Not while one of the user's claims is under way: its kernel may be listed
        already and still be counted as claiming (the next check trims, if need be).
        """
        kept: dict[str, int] = {}
        for key, slots in list(self._slots.items()):
            room = await self._room(key) if slots and not self._claiming.get(key.owner) else None
            if room is None:
                continue
            keep = max(0, room - kept.get(key.owner, 0))
            for slot in slots[keep:]:
                if slot in slots:
                    slots.remove(slot)
                    await discard_slot(self.engine, slot)
            kept[key.owner] = kept.get(key.owner, 0) + len(slots)

    async def _has_room(self, key: PoolKey) -> bool:
        room = await self._room(key)
        return room is None or self._held(key.owner) < room

    def _total(self) -> int:
        return sum(len(s) for s in self._slots.values()) + (self._making is not None)

    async def _fill(self) -> None:
        recent = time.time() - self.limits.recent_hours * 3600
        wanted = sorted((t, k) for k, t in self._used.items() if t >= recent)
        for _, key in reversed(wanted):  # the most recently used first
            while (
                not self._closed
                and key in self._templates
                and self.ready(key) < (1 if key in self._built else self.limits.size)
                and self._total() < self.limits.capacity
                and await self._has_room(key)
            ):
                # A kernel start is under way, or its kernel still boots: it goes first.
                while not self._closed and (self._starting or time.monotonic() < self._quiet_until):
                    await asyncio.sleep(0.2)
                if self._closed:
                    return
                template = self._templates[key]
                self._making = key
                try:
                    slot = await make_slot(self.engine, template, self._env())
                    if slot is not None and (key not in self._templates or self._closed):
                        await discard_slot(self.engine, slot)  # recycled while it was made
                        slot = None
                finally:
                    self._making = None
                if slot is None:
                    return  # try again at the next tick
                self._slots.setdefault(key, []).append(slot)
