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
import hashlib
import logging
import os
import queue
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.connect import KernelConnectionInfo

from ..core.datasets import Dataset
from ..engine import Engine
from ..errors import EngineError, StarDockError
from .container import ContainerKernel
from .launch import KernelLaunch, KernelSettings, container_name
from .pool_claim import (
    ClaimRecord,
    claim_outputs,
    make_slot_outputs,
    remove_slot_outputs,
    write_claim,
)
from .runtime import ipc_parent, quota_images, runtime_root

__all__ = ["KernelPool", "PoolKey", "PoolLimits", "Slot", "SlotTemplate"]

log = logging.getLogger(__name__)

#: What one idle slot costs, as benchmarks/kernel_start.py measures it (the engine's
#: figure of an idle kernel, 36 MiB, plus the shim); the memory budget counts by it.
SLOT_BYTES = 40 << 20
#: After a cold start's container started, its kernel boots for about a second more.
QUIET_SECONDS = 1.5


@dataclass(frozen=True)
class PoolKey:
    """What a slot must share with the kernel that claims it."""

    image_id: str
    dataset: str
    uid: int
    gid: int
    transport: str
    #: The Hub user it is for ("" on a single-user server): a slot is one user's.
    owner: str = ""

    @property
    def label(self) -> str:
        """A short stable name of the key, labelled on its slots."""
        text = "|".join(map(str, self.__dict__.values()))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SlotTemplate:
    """Everything a cold start of this key decided, so a slot is made the same way."""

    key: PoolKey
    settings: KernelSettings
    image: str
    environment: str
    dataset: Dataset | None
    spec_name: str
    kernel_name: str
    outputs_parent: Path
    outputs_trusted: Path
    archive_dir: Path
    owner: str
    recipe: Mapping[str, Any] = field(default_factory=dict)
    dockerfile: str = ""

    @property
    def state_dir(self) -> Path:
        return self.archive_dir.parent


@dataclass(frozen=True)
class PoolLimits:
    """The operator's pool settings (c.StarDockApp.pool_*)."""

    size: int = 1
    recent_hours: float = 24.0
    max_total: int = 4
    ttl: float = 3600.0
    memory_bytes: int = 512 << 20

    @property
    def capacity(self) -> int:
        """Most slots at once: pool_max_total, and what the memory budget holds."""
        return max(0, min(self.max_total, self.memory_bytes // SLOT_BYTES))


@dataclass
class Slot:
    """One ready, unclaimed container kernel."""

    template: SlotTemplate
    kernel: ContainerKernel
    info: KernelConnectionInfo
    inode: int
    created: float
    dataset_inode: int | None
    client: AsyncKernelClient | None = None

    @property
    def key(self) -> PoolKey:
        return self.template.key


def _inode(path: Path | None) -> int | None:
    try:
        return os.stat(path).st_ino if path is not None else None
    except OSError:
        return None


def _session_code(name: str) -> str:
    # What ipykernel does at its start when JPY_SESSION_NAME is set (ipkernel.py), run
    # silent: no execute_input, no history, no execution count.
    return (
        f"__import__('os').environ['JPY_SESSION_NAME'] = {name!r}\n"
        f"get_ipython().user_ns['__session__'] = {name!r}"
    )


async def _answers_kernel_info(client: AsyncKernelClient, timeout: float) -> None:
    """Until the kernel answers kernel_info (asked again each second: early requests get lost)."""
    deadline = time.monotonic() + timeout
    while True:
        msg_id = client.kernel_info()
        try:
            while True:
                reply = await client.get_shell_msg(timeout=1)
                if reply["parent_header"].get("msg_id") == msg_id:
                    return
        except queue.Empty:
            if time.monotonic() > deadline:
                raise TimeoutError("The kernel did not answer kernel_info.") from None


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
        self._making: PoolKey | None = None
        self._starting = 0
        self._quiet_until = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Future[None] | None = None
        self._closed = False
        self._discards: set[asyncio.Future[None]] = set()

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
                await self._discard(slot)
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

    def note_use(self, template: SlotTemplate, *, at: float | None = None) -> None:
        """A kernel of this key started (or a build made one likely): keep a slot of it."""
        self._templates[template.key] = template
        self._used[template.key] = time.time() if at is None else at
        if not self._closed:
            self.start()  # a server whose start hook did not run (tests' in-process servers)
        self._wake.set()

    def claim(self, key: PoolKey) -> Slot | None:
        """Take a ready slot of ``key``, or None. Synchronous: two claims get two slots."""
        slots = self._slots.get(key)
        if not slots:
            return None
        slot = slots.pop(0)
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

    def sizes(self) -> dict[str, Any]:
        """For the status: slots ready per environment and dataset, and their memory."""
        pools = []
        for key, slots in self._slots.items():
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
        """Make a claimed slot the kernel ``kernel_id``: folders, claim record, name, session."""
        launch, engine = slot.kernel.launch, self.engine
        started = time.time()
        try:
            outputs = await engine.run_long(
                claim_outputs,
                launch.outputs_dir,
                inode=slot.inode,
                trusted=slot.template.outputs_trusted,
                dataset=slot.key.dataset or None,
                started=started,
                images=quota_images(launch.state_dir),
                uid=launch.uid,
                gid=launch.gid,
            )
            record = ClaimRecord(
                kernel_id, client_id, str(outputs), started, spec_name, kernel_name
            )
            await engine.run(write_claim, launch.runtime_dir, record)
            await self._rename(slot, container_name(kernel_id))
            launch.kernel_id, launch.client_id, launch.outputs_dir = kernel_id, client_id, outputs
            launch.started, launch.spec_name, launch.kernel_name = started, spec_name, kernel_name
            launch.pool = ""  # its restarts are cold starts of the plain spec
            session = env.get("JPY_SESSION_NAME")
            if session and "JPY_SESSION_NAME" in slot.template.settings.env_allowlist:
                await self._run_silent(slot, _session_code(session))
        except BaseException:
            await self._discard(slot)
            raise
        finally:
            if slot.client is not None:
                slot.client.stop_channels()
                slot.client = None
        return slot.info

    # -- inside -----------------------------------------------------------

    async def _rename(self, slot: Slot, name: str) -> None:
        container = slot.kernel.container_id or ""
        try:
            await self.engine.run(self.engine.rename_container_sync, container, name)
        except EngineError as err:
            if err.engine_status != 409:
                raise
            # A container left by an earlier start of this kernel id holds the name.
            await self.engine.run(self.engine.remove_container_sync, name)
            await self.engine.run(self.engine.rename_container_sync, container, name)

    async def _run_silent(self, slot: Slot, code: str) -> None:
        client = slot.client
        assert client is not None
        msg_id = client.execute(code, silent=True, store_history=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            reply = await client.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                return

    def _retire(self, key: PoolKey) -> None:
        self._templates.pop(key, None)
        self._used.pop(key, None)
        for slot in self._slots.pop(key, []):
            task = asyncio.ensure_future(self._discard(slot))
            self._discards.add(task)
            task.add_done_callback(self._discards.discard)

    async def _discard(self, slot: Slot) -> None:
        """Remove an unclaimed (or failed) slot: container, runtime folders, empty outputs folder."""
        if slot.client is not None:
            slot.client.stop_channels()
            slot.client = None
        kernel = slot.kernel
        try:
            await kernel.remove()
        except StarDockError as err:
            log.warning("StarDock: could not remove a warm pool slot: %s", err)
        launch = kernel.launch
        with contextlib.suppress(OSError):
            await self.engine.run(kernel.drop_runtime)
        with contextlib.suppress(OSError):
            await self.engine.run_long(
                remove_slot_outputs,
                launch.outputs_dir,
                uid=launch.uid,
                images=quota_images(launch.state_dir),
            )

    async def _run(self, after: asyncio.Event | None) -> None:
        while after is not None and not after.is_set() and not self._closed:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(after.wait(), 1)
        while not self._closed:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 30)
            self._wake.clear()
            try:
                await self._expire()
                await self._fill()
            except asyncio.CancelledError:
                raise
            except Exception:  # the pool must go on whatever one slot did
                log.exception("StarDock: the warm kernel pool could not refill")
                await asyncio.sleep(5)

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
                    or (dataset is not None and _inode(dataset.path) != slot.dataset_inode)
                    or await slot.kernel.poll() is not None
                )
                if old and slot in slots:
                    slots.remove(slot)
                    await self._discard(slot)

    def _total(self) -> int:
        return sum(len(s) for s in self._slots.values()) + (self._making is not None)

    async def _fill(self) -> None:
        recent = time.time() - self.limits.recent_hours * 3600
        wanted = sorted((t, k) for k, t in self._used.items() if t >= recent)
        for _, key in reversed(wanted):  # the most recently used first
            while (
                not self._closed
                and key in self._templates
                and self.ready(key) < self.limits.size
                and self._total() < self.limits.capacity
            ):
                # A kernel start is under way, or its kernel still boots: it goes first.
                while not self._closed and (self._starting or time.monotonic() < self._quiet_until):
                    await asyncio.sleep(0.2)
                if self._closed:
                    return
                template = self._templates[key]
                self._making = key
                try:
                    slot = await self._make(template)
                finally:
                    self._making = None
                if slot is None:
                    return  # try again at the next tick
                if key in self._templates and not self._closed:
                    self._slots.setdefault(key, []).append(slot)
                else:
                    await self._discard(slot)

    async def _make(self, t: SlotTemplate) -> Slot | None:
        slot_id = f"pool-{secrets.token_hex(8)}"
        engine, key = self.engine, t.key
        outputs, inode = await engine.run(
            make_slot_outputs, t.outputs_parent, trusted=t.outputs_trusted, uid=key.uid, gid=key.gid
        )
        launch = KernelLaunch(
            kernel_id=slot_id,
            kernel_name=t.kernel_name,
            image=t.image,
            environment=t.environment,
            dataset=t.dataset,
            outputs_dir=outputs,
            runtime_dir=runtime_root(t.state_dir) / secrets.token_hex(8),
            archive_dir=t.archive_dir,
            uid=key.uid,
            gid=key.gid,
            recipe=t.recipe,
            dockerfile=t.dockerfile,
            image_id=key.image_id,
            spec_name=t.spec_name,
            owner=t.owner,
            ipc_parent=ipc_parent(),
            client_id=slot_id,
            pool=key.label,
        )
        kernel = ContainerKernel(engine, t.settings, launch)
        slot = Slot(
            t, kernel, {}, inode, time.time(), _inode(t.dataset.path if t.dataset else None)
        )
        try:
            slot.info = await kernel.start(self._env())
            slot.client = AsyncKernelClient()
            slot.client.load_connection_info(slot.info)
            slot.client.start_channels(hb=False)
            await _answers_kernel_info(slot.client, timeout=60)
        except Exception as err:
            log.warning("StarDock: a warm pool slot of %s did not start: %s", t.environment, err)
            await self._discard(slot)
            return None
        return slot
