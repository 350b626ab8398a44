"""Where a kernel start meets the warm pool: the template of its key, and whether it may be pooled.

The provisioner decides a start's image, dataset, uid:gid, transport and
folders as always; :func:`slot_template` turns those decisions into the
template its slots are made from, so a slot is made exactly as that cold start
was. A start the pool cannot serve the same way gets None and starts cold.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..config import StarDockSettings
from ..core.datasets import Dataset
from ..core.outputs_mounts import parse_size
from ..core.pool_budget import PoolLimits
from ..engine import Engine, ImageInfo
from ..labels import EnvironmentLabels
from .launch import KernelSettings, MountedDataset
from .pool import KernelPool
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
) -> SlotTemplate | None:
    """The template of this start's key; None when its kernel cannot come from a slot.

    Not pooled: an outputs quota (the folder is a mounted file system while the
    kernel runs, and a mount point cannot be renamed), a dataset known only from
    a running container (adoption), and hub users' kernels (their outputs are
    linked into their home at the start; slots are per server user only).
    """
    if settings.outputs_quota is not None or isinstance(dataset, MountedDataset):
        return None
    if owner is not None:
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
        owner=server_user,
        recipe=dict(built.recipe) if built else {},
        dockerfile=built.dockerfile if built else "",
    )


def make_pool(settings: StarDockSettings, engine: Engine, mode: str) -> KernelPool | None:
    """A local server's warm pool from its c.StarDockApp.pool_* settings; None when switched off.

    The hub service keeps none (slots are per server user; see slot_template).
    """
    if mode != "local" or settings.pool_size <= 0:
        return None
    limits = PoolLimits(
        size=settings.pool_size,
        recent_hours=settings.pool_recent_hours,
        max_total=settings.pool_max_total,
        ttl=settings.pool_ttl,
        memory_bytes=parse_size(settings.pool_memory),
    )
    # The server's environment as a cold start gets it (container_spec keeps the allowlist).
    return KernelPool(engine, limits, env=lambda: dict(os.environ))
