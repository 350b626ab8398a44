"""The data service as a server makes it from its settings (issue 19)."""

from __future__ import annotations

from pathlib import Path

from ..config import StarDockSettings
from ..core.archives import Archives
from ..core.datasets import DatasetRegistry
from ..core.leases import ServerIdentity
from ..engine import Engine
from ..services.staging import StagingLimits, StagingService, kernel_mounts
from ..services.staging_area import StagingArea

__all__ = ["make_staging"]


def make_staging(
    settings: StarDockSettings, identity: ServerIdentity, engine: Engine, datasets: DatasetRegistry
) -> StagingService | None:
    """The staging service of a server with archives configured, else None."""
    if not settings.archives:
        return None
    archives = Archives(settings.archives)
    for problem in archives.problems:
        settings.log.warning("StarDock: %s", problem)
    return StagingService(
        archives,
        StagingArea(Path(settings.staging_dir).expanduser()),
        datasets,
        identity=identity,
        limits=StagingLimits(
            quota_bytes=settings.staging_quota_bytes,
            lifetime_seconds=settings.staging_lifetime_seconds,
            pinned=tuple(settings.staging_pinned),
            sweep_seconds=settings.staging_sweep_seconds,
            lease_seconds=settings.lease_seconds,
        ),
        mounted=lambda: kernel_mounts(engine),
        workers=settings.staging_workers,
        archive_dir=settings.archive_dir,
    )
