"""Hub quotas refuse only new load, with a sentence (fakes for the build manager and engine)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from jupyter_stardock.core.quotas import check_build_quotas, check_kernel_quota
from jupyter_stardock.core.recipe import Recipe
from jupyter_stardock.core.users import Viewer
from jupyter_stardock.errors import QuotaExceeded
from jupyter_stardock.services.build_records import BuildRecord, BuildState


class FakeBuilds:
    def __init__(self, records, environments, active_hash=None):  # type: ignore[no-untyped-def]
        self._records, self._environments, self._active = records, environments, active_hash

    async def compose(self, recipe):  # type: ignore[no-untyped-def]
        return SimpleNamespace(content_hash="h" * 64, tag="stardock/env:hhhh")

    def active(self, content_hash):  # type: ignore[no-untyped-def]
        return object() if content_hash == self._active else None

    def records(self, owner):  # type: ignore[no-untyped-def]
        return [r for r in self._records if owner in (None, r.owner)]

    async def environments(self):  # type: ignore[no-untyped-def]
        return self._environments


class FakeEngine:
    def __init__(self, exists: bool) -> None:
        self.exists = exists

    async def image(self, ref):  # type: ignore[no-untyped-def]
        return object() if self.exists else None


class FakeClaims:
    def __init__(self, mine):  # type: ignore[no-untyped-def]
        self.mine = mine

    def of(self, user):  # type: ignore[no-untyped-def]
        return self.mine


def app(**kw):  # type: ignore[no-untyped-def]
    defaults = dict(
        quota_builds=None,
        quota_image_bytes=None,
        quota_kernels=None,
        builds=FakeBuilds([], []),
        engine=FakeEngine(False),
        claims=FakeClaims({}),
    )
    return SimpleNamespace(**{**defaults, **kw})


ANA = Viewer("ana", scoped=True)
RUNNING = BuildRecord(
    id="b1", owner="ana", recipe={}, content_hash="x" * 64, tag="t", state=BuildState.RUNNING
)


def check(a) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(check_build_quotas(a, ANA, Recipe()))


def test_concurrent_builds_quota() -> None:
    with pytest.raises(QuotaExceeded, match="1 build"):
        check(app(quota_builds=1, builds=FakeBuilds([RUNNING], [])))
    check(app(quota_builds=2, builds=FakeBuilds([RUNNING], [])))  # room left
    # Joining an identical build, or an existing image, is no new load.
    check(app(quota_builds=1, builds=FakeBuilds([RUNNING], [], active_hash="h" * 64)))
    check(app(quota_builds=1, builds=FakeBuilds([RUNNING], []), engine=FakeEngine(True)))
    # Admins are not limited.
    asyncio.run(
        check_build_quotas(app(quota_builds=0), Viewer("root", admin=True, scoped=True), Recipe())
    )


def test_image_disk_quota_counts_the_users_environments() -> None:
    envs = [{"id": "e1", "size": 3 << 30}, {"id": "e2", "size": 5 << 30}]
    with pytest.raises(QuotaExceeded, match=r"3\.0 GiB"):
        check(
            app(
                quota_image_bytes=2 << 30,
                builds=FakeBuilds([], envs),
                claims=FakeClaims({"e1": [""]}),
            )
        )
    check(
        app(quota_image_bytes=4 << 30, builds=FakeBuilds([], envs), claims=FakeClaims({"e1": [""]}))
    )


def test_kernel_quota() -> None:
    async def two(viewer):  # type: ignore[no-untyped-def]
        return [{"id": "k1"}, {"id": "k2"}]

    with pytest.raises(QuotaExceeded, match="2 StarDock kernel"):
        asyncio.run(check_kernel_quota(app(quota_kernels=2, running_kernels=two), ANA))
    asyncio.run(check_kernel_quota(app(quota_kernels=3, running_kernels=two), ANA))
