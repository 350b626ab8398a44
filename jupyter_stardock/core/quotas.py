"""Per-user quotas of the hub service: concurrent builds, running kernels, image disk.

Only requests that would add load are refused: joining an identical build or
getting an environment that exists never counts against a quota.
"""

from __future__ import annotations

from typing import Any

from ..errors import QuotaExceeded
from .recipe import Recipe
from .users import Viewer

__all__ = ["check_build_quotas", "check_kernel_quota"]


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


async def check_build_quotas(app: Any, viewer: Viewer, recipe: Recipe) -> None:
    """Raise QuotaExceeded (429) when a new build would take the user past a quota."""
    if viewer.admin or (app.quota_builds is None and app.quota_image_bytes is None):
        return
    builds = app.builds
    spec = await builds.compose(recipe)
    if builds.active(spec.content_hash) or await app.engine.image(spec.tag) is not None:
        return  # no new engine build
    if app.quota_builds is not None:
        active = [
            r
            for r in builds.records(viewer.name)
            if r.owner == viewer.name and not r.state.finished
        ]
        if len(active) >= app.quota_builds:
            raise QuotaExceeded(
                f"You have {len(active)} build(s) queued or running, the most this service allows "
                f"at once ({app.quota_builds}). Wait for one to finish, or cancel one."
            )
    if app.quota_image_bytes is not None:
        mine = app.claims.of(viewer.name)
        used = sum(e["size"] for e in await builds.environments() if e["id"] in mine)
        if used >= app.quota_image_bytes:
            raise QuotaExceeded(
                f"Your environments take {_gib(used)}, the disk this service allows you "
                f"({_gib(app.quota_image_bytes)}). Delete environments you no longer need, then build again."
            )


async def check_kernel_quota(app: Any, viewer: Viewer) -> None:
    if viewer.admin or app.quota_kernels is None:
        return
    running = await app.running_kernels(Viewer(viewer.name, scoped=True))
    if len(running) >= app.quota_kernels:
        raise QuotaExceeded(
            f"You have {len(running)} StarDock kernel(s) running, the most this service allows "
            f"({app.quota_kernels}). Shut one down first."
        )
