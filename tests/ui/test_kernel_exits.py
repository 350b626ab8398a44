"""A kernel killed by its memory limit says why in JupyterLab, not only "The kernel died"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_stardock.core.sample import make_sample_dataset

from ..engine.test_neighbours import kernelspec_of
from ..server_process import ServerProcess
from .conftest import SHOTS, lab_server
from .test_panel import open_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Iterator[ServerProcess]:
    """JupyterLab with StarDock whose kernels may use 256 MiB of memory."""
    home = tmp_path_factory.mktemp("lab-exits")
    data = make_sample_dataset(home / "datasets" / "m51")
    config = {
        "StarDockApp": {"datasets": {"m51": {"path": str(data), "title": "Messier 51"}}},
        "StarDockProvisioner": {"mem_limit": "256m"},
    }
    with lab_server(home, config) as server:
        yield server


def test_memory_limit_reached_is_told_in_jupyterlab(page: Any, lab: ServerProcess) -> None:
    spec = kernelspec_of(lab)
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": "hog = b'x' * (1024 * 2**20)  # 1 GiB, written",
            }
        ],
        "metadata": {"kernelspec": {"name": spec, "display_name": spec, "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (lab.root / "hog.ipynb").write_text(json.dumps(notebook))
    open_lab(page, lab, "hog.ipynb")
    page.wait_for_function(
        "() => { const s = window.jupyterapp.shell.currentWidget?.sessionContext;"
        " const k = s?.session?.kernel;"
        " return k && k.name.startsWith('stardock-')"
        " && k.connectionStatus === 'connected' && k.status === 'idle'; }",
        timeout=120_000,
    )
    page.locator(".jp-NotebookPanel:visible .jp-Cell .cm-content").first.click()
    page.keyboard.press("Shift+Enter")
    told = page.locator(".Toastify__toast").filter(
        has_text="The kernel was stopped: memory limit 256 MiB reached."
    )
    told.first.wait_for(timeout=120_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "kernel-exit-memory-limit.png"))
    kernel_id = page.evaluate(
        "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.id"
    )
    record = lab.request("GET", f"/stardock/api/kernels/{kernel_id}/exit")
    assert record["reason"] == "oom"
    assert record["message"] in told.first.inner_text()
