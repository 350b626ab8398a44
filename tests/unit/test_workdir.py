"""The notebook's folder at /work (issue 18): which notebooks opted in, and which folders may be."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from jupyter_stardock.errors import KernelStartError
from jupyter_stardock.kernels.workdir import notebook_asks_for_work, wants_work, work_folder_for


def _notebook(path: Path, metadata: object) -> Path:
    path.write_text(json.dumps({"cells": [], "metadata": metadata, "nbformat": 4}))
    return path


def test_only_a_notebook_that_says_so_inside_the_root_opts_in(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "obs").mkdir(parents=True)
    asks = _notebook(root / "obs" / "asks.ipynb", {"stardock": {"work": True}})
    assert notebook_asks_for_work(str(asks), root=root)
    assert notebook_asks_for_work("obs/asks.ipynb", root=root)  # an API path
    assert not notebook_asks_for_work(
        str(_notebook(root / "obs" / "no.ipynb", {"stardock": {"work": "yes"}})), root=root
    )
    assert not notebook_asks_for_work(str(_notebook(root / "obs" / "none.ipynb", [])), root=root)
    (root / "obs" / "broken.ipynb").write_text("{not json")
    assert not notebook_asks_for_work(str(root / "obs" / "broken.ipynb"), root=root)
    # A link to a notebook that asks, or a notebook outside the root, is no opt-in.
    os.symlink(asks, root / "obs" / "link.ipynb")
    assert not notebook_asks_for_work(str(root / "obs" / "link.ipynb"), root=root)
    outside = _notebook(tmp_path / "out.ipynb", {"stardock": {"work": True}})
    assert not notebook_asks_for_work(str(outside), root=root)
    assert not notebook_asks_for_work("../out.ipynb", root=root)


def test_the_operator_decides_whether_notebooks_may_opt_in(tmp_path: Path) -> None:
    root = tmp_path
    _notebook(root / "a.ipynb", {"stardock": {"work": True}})
    nb = str(root / "a.ipynb")
    assert wants_work(always=True, per_notebook=False, notebook=None, root=lambda: root)
    assert wants_work(always=False, per_notebook=True, notebook=nb, root=lambda: root)
    assert not wants_work(always=False, per_notebook=False, notebook=nb, root=lambda: root)
    assert not wants_work(always=False, per_notebook=True, notebook=None, root=lambda: root)


def test_a_folder_outside_the_root_is_refused_with_the_sentence_the_user_sees(
    tmp_path: Path,
) -> None:
    (tmp_path / "root").mkdir()
    with pytest.raises(KernelStartError) as info:
        work_folder_for("/etc", root=tmp_path / "root", state=tmp_path / "state")
    assert str(info.value) == (
        "The notebook's folder /etc cannot be mounted at /work: it is outside the server's "
        f"root. Only folders inside the server's root ({tmp_path / 'root'}) are, and never "
        "through a symlink."
    )
