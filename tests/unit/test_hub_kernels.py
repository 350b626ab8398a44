"""The hub service starts a user's kernel only in their environment, beside a dataset they may use,
within their quota, under an id of its own (fakes for the kernel manager and the builds)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.core.kernelspecs import kernelspec_name
from jupyter_stardock.core.users import Viewer
from jupyter_stardock.errors import InUse, NotFound, QuotaExceeded
from jupyter_stardock.services.environments import Quotas
from jupyter_stardock.services.hub_kernels import HubKernels

from .test_environments_service import ENV, FakeBuilds, FakeSite, image, service

ANA = Viewer("ana", scoped=True)
KERNEL = "0b5e1c1e-2f6a-4c59-9d6e-3f2a1b0c9d8e"


class FakeProvisioner:
    def __init__(self) -> None:
        self.signals: list[int] = []

    async def poll(self) -> int | None:
        return None

    async def send_signal(self, signum: int) -> None:
        self.signals.append(signum)


class FakeKernel:
    def __init__(self) -> None:
        self.provisioner = FakeProvisioner()

    def get_connection_info(self, session: bool = False) -> dict[str, Any]:
        return {"key": b"secret", "shell_port": 5000}


class FakeKernelManager(dict[str, FakeKernel]):
    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.started: list[dict[str, Any]] = []

    def get_kernel(self, kernel_id: str) -> FakeKernel:
        return self[kernel_id]

    async def start_kernel(self, **kwargs: Any) -> str:
        if self.fail:
            raise RuntimeError("no container")
        self.started.append(kwargs)
        self[kwargs["kernel_id"]] = FakeKernel()
        return str(kwargs["kernel_id"])

    async def shutdown_kernel(self, kernel_id: str, now: bool = False) -> None:
        del self[kernel_id]


class FakeKernelSite:
    def __init__(self, running: int = 0) -> None:
        self.kernel_aliases: dict[tuple[str, str], str] = {}
        self.running = running

    def register_service_kernel(self, internal: str, owner: str, client_id: str) -> None:
        self.kernel_aliases[(owner, client_id)] = internal

    def forget_service_kernel(self, internal: str) -> None:
        for alias in [a for a, i in self.kernel_aliases.items() if i == internal]:
            del self.kernel_aliases[alias]

    async def running_kernels(self, viewer: Viewer | None = None) -> list[dict[str, Any]]:
        return [{"id": str(n)} for n in range(self.running)]


class AnasOnly(FakeSite):
    def may_use_environment(self, viewer: Viewer, environment: str) -> bool:
        return viewer.name == "ana"


def kernels(
    tmp_path: Path, km: FakeKernelManager, site: FakeKernelSite, quota: int | None = None
) -> HubKernels:
    envs = service(
        tmp_path, FakeBuilds(existing=image()), AnasOnly("service"), Quotas(kernels=quota)
    )
    return HubKernels(envs, site, lambda: km)  # type: ignore[arg-type,return-value]


def test_a_kernel_starts_under_the_services_own_id_for_its_user(tmp_path: Path) -> None:
    km, site = FakeKernelManager(), FakeKernelSite()
    hub = kernels(tmp_path, km, site)
    connection = asyncio.run(hub.start(ANA, KERNEL, ENV, "m51"))
    assert connection == {"key": "secret", "shell_port": 5000}
    [started] = km.started
    assert started["kernel_id"] != KERNEL and started["stardock_client_id"] == KERNEL
    assert started["stardock_owner"] == "ana"
    assert started["kernel_name"] == kernelspec_name(ENV, "m51")
    assert asyncio.run(hub.poll(ANA, KERNEL)) is None
    with pytest.raises(InUse, match="running already"):
        asyncio.run(hub.start(ANA, KERNEL, ENV, "m51"))
    # Someone else asking for ana's kernel id finds nothing.
    with pytest.raises(NotFound):
        asyncio.run(hub.poll(Viewer("bob", scoped=True), KERNEL))
    asyncio.run(hub.signal(ANA, KERNEL, 2))
    assert km[started["kernel_id"]].provisioner.signals == [2]
    asyncio.run(hub.shutdown(ANA, KERNEL))
    assert site.kernel_aliases == {} and not km


def test_a_kernel_is_refused_outside_the_users_environment_dataset_or_quota(
    tmp_path: Path,
) -> None:
    km, site = FakeKernelManager(), FakeKernelSite(running=2)
    with pytest.raises(NotFound):
        asyncio.run(
            kernels(tmp_path, km, site).start(Viewer("bob", scoped=True), KERNEL, ENV, None)
        )
    with pytest.raises(NotFound):
        asyncio.run(kernels(tmp_path, km, site).start(ANA, KERNEL, ENV, "nope"))
    with pytest.raises(QuotaExceeded, match="2 StarDock kernel"):
        asyncio.run(kernels(tmp_path, km, site, quota=2).start(ANA, KERNEL, ENV, None))
    assert km.started == [] and site.kernel_aliases == {}


def test_a_failed_start_forgets_the_kernels_id(tmp_path: Path) -> None:
    km, site = FakeKernelManager(fail=True), FakeKernelSite()
    with pytest.raises(RuntimeError):
        asyncio.run(kernels(tmp_path, km, site).start(ANA, KERNEL, ENV, None))
    assert site.kernel_aliases == {}
