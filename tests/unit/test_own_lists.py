"""What a server offers and lists as its own: kernelspecs it can start, environments of its user.

Real kernelspec files and jupyter_client's own KernelSpecManager; the engine's
answer is a counting coroutine, so the cache can be seen to spare the engine.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from jupyter_stardock.core.claims import EnvironmentClaims
from jupyter_stardock.core.kernelspecs import KernelspecStore, LaunchableKernelSpecs
from jupyter_stardock.core.users import Viewer
from jupyter_stardock.errors import EngineUnavailable
from jupyter_stardock.server.app import StarDockApp
from jupyter_stardock.services.status import EngineHealth


class Engine:
    """The engine's list of environments, counting how often it is asked."""

    def __init__(self, environments: set[str]) -> None:
        self.environments = environments
        self.calls = 0
        self.down = False

    async def list(self) -> set[str]:
        self.calls += 1
        await asyncio.sleep(0.01)
        if self.down:
            raise EngineUnavailable("The Docker Engine at unix:///nowhere is unreachable.")
        return set(self.environments)


def write(store: KernelspecStore, env: str, dataset: str | None) -> str:
    return store.write(
        environment=env,
        image=f"stardock/env:{env}",
        dataset_id=dataset,
        dataset_title=dataset,
        app_titles=[],
        recipe={},
    )


@pytest.fixture
def kernels(tmp_path: Path) -> tuple[KernelSpecManager, KernelspecStore]:
    folder = tmp_path / "kernels"
    store = KernelspecStore(folder)
    ksm = KernelSpecManager(kernel_dirs=[str(folder)], ensure_native_kernel=True)
    return ksm, store


def launchable(ksm: KernelSpecManager, engine: Engine, ttl: float = 60) -> LaunchableKernelSpecs:
    return LaunchableKernelSpecs(ksm, datasets=lambda: {"m51"}, environments=engine.list, ttl=ttl)


async def test_lists_a_stardock_kernel_only_with_its_dataset_and_environment(kernels) -> None:
    ksm, store = kernels
    ours = write(store, "aaaa", "m51")
    no_data = write(store, "aaaa", None)
    other_dataset = write(store, "aaaa", "ngc1300")
    gone = write(store, "bbbb", "m51")
    specs = launchable(ksm, Engine({"aaaa"}))
    listed = await specs.get_all_specs()
    assert ours in listed and no_data in listed
    assert other_dataset not in listed and gone not in listed
    assert "python3" in listed  # not ours to filter
    assert (await specs.get_kernel_spec(ours)).display_name.startswith("StarDock")
    with pytest.raises(NoSuchKernel):
        await specs.get_kernel_spec(gone)
    # The wrapped manager (the kernel manager's, nbconvert's) still has every file.
    assert {ours, other_dataset, gone} <= set(ksm.find_kernel_specs())


async def test_the_engine_is_asked_once_per_ttl_not_per_request(kernels) -> None:
    ksm, store = kernels
    write(store, "aaaa", "m51")
    engine = Engine({"aaaa"})
    specs = launchable(ksm, engine)
    await asyncio.gather(*(specs.get_all_specs() for _ in range(5)))  # at once: one call
    for _ in range(20):
        await specs.get_all_specs()
    assert engine.calls == 1
    expired = launchable(ksm, engine, ttl=0)
    await expired.get_all_specs()
    await expired.get_all_specs()
    assert engine.calls == 3


async def test_engine_down_offers_no_stardock_kernel_and_is_not_asked_each_time(kernels) -> None:
    ksm, store = kernels
    ours = write(store, "aaaa", "m51")
    engine = Engine({"aaaa"})
    engine.down = True
    errors: list[Exception] = []
    specs = LaunchableKernelSpecs(
        ksm, datasets=lambda: {"m51"}, environments=engine.list, ttl=60, on_error=errors.append
    )
    for _ in range(10):
        listed = await specs.get_all_specs()
        assert ours not in listed and "python3" in listed
    assert engine.calls == 1 and len(errors) == 1
    # The engine comes back: the status poll notices, and the cache is asked again.
    engine.down = False
    health = EngineHealth("unix:///nowhere", logging.getLogger("test-health"))
    health.on_recovered = specs.expire
    health.failed("It is unreachable.")
    health.answered()
    assert ours in await specs.get_all_specs()
    assert engine.calls == 2


async def test_a_build_is_offered_at_once_without_asking_the_engine(kernels) -> None:
    ksm, store = kernels
    engine = Engine(set())
    write(store, "old0", "m51")  # there is a StarDock kernelspec: the engine is asked
    specs = launchable(ksm, engine)
    store.on_write = specs.add_environment
    assert not [n for n in await specs.get_all_specs() if n.startswith("stardock-")]
    new = write(store, "cccc", "m51")  # what a finished build does
    assert new in await specs.get_all_specs()
    assert engine.calls == 1


async def test_no_stardock_kernelspec_no_engine_call(kernels) -> None:
    ksm, _store = kernels
    engine = Engine(set())
    assert "python3" in await launchable(ksm, engine).get_all_specs()
    assert engine.calls == 0


def test_environment_lists_hold_the_users_own_and_the_shared(tmp_path: Path) -> None:
    app = StarDockApp()
    app.claims = EnvironmentClaims(tmp_path / "claims.json")
    app.claims.add("mine", "ana", "m51")
    app.claims.add("bobs", "bob", None)
    envs = [{"id": i} for i in ("mine", "bobs", "site", "stray")]
    ana = Viewer("ana")
    assert [e["id"] for e in app.visible_environments(ana, envs)] == ["mine"]
    app.shared_environments = ["site"]
    assert [e["id"] for e in app.visible_environments(ana, envs)] == ["mine", "site"]
    app.shared_environments = ["*"]
    assert app.visible_environments(ana, envs) == envs
    app.shared_environments = []
    hub_admin = Viewer("root", admin=True, scoped=True)
    assert app.visible_environments(hub_admin, envs) == envs
    # By id as in the lists: GET or DELETE of another user's environment is "not found".
    assert app.may_use_environment(ana, "mine") and not app.may_use_environment(ana, "bobs")
    assert not app.may_use_environment(Viewer("ana", scoped=True), "bobs")
    app.shared_environments = ["bobs"]
    assert app.may_use_environment(Viewer("ana", scoped=True), "bobs")


def test_an_outage_is_logged_when_it_starts_and_when_it_ends(caplog) -> None:
    health = EngineHealth("unix:///nowhere", logging.getLogger("test-health"))
    with caplog.at_level(logging.INFO, logger="test-health"):
        assert health.answered() is False  # up, and staying up: nothing to say
        assert health.failed("It is unreachable.") is True
        for _ in range(5):
            assert health.failed("It is unreachable.") is False
        assert health.down
        assert health.answered() is True
        assert health.answered() is False
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "unix:///nowhere is unreachable: It is unreachable." in messages[0]
    assert "answers again" in messages[1]
