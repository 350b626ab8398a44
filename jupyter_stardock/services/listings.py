"""What a viewer may list besides builds and environments: datasets, and kernels' archives.

Archives are read in the engine's query threads: a folder of many archives never blocks the loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ..core.datasets import DatasetRegistry
from ..core.outputs import Archive, ArchiveStore
from ..core.users import Viewer
from ..engine import Engine
from ..errors import NotFound

__all__ = ["archive_of", "archives_of", "visible_datasets"]


async def archives_of(engine: Engine, folder: Path, viewer: Viewer) -> list[Archive]:
    """The archives in ``folder`` whose kernels the viewer may see."""
    archives = await engine.run(ArchiveStore(folder).list)
    return [a for a in archives if viewer.may_see(a.manifest.get("owner"))]


async def archive_of(engine: Engine, folder: Path, viewer: Viewer, kernel_id: str) -> Archive:
    """The newest archive of the viewer's kernel ``kernel_id`` (else 404)."""
    archive = await engine.run(ArchiveStore(folder).find, kernel_id, viewer.may_see)
    if archive is None:
        raise NotFound(f"There is no archive of kernel {kernel_id!r}.")
    return archive


async def visible_datasets(registry: DatasetRegistry, viewer: Viewer) -> list[dict[str, Any]]:
    """The datasets the viewer may use, each described (file count and size, cached)."""
    visible = registry.visible_to(viewer.name, viewer.groups, admin=viewer.admin)
    return list(await asyncio.gather(*(registry.describe(d) for d in visible)))
