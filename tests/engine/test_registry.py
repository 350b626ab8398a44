"""The private registry against the real engine and Debian's docker-registry (issue 16, part 1).

One build serves every node: after a build the environment is in the registry
(asked of the registry's own API), the same recipe on an engine that lacks the
image is pulled instead of built, and removing it deletes its manifest. Over TLS
with htpasswd the credentials reach no image, build log or kernel. Wrong
credentials, an unreachable registry and an error inside the push stream are
sentences, and the local environment is never lost.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_stardock.cli.doctor import registry_checks
from jupyter_stardock.config import StarDockSettings
from jupyter_stardock.core.catalog import Catalog
from jupyter_stardock.core.recipe import BuildSpec, Recipe
from jupyter_stardock.engine import Engine
from jupyter_stardock.engine.registry import Registry, RegistryAddress, load_credentials
from jupyter_stardock.errors import RegistryError
from jupyter_stardock.services.base_image import BaseImageResult, push_base_image
from jupyter_stardock.services.build_records import BuildRecord, BuildState
from jupyter_stardock.services.builds import BuildManager
from jupyter_stardock.services.registry import registry_service
from jupyter_stardock.services.status import registry_status

from .kernel_smoke import run_cells, use_jupyter_home
from .registry_helpers import LocalRegistry, free_port, run_registry, write_credentials


@pytest.fixture
def module_engine(engine_available: None) -> Iterator[Engine]:
    engine = Engine(timeout=30)
    yield engine
    engine.close()


@pytest.fixture
def plain_registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    with run_registry(tmp_path / "plain") as registry:
        yield registry


@pytest.fixture
def secure_registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    password = f"pw-{uuid.uuid4().hex}"
    with run_registry(tmp_path / "tls", tls=True, user="stardock", password=password) as registry:
        yield registry


def manager(engine: Engine, tmp_path: Path, registry: str, credentials: str = "") -> BuildManager:
    builds = BuildManager(
        engine,
        catalog=lambda: Catalog([]),
        base_ref="stardock/base:latest",
        state_dir=tmp_path / f"builds-{uuid.uuid4().hex[:6]}",
        repository=f"stardock-regtest-{uuid.uuid4().hex[:8]}/env",
        timeout=600,
    )
    builds.registry = registry_service(engine, registry, credentials)
    return builds


def tiny_recipe() -> Recipe:
    """No apps, one distinct command: a build of seconds that no other test shares."""
    return Recipe(commands=(f"echo registry-test-{uuid.uuid4().hex[:10]}",))


async def build(builds: BuildManager, spec: BuildSpec) -> tuple[BuildRecord, list[str]]:
    record, image = await builds.submit(spec, "alice")
    assert record is not None and image is None, "the environment should not exist here yet"
    record = await builds.wait(record.id)
    return record, builds.log(record.id).read(0, 10_000).lines


def remove_local(engine: Engine, tag: str) -> None:
    engine.remove_image_sync(tag, force=True)
    assert engine.image_sync(tag) is None


def test_a_build_is_pushed_pulled_elsewhere_instead_of_built_and_deleted_with_it(
    module_engine: Engine,
    base_image: str,
    plain_registry: LocalRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    builds = manager(module_engine, tmp_path, f"{plain_registry.host}/site")
    spec = asyncio.run(builds.compose(tiny_recipe()))
    env_id = spec.content_hash[:16]
    try:
        record, lines = asyncio.run(build(builds, spec))
        assert record.state is BuildState.SUCCEEDED, (record.error, lines)
        assert builds.engine_builds == 1
        # The registry's own API shows the environment, under its content-addressed tag.
        assert plain_registry.tags("site/env") == [env_id]
        copy = record.environment["registry"]  # type: ignore[index]
        assert copy["reference"] == f"{plain_registry.host}/site/env:{env_id}"
        assert copy["digest"] == plain_registry.digest("site/env", env_id)
        assert copy["digest"].startswith("sha256:") and copy["error"] is None
        # Only the local name stays on the image (environments are listed by it).
        assert module_engine.image_sync(spec.tag).tags == (spec.tag,)  # type: ignore[union-attr]

        # Another node (here: the same engine without the image) asks for the same recipe.
        remove_local(module_engine, spec.tag)
        again, lines = asyncio.run(build(builds, spec))
        assert again.state is BuildState.SUCCEEDED, (again.error, lines)
        assert builds.engine_builds == 1, "the environment was built again instead of pulled"
        assert not [line for line in lines if line.startswith("Step ")], lines
        assert any(line.startswith(f"Pulled {copy['reference']}") for line in lines), lines
        assert again.environment["registry"]["pulled"] is True  # type: ignore[index]
        assert again.environment["registry"]["digest"] == copy["digest"]  # type: ignore[index]
        assert again.environment["id"] == env_id  # type: ignore[index]

        # And its kernel starts, from the pulled image.
        use_jupyter_home(tmp_path / "home", monkeypatch)
        cell = asyncio.run(run_cells(spec.tag, ["print(6 * 7)"]))[0]
        assert cell.error is None and cell.stdout.strip() == "42", cell.describe()

        # The base goes to the registry too: its hash tag and latest.
        base = module_engine.image_sync("stardock/base:latest")
        assert base is not None
        hash_tag = next(t for t in base.tags if t != "stardock/base:latest")
        push_base_image(
            builds.registry,  # type: ignore[arg-type]
            BaseImageResult(base, hash_tag, built=False, from_ref=""),
            log=lambda line: None,
        )
        assert sorted(plain_registry.tags("site/base")) == sorted(
            [hash_tag.rsplit(":", 1)[1], "latest"]
        )
        # A server whose engine has no base image pulls the registry's before its first build.
        elsewhere = manager(module_engine, tmp_path, f"{plain_registry.host}/site")
        elsewhere.base_ref = f"{elsewhere.repository.split('/')[0]}/base:latest"
        try:
            assert module_engine.image_sync(elsewhere.base_ref) is None
            assert asyncio.run(elsewhere.base_image()).id == base.id
            assert module_engine.image_sync(elsewhere.base_ref) is not None
        finally:
            module_engine.remove_image_sync(elsewhere.base_ref)

        # Removing the environment deletes its manifest.
        asyncio.run(builds.remove_environment(env_id))
        assert plain_registry.digest("site/env", env_id) is None
        assert plain_registry.tags("site/env") == []
        assert module_engine.image_sync(spec.tag) is None
    finally:
        module_engine.remove_image_sync(spec.tag, force=True)


def test_tls_and_htpasswd_and_the_credentials_reach_no_image_log_or_kernel(
    module_engine: Engine,
    base_image: str,
    secure_registry: LocalRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert secure_registry.url.startswith("https://")
    assert secure_registry.get("/v2/", auth=None).status_code == 401
    builds = manager(
        module_engine, tmp_path, f"{secure_registry.host}/site", str(secure_registry.credentials)
    )
    spec = asyncio.run(builds.compose(tiny_recipe()))
    env_id = spec.content_hash[:16]
    secrets = [
        secure_registry.password,
        base64.b64encode(f"{secure_registry.user}:{secure_registry.password}".encode()).decode(),
    ]
    try:
        record, lines = asyncio.run(build(builds, spec))
        assert record.state is BuildState.SUCCEEDED, (record.error, lines)
        assert record.environment["registry"]["error"] is None, lines  # type: ignore[index]
        assert secure_registry.tags("site/env") == [env_id]

        remove_local(module_engine, spec.tag)
        again, pull_lines = asyncio.run(build(builds, spec))
        assert again.state is BuildState.SUCCEEDED, (again.error, pull_lines)
        assert builds.engine_builds == 1 and again.environment["registry"]["pulled"]  # type: ignore[index]

        # Nowhere in the image (history, labels, config), the logs, the records ...
        api = module_engine._client(quick=False)
        seen = json.dumps([api.inspect_image(spec.tag), api.history(spec.tag)])
        seen += "\n".join(lines + pull_lines)
        seen += "".join(p.read_text() for p in builds.state_dir.iterdir())
        # ... nor in a kernel's environment.
        use_jupyter_home(tmp_path / "home", monkeypatch)
        cell = asyncio.run(
            run_cells(spec.tag, ["import os, json; print(json.dumps(dict(os.environ)))"])
        )[0]
        assert cell.error is None, cell.describe()
        seen += cell.stdout
        assert "HOSTNAME" in cell.stdout  # the environment was really printed
        for secret in secrets:
            assert secret not in seen
    finally:
        module_engine.remove_image_sync(spec.tag, force=True)


def test_wrong_credentials_and_no_registry_are_sentences_and_lose_nothing(
    module_engine: Engine, base_image: str, secure_registry: LocalRegistry, tmp_path: Path
) -> None:
    wrong = write_credentials(
        tmp_path / "wrong.json", secure_registry.host, secure_registry.user, "not-the-password"
    )
    builds = manager(module_engine, tmp_path, f"{secure_registry.host}/site", str(wrong))
    spec = asyncio.run(builds.compose(tiny_recipe()))
    try:
        record, lines = asyncio.run(build(builds, spec))
        # The build still works; the push's failure is said, and the image stays here.
        assert record.state is BuildState.SUCCEEDED, (record.error, lines)
        error = record.environment["registry"]["error"]  # type: ignore[index]
        assert "refused the credentials of user 'stardock'" in error, error
        assert error[0].isupper() and error.endswith("."), error
        assert any("refused the credentials" in line for line in lines), lines
        assert module_engine.image_sync(spec.tag) is not None
        assert secure_registry.tags("site/env") == []

        # The error arrives inside the push stream (HTTP 200): it fails the push with it.
        registry = Registry(
            module_engine,
            RegistryAddress.parse(f"{secure_registry.host}/site"),
            load_credentials(wrong, secure_registry.host),
        )
        with pytest.raises(RegistryError, match=r"^Could not push .*unauthorized.*refused"):
            registry.push_sync(spec.tag, "env", spec.content_hash[:16])
        assert module_engine.image_sync(spec.tag).tags == (spec.tag,)  # type: ignore[union-attr]

        # No registry where one is configured: the build happens here and says why.
        remove_local(module_engine, spec.tag)
        nowhere = manager(module_engine, tmp_path, f"127.0.0.1:{free_port()}/site")
        nowhere.repository = builds.repository
        record, lines = asyncio.run(build(nowhere, spec))
        assert record.state is BuildState.SUCCEEDED, (record.error, lines)
        assert nowhere.engine_builds == 1
        assert any("cannot be reached (connection refused" in line for line in lines), lines
        error = record.environment["registry"]["error"]  # type: ignore[index]
        assert error.startswith("Could not push") and "cannot be reached" in error, error
        assert module_engine.image_sync(spec.tag) is not None
    finally:
        module_engine.remove_image_sync(spec.tag, force=True)


def test_status_and_doctor_say_whether_the_registry_answers_and_takes_the_credentials(
    module_engine: Engine, secure_registry: LocalRegistry, tmp_path: Path
) -> None:
    settings = StarDockSettings(
        registry=f"{secure_registry.host}/site",
        registry_credentials=str(secure_registry.credentials),
    )
    good = registry_service(module_engine, settings.registry, settings.registry_credentials)
    status = asyncio.run(registry_status(good, 5))
    assert status == {
        "address": secure_registry.url,
        "reachable": True,
        "authenticated": True,
        "problem": "",
    }
    [check] = registry_checks(settings, module_engine)  # type: ignore[arg-type]
    assert check.status == "ok" and "user 'stardock'" in check.message

    wrong = write_credentials(tmp_path / "w.json", secure_registry.host, "stardock", "nope")
    settings.registry_credentials = str(wrong)
    [check] = registry_checks(settings, module_engine)  # type: ignore[arg-type]
    assert check.status == "fail" and "refused the credentials of user 'stardock'" in check.message

    settings.registry = f"127.0.0.1:{free_port()}/site"
    [check] = registry_checks(settings, module_engine)  # type: ignore[arg-type]
    assert check.status == "fail" and "have no entry for" in check.message
    settings.registry_credentials = ""
    [check] = registry_checks(settings, module_engine)  # type: ignore[arg-type]
    assert check.status == "fail" and "cannot be reached (connection refused" in check.message
    assert asyncio.run(registry_status(None, 5)) is None
