"""The environments service takes a build request in one place (fakes for the builds and engine).

One composition per request, quotas checked on it, the claim recorded, the
kernelspec published once: for an existing environment at once, for a new one
when its build succeeds, so the build's ``environment`` names it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.core.catalog import Catalog, default_catalog_dirs
from jupyter_stardock.core.claims import EnvironmentClaims
from jupyter_stardock.core.datasets import DatasetRegistry
from jupyter_stardock.core.kernelspecs import KernelspecStore, kernelspec_name
from jupyter_stardock.core.recipe import BuildSpec, Recipe
from jupyter_stardock.core.users import Viewer, server_user
from jupyter_stardock.engine import ImageInfo
from jupyter_stardock.errors import InUse, QuotaExceeded, RecipeError
from jupyter_stardock.labels import EnvironmentLabels
from jupyter_stardock.services.build_records import BuildRecord, BuildState, environment_json
from jupyter_stardock.services.environments import EnvironmentsService, Quotas

HASH = "ab" * 32
ENV = HASH[:16]
TAG = f"stardock/env:{ENV}"


def image() -> ImageInfo:
    labels = EnvironmentLabels(recipe={"commands": ["true"]}, content_hash=HASH).to_labels()
    return ImageInfo(id="sha256:1", tags=(TAG,), labels=labels, created="2026-01-01", size=10)


class FakeBuilds:
    """A build manager that counts compositions and remembers what it was given."""

    def __init__(self, existing: ImageInfo | None = None) -> None:
        self.existing = existing
        self.composed = 0
        self.submitted: list[tuple[BuildSpec, str]] = []
        self.on_built: Any = None
        self.removed: list[str] = []
        self._records: list[BuildRecord] = []

    async def compose(self, recipe: Recipe) -> BuildSpec:
        self.composed += 1
        return BuildSpec("FROM base", {}, HASH, TAG, {}, recipe, ())

    def active(self, content_hash: str) -> BuildRecord | None:
        return None

    def records(self, owner: str | None = None) -> list[BuildRecord]:
        return [r for r in self._records if owner in (None, r.owner)]

    async def environments(self) -> list[dict[str, Any]]:
        return [environment_json(self.existing)] if self.existing else []

    async def environment(self, env_id: str) -> ImageInfo:
        assert self.existing is not None
        return self.existing

    async def remove_environment(self, env_id: str) -> None:
        self.removed.append(env_id)

    async def submit(self, spec: BuildSpec, owner: str) -> tuple[BuildRecord | None, Any]:
        self.submitted.append((spec, owner))
        if self.existing is not None:
            return None, self.existing
        record = BuildRecord(
            id="b1", owner=owner, recipe=spec.recipe.to_json(), content_hash=HASH, tag=TAG
        )
        self._records.append(record)
        return record, None


class FakeEngine:
    def __init__(self, builds: FakeBuilds) -> None:
        self.builds = builds

    async def image(self, ref: str) -> ImageInfo | None:
        return self.builds.existing


class FakeSite:
    def __init__(self, mode: str = "local", in_use: bool = False) -> None:
        self.mode = mode
        self.in_use = in_use

    def may_use_environment(self, viewer: Viewer, environment: str) -> bool:
        return True

    async def environment_in_use(self, environment: str) -> bool:
        return self.in_use


def service(
    tmp_path: Path, builds: FakeBuilds, site: FakeSite | None = None, quotas: Quotas | None = None
) -> EnvironmentsService:
    data = tmp_path / "m51"
    data.mkdir(exist_ok=True)
    return EnvironmentsService(
        builds,  # type: ignore[arg-type]
        engine=FakeEngine(builds),  # type: ignore[arg-type]
        catalog=Catalog.load(default_catalog_dirs()),
        datasets=DatasetRegistry({"m51": {"path": str(data), "title": "Messier 51"}}),
        claims=EnvironmentClaims(tmp_path / "claims.json"),
        kernelspecs=KernelspecStore(tmp_path / "kernels"),
        site=site or FakeSite(),
        quotas=quotas or Quotas(),
    )


ANA = Viewer("ana", scoped=True)
RECIPE = Recipe.from_json({"dataset": "m51", "commands": ["true"]})


def test_a_request_is_composed_once_with_quotas_on(tmp_path: Path) -> None:
    builds = FakeBuilds()
    envs = service(tmp_path, builds, quotas=Quotas(builds=1, image_bytes=1 << 40))
    answer = asyncio.run(envs.request_build(ANA, RECIPE))
    assert builds.composed == 1
    assert answer.build is not None and answer.environment is None
    assert [owner for _, owner in builds.submitted] == ["ana"]
    assert envs.claims.of("ana") == {ENV: ["m51"]}
    # A second build of ana's own would pass the quota of one build at once.
    builds._records[0].state = BuildState.RUNNING
    builds.existing = None
    with pytest.raises(QuotaExceeded, match="1 build"):
        asyncio.run(envs.request_build(ANA, Recipe.from_json({"commands": ["false"]})))
    assert builds.composed == 2


def test_an_existing_environment_answers_with_its_published_kernelspec(tmp_path: Path) -> None:
    builds = FakeBuilds(existing=image())
    envs = service(tmp_path, builds)
    answer = asyncio.run(envs.request_build(ANA, RECIPE))
    assert answer.build is None and answer.environment is not None
    assert answer.environment["kernelspec"] == kernelspec_name(ENV, "m51")
    assert envs.kernelspecs.names() == [kernelspec_name(ENV, "m51")]
    assert {k: v for k, v in answer.environment.items() if k != "kernelspec"} == (
        environment_json(image())
    )


def test_a_succeeded_build_publishes_and_names_its_kernelspec(tmp_path: Path) -> None:
    builds = FakeBuilds()
    envs = service(tmp_path, builds, FakeSite(mode="local"))
    me = Viewer(server_user())
    record = asyncio.run(envs.request_build(me, RECIPE)).build
    assert record is not None
    assert envs.build_view(record, me)["environment"] is None  # not built yet
    # The same environment asked for earlier with no dataset: it gets its kernelspec too.
    envs.claims.add(ENV, server_user(), None)
    record.state, record.environment = BuildState.SUCCEEDED, environment_json(image())
    builds.on_built(record)
    assert envs.kernelspecs.names() == sorted(
        [kernelspec_name(ENV, None), kernelspec_name(ENV, "m51")]
    )
    view = envs.build_view(record, me)["environment"]
    assert view == {**environment_json(image()), "kernelspec": kernelspec_name(ENV, "m51")}


def test_a_follower_sees_the_kernelspec_of_their_own_dataset(tmp_path: Path) -> None:
    envs = service(tmp_path, FakeBuilds(), FakeSite(mode="service"))
    record = BuildRecord(
        id="b1",
        owner="bob",
        recipe={"dataset": "m51"},
        content_hash=HASH,
        tag=TAG,
        state=BuildState.SUCCEEDED,
        followers=["ana"],
        follower_datasets={"ana": None},
        environment=environment_json(image()),
    )
    view = envs.build_view(record, ANA)
    assert view["following"] and "owner" not in view and "followers" not in view
    assert view["environment"]["kernelspec"] == kernelspec_name(ENV, None)
    # In the hub service the users' servers publish their own from their claims.
    envs.builds.on_built(record)  # type: ignore[attr-defined]
    assert envs.kernelspecs.names() == [kernelspec_name(ENV, "m51")]


def test_remove_takes_only_a_claim_others_share_and_never_an_image_in_use(tmp_path: Path) -> None:
    builds = FakeBuilds(existing=image())
    site = FakeSite(mode="service", in_use=True)
    envs = service(tmp_path, builds, site)
    envs.claims.add(ENV, "ana", None)
    envs.claims.add(ENV, "bob", None)
    asyncio.run(envs.remove(ANA, ENV))
    assert envs.claims.users(ENV) == {"bob"} and builds.removed == []
    with pytest.raises(InUse, match="stop the kernel first"):
        asyncio.run(envs.remove(Viewer("bob", scoped=True), ENV))
    site.in_use = False
    envs.publish_kernelspec({"dataset": None}, ENV, TAG)
    asyncio.run(envs.remove(Viewer("bob", scoped=True), ENV))
    assert builds.removed == [ENV] and envs.claims.users(ENV) == set()
    assert envs.kernelspecs.names() == []


def test_a_recipe_naming_an_unknown_dataset_is_refused_for_that_item(tmp_path: Path) -> None:
    envs = service(tmp_path, FakeBuilds())
    with pytest.raises(RecipeError) as info:
        envs.recipe_for(ANA, {"dataset": "nope"})
    assert info.value.item == "dataset"
