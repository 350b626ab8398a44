"""Per-user quotas of the hub service: concurrent builds, running kernels, image disk.

Only requests that would add load are refused: joining an identical build or
getting an environment that exists never counts against a quota.

What a check reads is typed by the protocols below (the server application,
its build manager and engine satisfy them; the tests pass small fakes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ..errors import QuotaExceeded
from .recipe import BuildSpec, Recipe
from .users import Viewer

__all__ = [
    "BuildQuotaContext",
    "KernelQuotaContext",
    "check_build_quotas",
    "check_gpu_quota",
    "check_kernel_quota",
    "slot_room",
]


class _State(Protocol):
    @property
    def finished(self) -> bool: ...


class _Build(Protocol):
    @property
    def owner(self) -> str: ...
    @property
    def state(self) -> _State: ...


class _Builds(Protocol):
    async def compose(self, recipe: Recipe) -> BuildSpec: ...
    def active(self, content_hash: str) -> object | None: ...
    def records(self, owner: str | None = None) -> Sequence[_Build]: ...
    async def environments(self) -> list[dict[str, Any]]: ...


class _Images(Protocol):
    async def image(self, ref: str) -> object | None: ...


class _Claims(Protocol):
    def of(self, user: str) -> Mapping[str, list[str]]: ...


class BuildQuotaContext(Protocol):
    """The limits and what they count: the user's builds, their claimed images."""

    @property
    def quota_builds(self) -> int | None: ...
    @property
    def quota_image_bytes(self) -> int | None: ...
    @property
    def builds(self) -> _Builds: ...
    @property
    def engine(self) -> _Images: ...
    @property
    def claims(self) -> _Claims: ...


class KernelQuotaContext(Protocol):
    @property
    def quota_kernels(self) -> int | None: ...
    async def running_kernels(self, viewer: Viewer | None = None) -> list[dict[str, Any]]: ...


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


async def check_build_quotas(
    app: BuildQuotaContext, viewer: Viewer, recipe: Recipe, spec: BuildSpec | None = None
) -> None:
    """Raise QuotaExceeded (429) when a new build would take the user past a quota.

    ``spec`` is the request's composition when the caller has it (the
    environments service always does): the Dockerfile is composed once per request.
    """
    if viewer.admin or (app.quota_builds is None and app.quota_image_bytes is None):
        return
    builds = app.builds
    if spec is None:
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


async def check_kernel_quota(app: KernelQuotaContext, viewer: Viewer) -> None:
    if viewer.admin or app.quota_kernels is None:
        return
    running = await app.running_kernels(Viewer(viewer.name, scoped=True))
    if len(running) >= app.quota_kernels:
        raise QuotaExceeded(
            f"You have {len(running)} StarDock kernel(s) running, the most this service allows "
            f"({app.quota_kernels}). Shut one down first."
        )


# issue 18
def check_gpu_quota(limit: int | None, viewer: Viewer, running_with_gpus: int) -> None:
    """Raise QuotaExceeded when one more GPU kernel would take the user past their quota."""
    if viewer.admin or limit is None:
        return
    if running_with_gpus >= limit:
        raise QuotaExceeded(
            f"You have {running_with_gpus} StarDock kernel(s) with GPUs running, the most this "
            f"service allows ({limit}). Shut one down first, or start an environment without GPUs."
        )


# issue 14: the hub service's warm pool keeps each user's slots within their quotas
def slot_room(limit: int | None, viewer: Viewer, running: int) -> int | None:
    """How many pre-started kernels a user may hold: their quota less their running kernels.

    None when no limit applies (no quota, or an admin). check_kernel_quota never
    counts slots (they are nobody's kernels until claimed), so a slot never makes
    a real start hit 429: the pool keeps the slots within this room instead, and
    lets a slot go when its user's own kernels take the room.
    """
    if viewer.admin or limit is None:
        return None
    return max(0, limit - running)
