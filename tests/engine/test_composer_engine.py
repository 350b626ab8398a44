"""Composed recipes against the real engine: they build, and their apps work as uid 1000."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from jupyter_stardock.catalog import Catalog, default_catalog_dirs
from jupyter_stardock.engine import Engine
from jupyter_stardock.recipe import LABEL_CONTENT_HASH, BuildSpec, Recipe, compose

from .helpers import run_in_image

REPOSITORY = "stardock-test/env"
CATALOG = Catalog.load(default_catalog_dirs())


def build(engine: Engine, spec: BuildSpec) -> str:
    """The image of ``spec``: found by its tag when built before, else built and tagged."""
    existing = engine.image_sync(spec.tag)
    if existing is not None and existing.labels.get(LABEL_CONTENT_HASH) == spec.content_hash:
        return existing.id
    lines: list[str] = []
    try:
        result = asyncio.run(
            engine.build(spec.dockerfile, spec.context, labels=spec.labels, on_lines=lines.extend)
        )
    except Exception:
        print("".join(lines[-200:]))
        raise
    engine.tag_sync(result.image_id, spec.tag)
    return result.image_id


def run(engine: Engine, image: str, script: str, user: str = "1000:1000") -> tuple[int, str]:
    """Run ``sh -c script`` in a throwaway container with no network, as ``user``."""
    return run_in_image(engine, image, ["sh", "-c", script], user=user, network=False)


@pytest.fixture(scope="module")
def module_engine(engine_available: None) -> Iterator[Engine]:
    engine = Engine(timeout=30)
    yield engine
    engine.close()


def test_astropy_and_a_custom_pip_install(
    module_engine: Engine, base_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = Recipe(
        dataset="not-part-of-the-image",
        apps=("astropy",),
        commands=("RUN pip install emcee==3.1.6",),
    )
    spec = compose(recipe, CATALOG, base_image, repository=REPOSITORY)
    image = build(module_engine, spec)

    info = module_engine.image_sync(spec.tag)
    assert info is not None and info.id == image
    assert info.labels[LABEL_CONTENT_HASH] == spec.content_hash

    check = (
        '"$STARDOCK_PYTHON" -c "import astropy, photutils, reproject, ccdproc, emcee;'
        ' print(emcee.__file__)" && id -u'
    )
    for user in ("1000:1000", "4242:4242"):
        status, out = run(module_engine, image, check, user=user)
        assert status == 0, out
        where, uid = out.split()
        assert where.startswith("/opt/stardock/venv/"), where
        assert uid == user.split(":")[0]

    # The same choice again finds the image without calling the builder.
    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("the builder was called for an existing image")

    monkeypatch.setattr(module_engine, "build", no_build)
    again = compose(
        Recipe(apps=("astropy",), commands=("pip install emcee==3.1.6",)),
        CATALOG,
        base_image,
        repository=REPOSITORY,
    )
    assert again.tag == spec.tag
    assert build(module_engine, again) == image


@pytest.fixture(scope="module")
def whole_catalog(module_engine: Engine, base_image: str) -> str:
    spec = compose(Recipe(apps=tuple(CATALOG.apps)), CATALOG, base_image, repository=REPOSITORY)
    return build(module_engine, spec)


@pytest.mark.slow
@pytest.mark.parametrize("app_id", sorted(CATALOG.apps))
def test_every_app_passes_its_smoke_check(
    module_engine: Engine, whole_catalog: str, app_id: str
) -> None:
    status, out = run(module_engine, whole_catalog, CATALOG.apps[app_id].smoke)
    assert status == 0, f"{app_id}: exit {status}\n{out}"
