"""The content hash names an environment's image: it must not change under a refactor.

An environment built yesterday is found again by its tag; if the same recipe
hashed differently today, every user's environment would be built again. The
values below were computed by the code as it was before the hash helper was
shared (commit 96344f6), and must stay.
"""

from __future__ import annotations

import hashlib

import pytest

from jupyter_stardock.core.catalog import Catalog
from jupyter_stardock.core.content_hash import hash_parts
from jupyter_stardock.core.recipe import Recipe, compose
from jupyter_stardock.services.base_image import base_content_hash

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


def test_each_part_is_length_prefixed() -> None:
    assert hash_parts(b"ab", b"c") != hash_parts(b"a", b"bc")
    assert hash_parts(b"") != hash_parts()
    # sha256 of the 8-byte length 1 and b"a".
    assert hash_parts(b"a") == hashlib.sha256(b"\0\0\0\0\0\0\0\1a").hexdigest()


def test_the_base_image_and_its_root_filesystem_keep_their_hashes() -> None:
    context = {"extra-ca/.keep": b"", "a": b"1"}
    assert (
        base_content_hash("FROM x\n", context, "sha256:cd")
        == "d76b857efb8186e247fccbd03a42d5210ffb8d63a1f58f26900832ed83a8bc67"
    )
    # What _rootfs_tag hashes: suite, mirror, architecture.
    assert (
        hash_parts(b"bookworm", b"http://deb.debian.org/debian", b"x86_64")
        == "5ea294d8da1beb82afa90a54f9ceef536d352b0e655a19a1099fabb13057a792"
    )
