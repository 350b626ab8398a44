"""Where a kernel start meets the warm pool: the template of its key, and whether it may be pooled.

The provisioner decides a start's image, dataset, uid:gid, transport and
folders as always; :func:`slot_template` turns those decisions into the
template its slots are made from, so a slot is made exactly as that cold start
was. A start the pool cannot serve the same way gets None and starts cold.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..config import StarDockSettings
from ..core.datasets import Dataset
from ..core.outputs_mounts import parse_size
from ..core.pool_budget import PoolLimits
from ..engine import Engine, ImageInfo
from ..labels import EnvironmentLabels
from .launch import KernelSettings, MountedDataset
from .pool import KernelPool
from .pool_recent import RecentUses
from .pool_slots import PoolKey, SlotTemplate

__all__ = ["make_pool", "slot_template"]


def slot_template(
    settings: KernelSettings,
    *,
    image: ImageInfo,
    image_ref: str,
    environment: str,
    dataset: Dataset | MountedDataset | None,
    uid: int,
    gid: int,
    owner: str | None,
    server_user: str,
    spec_name: str,
    kernel_name: str,
    outputs_place: tuple[Path, Path],
    archive_dir: Path,
    groups: Sequence[str] = (),
    outputs_view: tuple[Path, Path] | None = None,
) -> SlotTemplate | None:
    """The template of this start's key; None when its kernel cannot come from a slot.

    Not pooled: an outputs quota (the folder is a mounted file system while the
    kernel runs, and a mount point cannot be renamed), and a dataset known only
    from a running container (adoption). A Hub user's kernel (``owner``, in the
    hub service) is pooled per user: the key names them, so only their own start
    claims it, and the link to its outputs in their home (``outputs_view``) is
    made at the claim, as a cold start makes it at its start.
    """
    if settings.outputs_quota is not None or isinstance(dataset, MountedDataset):
        return None
    if owner is not None and outputs_view is None:
        return None
    built = EnvironmentLabels.from_labels(image.labels)
    parent, trusted = outputs_place
    return SlotTemplate(
        key=PoolKey(
            image_id=image.id,
            dataset=dataset.id if dataset is not None else "",
            uid=uid,
            gid=gid,
            transport=settings.transport,
            owner=owner or "",
        ),
        settings=settings,
        image=image_ref,
        environment=environment,
        dataset=dataset,
        spec_name=spec_name,
        kernel_name=kernel_name,
        outputs_parent=parent,
        outputs_trusted=trusted,
        archive_dir=archive_dir,
        owner=owner or server_user,
        recipe=dict(built.recipe) if built else {},
        dockerfile=built.dockerfile if built else "",
        groups=tuple(groups) if owner is not None else (),
        view=outputs_view if owner is not None else None,
    )


def make_pool(settings: StarDockSettings, engine: Engine, mode: str) -> KernelPool | None:
    """A server's (or the hub service's) warm pool from c.StarDockApp.pool_*; None when off.

    The hub service keeps one only with c.StarDockApp.pool_hub_users; its slots
    are per Hub user and count against their quotas (KernelPool.owners, which the
    service wires to its HubKernels).
    """
    if settings.pool_size <= 0 or mode == "remote":
        return None
    if mode == "service" and not settings.pool_hub_users:
        return None
    limits = PoolLimits(
        size=settings.pool_size,
        recent_hours=settings.pool_recent_hours,
        max_total=settings.pool_max_total,
        ttl=settings.pool_ttl,
        memory_bytes=parse_size(settings.pool_memory),
    )
    # The server's environment as a cold start gets it (container_spec keeps the allowlist).
    pool = KernelPool(engine, limits, env=lambda: dict(os.environ))
    pool.recent = RecentUses(Path(settings.state_dir), settings.pool_recent_hours)
    return pool
