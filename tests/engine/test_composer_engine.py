"""Composed recipes against the real engine: they build, and their apps work as uid 1000."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_stardock.core.catalog import Catalog, default_catalog_dirs
from jupyter_stardock.core.recipe import BuildSpec, Recipe, compose
from jupyter_stardock.engine import Engine
from jupyter_stardock.labels import CONTENT_HASH as LABEL_CONTENT_HASH

from .helpers import run_in_image
from .kernel_smoke import run_cells, use_jupyter_home

REPOSITORY = "stardock-test/env"
CATALOG = Catalog.load(default_catalog_dirs())
KERNEL_CHECKED = sorted(app_id for app_id, app in CATALOG.apps.items() if app.smoke_kernel)
ASTROPY_AND_EMCEE = Recipe(apps=("astropy",), commands=("pip install emcee==3.1.6",))


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
    again = compose(ASTROPY_AND_EMCEE, CATALOG, base_image, repository=REPOSITORY)
    assert again.tag == spec.tag
    assert build(module_engine, again) == image


def assert_kernel_checks_pass(image: str, app_ids: list[str]) -> None:
    """Every app's ``smoke_kernel`` cell, one after another in one kernel of ``image``."""
    apps = [CATALOG.apps[app_id] for app_id in app_ids]
    cells = asyncio.run(run_cells(image, [app.smoke_kernel or "" for app in apps]))
    for app, cell in zip(apps, cells, strict=True):
        assert cell.error is None, f"{app.id} in a kernel:\n{cell.describe()}"
        missing = set(app.smoke_kernel_displays) - cell.mime_types
        assert not missing, f"{app.id} in a kernel displayed no {missing}:\n{cell.describe()}"


def test_astropy_plots_inline_in_a_kernel_after_a_custom_pip_install(
    module_engine: Engine, base_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel runtime fits Debian's matplotlib, and pip (constrained) left it alone."""
    spec = compose(ASTROPY_AND_EMCEE, CATALOG, base_image, repository=REPOSITORY)
    build(module_engine, spec)
    use_jupyter_home(tmp_path, monkeypatch)
    assert_kernel_checks_pass(spec.tag, ["astropy"])
    cell = asyncio.run(
        run_cells(spec.tag, ["import emcee, matplotlib, numpy; print(numpy.__version__)"])
    )[0]
    assert cell.error is None, cell.describe()
    status, constraints = run(module_engine, spec.tag, "cat /opt/stardock/pip-constraints.txt")
    assert status == 0, constraints
    assert f"numpy=={cell.stdout.strip()}" in constraints.splitlines()


@pytest.fixture(scope="module")
def whole_catalog(module_engine: Engine, base_image: str) -> str:
    spec = compose(Recipe(apps=tuple(CATALOG.apps)), CATALOG, base_image, repository=REPOSITORY)
    build(module_engine, spec)
    return spec.tag


@pytest.mark.slow
@pytest.mark.parametrize("app_id", sorted(CATALOG.apps))
def test_every_app_passes_its_smoke_check(
    module_engine: Engine, whole_catalog: str, app_id: str
) -> None:
    status, out = run(module_engine, whole_catalog, CATALOG.apps[app_id].smoke)
    assert status == 0, f"{app_id}: exit {status}\n{out}"


@pytest.mark.slow
@pytest.mark.parametrize("app_id", KERNEL_CHECKED)
def test_every_python_app_passes_its_kernel_check(
    whole_catalog: str, app_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_jupyter_home(tmp_path, monkeypatch)
    assert_kernel_checks_pass(whole_catalog, [app_id])


@pytest.mark.slow
def test_every_python_app_works_beside_the_others_in_one_kernel(
    whole_catalog: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert {"astropy", "pyraf"} <= set(KERNEL_CHECKED)
    use_jupyter_home(tmp_path, monkeypatch)
    assert_kernel_checks_pass(whole_catalog, KERNEL_CHECKED)
