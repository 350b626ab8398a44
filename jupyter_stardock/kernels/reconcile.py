"""Kernel containers whose server is gone: find them, then adopt or archive them.

A server that was killed leaves its kernel containers running. A later server of
the same lineage (core/leases.py) finds them once their server's lease has
lapsed, and either takes them over as its own kernels (orphan_policy 'adopt',
the variables intact) or archives their outputs and removes them ('archive', and
whenever adopting fails). The server runs this at start and every lease_seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from ..core.leases import lapsed, lineage_lock, live_adoptions
from ..core.leases import prune as prune_leases
from ..labels import KernelLabels, ServerLabels
from .archive import archive_orphans
from .launch import container_uid
from .listing import OwnKernels, kernel_containers
from .pool_claim import as_kernel_container, remove_slot_outputs
from .runtime import drop_labelled_folders, quota_images
from .service_ids import ServiceKernelIds

__all__ = ["KernelStarter", "Orphan", "OrphanPolicy", "OrphanReconciler"]

OrphanPolicy = Literal["archive", "adopt"]


class KernelStarter(Protocol):
    """What adoption needs of jupyter_server's kernel manager (this package never imports it)."""

    def list_kernel_ids(self) -> list[str]: ...

    async def start_kernel(self, *, kernel_id: str, kernel_name: str, **extra: Any) -> str: ...


@dataclass(frozen=True)
class Orphan:
    """A kernel container of this lineage whose server's lease has lapsed."""

    container: Mapping[str, Any]
    kernel: KernelLabels
    #: Why its server counts as gone (a phrase for the log).
    why: str
    #: A warm pool's slot nobody claimed: removed, never archived (it ran no user code).
    slot: bool = False

    @property
    def container_id(self) -> str:
        return str(self.container["Id"])


class OrphanReconciler:
    """One server instance's handling of the orphans of its lineage."""

    def __init__(
        self,
        own: OwnKernels,
        *,
        lease_seconds: float,
        policy: OrphanPolicy,
        kernel_manager: KernelStarter | None,
        service_ids: ServiceKernelIds | None,
        log: logging.Logger,
    ) -> None:
        #: This instance's kernels (and its engine, identity and lease).
        self.own = own
        self.engine, self.identity, self.lease = own.engine, own.identity, own.lease
        self.lease_seconds = lease_seconds
        self.policy = policy
        #: Starts an adopted kernel (the provisioner sees its container and adopts it).
        self.kernel_manager = kernel_manager
        #: Hub service only: an adopted kernel stays registered as its Hub user's.
        self.service_ids = service_ids
        self.log = log
        # Containers of a StarDock without leases: each is logged once, then left alone.
        self._unowned_logged: set[str] = set()

    async def reconcile(self, at_start: bool) -> int | None:
        """Handle the orphans; their number, or None when another server kept the lock.

        Servers of one lineage take turns (a lock file), so two never adopt or
        archive the same container; at start this waits up to ten seconds for it.
        """
        for _ in range(50 if at_start else 1):
            with lineage_lock(self.identity, blocking=False) as locked:
                if locked:
                    return await self._handle_orphans()
            await asyncio.sleep(0.2)  # another server of this lineage is reconciling
        return None

    async def find_orphans(self) -> list[Orphan]:
        """Kernel containers of this lineage whose server's lease has lapsed, with why.

        Never one of a live server (whatever its user, state or root folder), never
        one this instance runs or adopted, and never one of a StarDock without
        leases (logged once, left alone).
        """
        state_dir = self.identity.state_dir
        containers = await kernel_containers(self.engine)
        known = set(self.kernel_manager.list_kernel_ids()) if self.kernel_manager else set()
        adoptions = live_adoptions(state_dir, self.lease_seconds)
        orphans = []
        for found in containers:
            # A warm pool's slot: a claimed one is its kernel's (claim record), an unclaimed one none.
            claimed = as_kernel_container(found, state_dir)
            c = claimed or found
            kernel = KernelLabels.from_labels(c.get("Labels"))
            if kernel is None:
                continue
            mine = self.own.is_mine(kernel, c["Id"])
            if kernel.server is None:
                # This server's by its archive folder, but of an instance nobody recorded.
                if mine and c["Id"] not in self._unowned_logged:
                    self._unowned_logged.add(c["Id"])
                    self.log.warning(
                        "StarDock: kernel container %s was started by an older StarDock that "
                        "did not record its server; it is left alone. Stop it with "
                        "'docker stop %s' once no server uses it.",
                        c["Id"][:12],
                        c["Id"][:12],
                    )
                continue
            if (
                mine
                or kernel.server.lineage != self.identity.lineage
                or kernel.kernel_id in known
                or c["Id"] in adoptions
            ):
                continue
            why = lapsed(state_dir, kernel.server.instance, self.lease_seconds)
            if why is not None:
                orphans.append(Orphan(c, kernel, why, slot=claimed is None))
        return orphans

    async def _handle_orphans(self) -> int:
        orphans = await self.find_orphans()
        for orphan in orphans:
            self.log.warning(
                "StarDock: kernel %s is an orphan (%s); policy %r",
                orphan.kernel.kernel_id,
                orphan.why,
                self.policy,
            )
        await self.remove_slots([o for o in orphans if o.slot])
        orphans = [o for o in orphans if not o.slot]
        adopted = await self.adopt_orphans(orphans)
        rest = [o.container for o in orphans if o.container_id not in adopted]
        handled = await archive_orphans(self.engine, rest)
        if handled:
            self.log.warning(
                "StarDock: archived %d orphaned kernel(s): %s", len(handled), ", ".join(handled)
            )
        # A lapsed lease goes once no container names its instance any more.
        keep = {self.identity.instance} | {
            server.instance
            for c in await kernel_containers(self.engine)
            if (server := ServerLabels.from_labels(c.get("Labels"))) is not None
        }
        prune_leases(self.identity.state_dir, self.lease_seconds, keep)
        return len(orphans)

    async def remove_slots(self, slots: list[Orphan]) -> None:
        """Unclaimed warm slots of a server that is gone: container and folders go, no archive."""
        state_dir = self.identity.state_dir
        for orphan in slots:
            data = await self.engine.run(self.engine.inspect_container_sync, orphan.container_id)
            uid = container_uid(str(((data or {}).get("Config") or {}).get("User") or ""))
            await self.engine.run(self.engine.remove_container_sync, orphan.container_id)
            await self.engine.run(drop_labelled_folders, orphan.kernel, state_dir)
            if uid is not None:
                await self.engine.run_long(
                    remove_slot_outputs,
                    Path(orphan.kernel.outputs),
                    uid=uid,
                    images=quota_images(state_dir),
                )
            self.log.info("StarDock: removed an unclaimed warm kernel left by an earlier server")

    async def adopt_orphans(self, orphans: list[Orphan]) -> set[str]:
        """With orphan_policy 'adopt': take over running orphans; returns their container ids.

        The adopted container keeps its labels (a running container's cannot
        change), so this instance's lease claims it by container id.
        """
        adopted: set[str] = set()
        if self.policy != "adopt":
            return adopted
        assert self.kernel_manager is not None
        for orphan in orphans:
            kernel = orphan.kernel
            if orphan.container.get("State") != "running" or not kernel.spec:
                continue
            kernel_id, owner = kernel.kernel_id, kernel.owner or None
            extra: dict[str, Any] = {"stardock_adopt": True}
            if self.service_ids is not None and owner:
                # The kernel stays its Hub user's: same uid, folders, visibility, and the
                # id their server knows it by.
                client_id = kernel.client_id
                extra.update(stardock_owner=owner, stardock_groups=[], stardock_client_id=client_id)
                self.service_ids.register(kernel_id, owner, client_id)
            # Claimed before the kernel manager sees it: no other server may take it meanwhile.
            self.lease.adopt(orphan.container_id)
            try:
                # The provisioner sees the running container of this id and adopts it.
                await self.kernel_manager.start_kernel(
                    kernel_id=kernel_id, kernel_name=kernel.spec, **extra
                )
            except Exception as err:
                if self.service_ids is not None:
                    self.service_ids.forget(kernel_id)
                self.lease.adopted.discard(orphan.container_id)
                self.lease.renew()
                self.log.warning(
                    "StarDock: could not adopt kernel %s (%s); archiving it instead", kernel_id, err
                )
                continue
            adopted.add(orphan.container_id)
            self.log.warning(
                "StarDock: adopted the running kernel %s left by an earlier server", kernel_id
            )
        return adopted
