"""A terminal and the desktop of a kernel, opened from the panel in Debian's chromium.

The environment (astropy, DS9, the Desktop app) is the one tests/engine/test_desktop.py
builds: its content-addressed tag makes this build a no-op when that ran first.
Screenshots go to tests/artifacts/ui/ (terminal-desktop-*.png).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.core.sample import make_sample_dataset

from ..server_process import ServerProcess
from .conftest import SHOTS, lab_server
from .test_panel import PANEL, open_lab, run_cell

DESKTOP_APPS = ["astropy", "ds9", "desktop"]
PYTHON_NOTEBOOK = {
    "cells": [
        {"cell_type": "code", "metadata": {}, "outputs": [], "source": "", "execution_count": None}
    ],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Iterator[ServerProcess]:
    """JupyterLab with terminals, StarDock and the sample dataset."""
    home = tmp_path_factory.mktemp("terminal-desktop")
    data = make_sample_dataset(home / "datasets" / "m51")
    config = {
        "ServerApp": {
            "jpserver_extensions": {
                "jupyter_stardock": True,
                "jupyterlab": True,
                "jupyter_server_terminals": True,
            }
        },
        "StarDockApp": {
            "datasets": {"m51": {"path": str(data), "title": "Messier 51"}},
            "build_timeout": 1800.0,
        },
    }
    with lab_server(home, config) as server:
        yield server


def desktop_kernel(lab: ServerProcess) -> dict[str, Any]:
    """A running kernel of the desktop environment (built once, through the REST API)."""
    body = lab.request("POST", "/stardock/api/builds", {"apps": DESKTOP_APPS, "dataset": "m51"})
    environment = (body.get("environment") or {}).get("id")
    if body.get("build"):
        build_id = body["build"]["id"]
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            record = lab.request("GET", f"/stardock/api/builds/{build_id}")
            if record["state"] not in ("queued", "running"):
                break
            time.sleep(2)
        assert record["state"] == "succeeded", record
        environment = record["environment"]["id"]
    kernel = lab.request("POST", "/api/kernels", {"name": f"stardock-{environment}-m51"})
    for _ in range(120):
        listed = lab.request("GET", "/stardock/api/kernels")["kernels"]
        mine = [k for k in listed if k["id"] == kernel["id"] and k["state"] == "running"]
        if mine:
            return mine[0]
        time.sleep(1)
    raise AssertionError(f"kernel {kernel['id']} is not running: {listed}")


def type_in_terminal(page: Any, text: str) -> None:
    page.locator(".jp-Terminal:visible .xterm-helper-textarea").focus()
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def wait_for_file(path: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.5)
    raise AssertionError(f"{path} did not appear")


def test_terminal_and_desktop_from_the_panel(page: Any, lab: ServerProcess) -> None:
    kernel = desktop_kernel(lab)
    outputs = lab.root / kernel["outputs"]
    panel = open_lab(page, lab, workspace="terminal-desktop")
    row = panel.locator(f"[data-kernel='{kernel['id']}']")
    row.wait_for()

    # The terminal: JupyterLab's own, its shell in the kernel's container.
    row.get_by_role("button", name="Open a terminal inside the kernel").click()
    page.locator(".jp-Terminal:visible").wait_for()
    terminals = lab.request("GET", "/api/terminals")
    assert len(terminals) == 1, terminals  # the Running panel's list
    type_in_terminal(page, "id -u > /outputs/uid.txt; pwd > /outputs/pwd.txt")
    assert wait_for_file(outputs / "uid.txt") == "1000"
    assert wait_for_file(outputs / "pwd.txt") == "/outputs"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "terminal-desktop-01-terminal.png"))

    # The desktop: a noVNC tab on the kernel's X server; DS9 from the kernel draws there.
    row.get_by_role("button", name="Open the desktop of the kernel").click()
    view = page.locator(".jp-StarDock-desktop[data-connected='true']")
    view.wait_for(timeout=60_000)
    page.get_by_role("tab", name="Terminal 1").click()
    type_in_terminal(
        page,
        "ds9 -geometry 1500x950 /data/m51_r.fits & "
        "until xpaget ds9 file > /outputs/ds9.txt 2>/dev/null && [ -s /outputs/ds9.txt ]; "
        "do sleep 1; done",
    )
    assert wait_for_file(outputs / "ds9.txt", timeout=120).endswith("/data/m51_r.fits")
    page.locator(".lm-TabBar-tab", has_text="Desktop").first.click()
    view.wait_for()
    time.sleep(3)  # DS9 draws the image after it answers XPA
    page.screenshot(path=str(SHOTS / "terminal-desktop-02-ds9.png"))
    # noVNC draws the framebuffer scaled to the tab.
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-StarDock-desktop canvas')]"
        ".some(c => c.getBoundingClientRect().width > 400)"
    )
    assert page.locator(PANEL).is_visible()

    # `%stardock desktop` in a notebook (a plain python kernel) opens the tab again.
    page.locator(".lm-TabBar-tab", has_text="Desktop").first.locator(
        ".lm-TabBar-tabCloseIcon"
    ).click()
    view.wait_for(state="detached")
    (lab.root / "magic.ipynb").write_text(json.dumps(PYTHON_NOTEBOOK))
    page.evaluate(
        "window.jupyterapp.commands.execute('docmanager:open', {path: 'magic.ipynb'})"
        ".then(() => null)"
    )
    run_cell(page, "%load_ext jupyter_stardock\nprint('stardock-loaded')", "stardock-loaded")
    run_cell(page, f"%stardock desktop {kernel['id'][:8]}", "Open the desktop of kernel")
    view.wait_for(timeout=60_000)
    page.screenshot(path=str(SHOTS / "terminal-desktop-03-magic.png"))

    # The kernel stops: its terminal ends, its desktop closes.
    lab.request("DELETE", f"/api/kernels/{kernel['id']}")
    page.locator(".jp-StarDock-desktop[data-connected='false']").wait_for(timeout=60_000)
    for _ in range(60):
        if not lab.request("GET", "/api/terminals"):
            break
        time.sleep(1)
    assert lab.request("GET", "/api/terminals") == []
