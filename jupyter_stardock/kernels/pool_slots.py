"""A warm pool's slots: what one is, and how one is made, claimed and removed.

A slot is made by ContainerKernel.start of a launch that a cold start of the
same key would have made (so launch.container_spec, the one hardened spec),
with its own id, key and folders; it counts as ready once it has answered
``kernel_info``. :func:`claim_slot` makes a claimed slot one kernel's: its
outputs folder renamed for the kernel (pool_claim.py), the claim record, the
container's name, and the session variables the kernel would have had at its
start. A slot that fails at any step is removed (:func:`discard_slot`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.connect import KernelConnectionInfo

from ..core.datasets import Dataset
from ..core.outputs import link_outputs
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

__all__ = [
    "PoolKey",
    "Slot",
    "SlotTemplate",
    "claim_slot",
    "dataset_inode",
    "discard_slot",
    "make_slot",
]

log = logging.getLogger(__name__)


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
    #: Hub service: the owner's Hub groups at their last start (their access is checked by
    #: them before each slot is made), and where the link to a kernel's outputs goes in
    #: their home (the folder, and the trusted folder above it), made at the claim.
    groups: tuple[str, ...] = ()
    view: tuple[Path, Path] | None = None

    @property
    def state_dir(self) -> Path:
        return self.archive_dir.parent


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


def dataset_inode(path: Path | None) -> int | None:
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


async def claim_slot(
    engine: Engine,
    slot: Slot,
    *,
    kernel_id: str,
    client_id: str,
    spec_name: str,
    kernel_name: str,
    env: Mapping[str, str],
) -> KernelConnectionInfo:
    """Make a claimed slot the kernel ``kernel_id``: folders, claim record, name, session."""
    launch = slot.kernel.launch
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
        view = None
        if slot.template.view is not None:  # hub service: the user's link, as a cold start makes
            folder, trusted = slot.template.view
            view = await engine.run(
                link_outputs, outputs, folder, trusted=trusted, uid=launch.uid, gid=launch.gid
            )
        record = ClaimRecord(
            kernel_id, client_id, str(outputs), started, spec_name, kernel_name, str(view or "")
        )
        await engine.run(write_claim, launch.runtime_dir, record)
        await _rename(engine, slot, container_name(kernel_id))
        launch.kernel_id, launch.client_id, launch.outputs_dir = kernel_id, client_id, outputs
        launch.started, launch.spec_name, launch.kernel_name = started, spec_name, kernel_name
        launch.outputs_view = view
        launch.pool = ""  # its restarts are cold starts of the plain spec
        session = env.get("JPY_SESSION_NAME")
        if session and "JPY_SESSION_NAME" in slot.template.settings.env_allowlist:
            await _run_silent(slot, _session_code(session))
    except BaseException:
        await discard_slot(engine, slot)
        raise
    finally:
        if slot.client is not None:
            slot.client.stop_channels()
            slot.client = None
    return slot.info


async def _rename(engine: Engine, slot: Slot, name: str) -> None:
    container = slot.kernel.container_id or ""
    try:
        await engine.run(engine.rename_container_sync, container, name)
    except EngineError as err:
        if err.engine_status != 409:
            raise
        # A container left by an earlier start of this kernel id holds the name.
        await engine.run(engine.remove_container_sync, name)
        await engine.run(engine.rename_container_sync, container, name)


async def _run_silent(slot: Slot, code: str) -> None:
    client = slot.client
    assert client is not None
    msg_id = client.execute(code, silent=True, store_history=False)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        reply = await client.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            return


async def discard_slot(engine: Engine, slot: Slot) -> None:
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
        await engine.run(kernel.drop_runtime)
    with contextlib.suppress(OSError):
        await engine.run_long(
            remove_slot_outputs,
            launch.outputs_dir,
            uid=launch.uid,
            images=quota_images(launch.state_dir),
        )


async def make_slot(engine: Engine, t: SlotTemplate, env: Mapping[str, str]) -> Slot | None:
    slot_id = f"pool-{secrets.token_hex(8)}"
    key = t.key
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
        t, kernel, {}, inode, time.time(), dataset_inode(t.dataset.path if t.dataset else None)
    )
    try:
        slot.info = await kernel.start(env)
        slot.client = AsyncKernelClient()
        slot.client.load_connection_info(slot.info)
        slot.client.start_channels(hb=False)
        await _answers_kernel_info(slot.client, timeout=60)
    except Exception as err:
        log.warning("StarDock: a warm pool slot of %s did not start: %s", t.environment, err)
        await discard_slot(engine, slot)
        return None
    return slot
