"""The content hash names an environment's image: it must not change under a refactor.

An environment built yesterday is found again by its tag; if the same recipe
hashed differently today, every user's environment would be built again. The
values below were computed by the code as it was before the hash helper was
shared (commit 96344f6), and must stay.
"""

from __future__ import annotations

import pytest

from jupyter_stardock.core.catalog import Catalog
from jupyter_stardock.core.recipe import Recipe, compose

from .conftest import AppWriter

BASE_ID = "sha256:" + "ab" * 32


@pytest.fixture
def catalog(write_app: AppWriter) -> Catalog:
    write_app(
        "astropy", title="Astropy", description="Astronomy in Python.", apt=["python3-astropy"]
    )
    folder = write_app(
        "iraf",
        title="IRAF",
        description="The classic.",
        apt=["iraf"],
        env={"TERM": "xterm"},
        run=["echo ok > /opt/x"],
    ).parent
    loaded = Catalog.load([folder])
    assert loaded.problems == []
    return loaded


def test_a_known_composition_keeps_its_content_hash_and_tag(catalog: Catalog) -> None:
    spec = compose(
        Recipe(
            apps=("iraf", "astropy"),
            commands=("pip install emcee",),
            apt_packages=("python3-scipy",),
            pip_packages=("astroquery",),
        ),
        catalog,
        BASE_ID,
    )
    assert spec.content_hash == "a25ba4e7d0a441a44b83679ac6c34f46567d2fbc494a6064a03acb2ec97b2899"
    assert spec.tag == "stardock/env:a25ba4e7d0a441a4"


@pytest.mark.parametrize(
    ("recipe", "content_hash"),
    [
        (Recipe(), "eaca07fb5e47a32dde34849ed8de5499ab3b737208e1c58d11e334c043afa4a8"),
        (
            Recipe(pip_constraints=False),
            "e09ce128dc5e031eca5c0d02cdae53975939ce7beae5481d0c31430b8d96d9d0",
        ),
    ],
)
def test_the_plainest_recipes_keep_their_content_hash(recipe: Recipe, content_hash: str) -> None:
    assert compose(recipe, Catalog({}), BASE_ID).content_hash == content_hash
