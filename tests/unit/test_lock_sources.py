"""Where rebuild and diff read a lock from, and how a failed pinned build is read."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from jupyter_stardock.cli.rebuild import pinned_recipe, unavailable_versions
from jupyter_stardock.cli.reproduce import read_source
from jupyter_stardock.core.lock import Lock
from jupyter_stardock.errors import RecipeError, StarDockError

LOCK = Lock(debian={"python3-astropy": "5.2.1-2"}, python={"emcee": "3.1.6"})
RECIPE = {"apps": ["astropy"], "commands": ["pip install emcee==3.1.6"], "dataset": None}


def archive(path: Path, manifest: object) -> Path:
    data = json.dumps(manifest).encode()
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_archives_notebooks_and_lock_files_give_their_recipe_and_lock(tmp_path: Path) -> None:
    a = read_source(str(archive(tmp_path / "a.tar.gz", {"recipe": RECIPE, "lock": LOCK.to_json()})))
    assert a.lock == LOCK and a.recipe == RECIPE and a.what == "the archive a.tar.gz"
    nb = tmp_path / "n.ipynb"
    nb.write_text(
        json.dumps(
            {"cells": [], "metadata": {"stardock": {"recipe": RECIPE, "lock": LOCK.to_json()}}}
        )
    )
    assert read_source(str(nb)).lock == LOCK
    lock_file = tmp_path / "lock.json"
    lock_file.write_text(json.dumps(LOCK.to_json()))
    assert read_source(str(lock_file)).lock == LOCK and read_source(str(lock_file)).recipe is None


def test_mistakes_get_a_sentence(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(StarDockError, match="neither a StarDock outputs archive"):
        read_source(str(text))
    bare = tmp_path / "bare.ipynb"
    bare.write_text(json.dumps({"cells": [], "metadata": {}}))
    with pytest.raises(StarDockError, match="has no StarDock recipe"):
        read_source(str(bare)).need_recipe()
    with pytest.raises(StarDockError, match="carries no lock"):
        read_source(str(bare)).need_lock()
    other = archive(tmp_path / "other.tar.gz", {"x": 1})
    with pytest.raises(StarDockError, match="carries no lock"):
        read_source(str(other)).need_lock()
    with tarfile.open(tmp_path / "plain.tar.gz", "w:gz"):
        pass
    with pytest.raises(StarDockError, match="not a StarDock outputs archive"):
        read_source(str(tmp_path / "plain.tar.gz"))
    with pytest.raises(StarDockError, match="There is no file"):
        read_source(str(tmp_path / "missing.ipynb"))
    forged = tmp_path / "forged.ipynb"
    forged.write_text(
        json.dumps(
            {
                "cells": [],
                "metadata": {
                    "stardock": {"lock": {**LOCK.to_json(), "debian": {"x": "1 && evil"}}}
                },
            }
        )
    )
    with pytest.raises(RecipeError, match=r"the lock in the notebook forged\.ipynb"):
        read_source(str(forged))


def test_a_failed_pinned_build_names_what_no_mirror_has() -> None:
    lines = [
        "E: Version '9.9-1' for 'python3-astropy' was not found",
        "ERROR: Could not find a version that satisfies the requirement Emcee==9.9.9 (from versions: 3.1.6)",
        "ERROR: No matching distribution found for Emcee==9.9.9",
        "unrelated",
    ]
    assert unavailable_versions(lines) == {("debian", "python3-astropy"), ("python", "emcee")}


def test_the_pinned_recipe_replaces_old_pins_and_drops_what_is_gone() -> None:
    old = {**RECIPE, "pins": {"apt": {"old": "1"}, "pip": {}}}
    pinned = pinned_recipe(old, LOCK, {("python", "emcee")})
    assert pinned["pins"] == {"apt": {"python3-astropy": "5.2.1-2"}, "pip": {}}
    assert pinned["commands"] == RECIPE["commands"]
