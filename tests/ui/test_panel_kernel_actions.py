"""The panel's kernel actions in a real JupyterLab, against the real engine.

What jest checks with fakes, clicked as a user would: the lock a notebook
records (issue 17), pausing and resuming a running kernel (issue 17), the warm
pool in the status section (issue 14), the pinned rebuild of an archive's
environment (issue 17), and the notebook's folder at /work (issue 18). One lab
server for the module; one screenshot per step under tests/artifacts/ui/.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_stardock.core.sample import make_sample_dataset

from ..server_process import ServerProcess
from .conftest import lab_server
from .test_panel import APPS, BUILD_TIMEOUT_MS, Steps, open_lab, run_cell

#: The recipe the panel builds here: test_panel's two light apps, without its
#: per-run commands, so the engine's layer cache (or the image itself) serves it.
APP_IDS = sorted(a.lower() for a in APPS)
VERSION = re.compile(r"[0-9][A-Za-z0-9.+~:-]*")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Iterator[ServerProcess]:
    """JupyterLab whose notebooks may ask for their folder at /work (issue 18)."""
    home = tmp_path_factory.mktemp("lab-actions")
    data = make_sample_dataset(home / "datasets" / "m51")
    config = {
        "StarDockApp": {
            "datasets": {"m51": {"path": str(data), "title": "Messier 51"}},
            "build_timeout": 900.0,
        },
        "StarDockProvisioner": {"notebook_folder_per_notebook": True},
    }
    with lab_server(home, config) as server:
        yield server


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    import docker

    client = docker.from_env()
    try:
        yield client
    finally:
        client.close()


def remove_pinned_images(engine: Any) -> None:
    """Remove this recipe's pinned environments an earlier run left (else the rebuild
    finds its image and starts no build). Another server's environments are not in
    this server's lists, so they are looked for on the engine."""
    for image in engine.images.list(filters={"label": "org.jupyter-stardock.environment"}):
        recipe = json.loads(image.labels.get("org.jupyter-stardock.recipe") or "{}")
        if recipe.get("pins") and recipe.get("apps") == APP_IDS and not recipe.get("commands"):
            for tag in image.tags:
                engine.images.remove(tag)


def wait_until(what: str, done: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = done()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def kernel_row(lab: ServerProcess, kernel_id: str) -> dict[str, Any]:
    kernels = lab.request("GET", "/stardock/api/kernels")["kernels"]
    return next(k for k in kernels if k["id"] == kernel_id)


def current_kernel_id(page: Any) -> str:
    return str(
        page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.id")
    )


def type_in_last_cell(page: Any, code: str) -> None:
    cell = page.locator(".jp-NotebookPanel:visible .jp-Cell").last
    cell.locator(".cm-content").click()
    page.keyboard.type(code)
    page.keyboard.press("Shift+Enter")


def pool_text(pool: dict[str, Any]) -> str:
    """The panel's words for the pool (labextension/src/components/StatusSection.tsx)."""

    def size(n: float) -> str:  # formatMemory in labextension/src/format.ts
        units = ["B", "KiB", "MiB", "GiB", "TiB"]
        unit = 0
        while n >= 1024 and unit < len(units) - 1:
            n /= 1024
            unit += 1
        return f"{round(n) if unit == 0 else float(f'{n:.1f}'):g} {units[unit]}"

    return (
        f"{pool['ready']} of {pool['capacity']} ready, "
        f"{size(pool['memory_bytes'])} of a {size(pool['memory_budget_bytes'])} budget"
    )


def test_lock_pause_pool_rebuild_and_work_folder(
    page: Any, lab: ServerProcess, engine: Any
) -> None:
    steps = Steps(page, "actions")
    remove_pinned_images(engine)
    panel = open_lab(page, lab, workspace=f"actions-{uuid.uuid4().hex[:8]}")

    # 1. A notebook on the environment, opened from the panel: its file records
    #    the recipe and the lock, which names the image's real Debian packages.
    panel.get_by_label("Mounted read-only at /data in the kernel").select_option("m51")
    search = panel.get_by_label("Filter apps")
    for title in APPS:
        search.fill(title.lower())
        panel.get_by_role("checkbox", name=title, exact=True).check()
    search.fill("")
    panel.get_by_role("button", name="Build", exact=True).click()
    panel.get_by_role("button", name="Open notebook").wait_for(timeout=BUILD_TIMEOUT_MS)
    environment = panel.locator("[data-ready]").get_attribute("data-ready")
    panel.get_by_role("button", name="Open notebook").click()
    run_cell(page, "print('stardock', 6 * 7)", "stardock 42")
    page.evaluate("window.jupyterapp.shell.currentWidget.context.save()")
    path = page.evaluate("window.jupyterapp.shell.currentWidget.context.path")
    steps.shot("notebook")
    saved = json.loads((lab.root / path).read_text())
    recorded = saved["metadata"]["stardock"]
    assert recorded["environment"] == environment
    assert sorted(recorded["recipe"]["apps"]) == APP_IDS
    lock = recorded["lock"]
    assert lock["format"] == "jupyter-stardock lock 1"
    assert VERSION.fullmatch(lock["debian"]["swarp"]), lock["debian"]["swarp"]
    assert VERSION.fullmatch(lock["python"]["ipykernel"]), lock["python"]["ipykernel"]
    image_id = recorded["image_id"]
    in_image = engine.containers.run(
        image_id,
        ["dpkg-query", "-W", "-f", "${Package}=${Version}\\n", "swarp", "source-extractor"],
        remove=True,
        network_disabled=True,
        user="65534",
    ).decode()
    assert dict(line.split("=", 1) for line in in_image.split()) == {
        name: lock["debian"][name] for name in ("swarp", "source-extractor")
    }

    # 2. Pause from the kernel's button: the engine freezes the container; a cell
    #    sent meanwhile waits, and answers once Resume is clicked.
    kernel_id = current_kernel_id(page)
    container = engine.containers.get(kernel_row(lab, kernel_id)["container"])
    row = panel.locator(f"[data-kernel='{kernel_id}']")
    row.get_by_role("button", name=re.compile("^Pause the kernel")).click()
    resume = row.get_by_role("button", name=re.compile("^Resume the kernel"))
    resume.wait_for(timeout=30_000)

    def paused() -> bool:
        container.reload()
        return bool(container.attrs["State"]["Paused"])

    wait_until("the container to be paused", paused)
    assert kernel_row(lab, kernel_id)["state"] == "paused"
    type_in_last_cell(page, "print('after', 'resume')")
    answer = page.locator(".jp-NotebookPanel:visible .jp-OutputArea-output").filter(
        has_text="after resume"
    )
    # A frozen process answers nothing: still no output a while later.
    page.wait_for_timeout(3000)
    assert answer.count() == 0 and paused()
    steps.shot("paused")
    resume.click()
    answer.first.wait_for(timeout=60_000)
    assert not paused()
    row.get_by_role("button", name=re.compile("^Pause the kernel")).wait_for()
    steps.shot("resumed")

    # 3. The status section's warm-pool line says what GET /status says.
    facts = panel.locator(".jp-StarDock-fact").filter(has_text="Warm kernels").locator("dd")

    def pool_agrees() -> bool:
        pool = lab.request("GET", "/stardock/api/status")["pool"]
        page.evaluate("window.jupyterapp.commands.execute('stardock:refresh')")
        page.wait_for_timeout(1000)
        again = lab.request("GET", "/stardock/api/status")["pool"]
        return pool == again and facts.count() == 1 and facts.inner_text() == pool_text(pool)

    wait_until("the panel's pool line to match the status", pool_agrees)
    facts.scroll_into_view_if_needed()
    steps.shot("pool")

    # 4. Stopped, the kernel's outputs are archived; the archive's rebuild builds
    #    its recipe with the lock's versions pinned, and that build finishes.
    page.evaluate("window.jupyterapp.commands.execute('stardock:open-panel')")
    row.get_by_role("button", name=re.compile("^Stop the kernel")).click()
    row.wait_for(state="detached", timeout=60_000)
    archive = panel.locator(f"[data-archive='{kernel_id}']")
    archive.wait_for(timeout=60_000)
    before = {b["id"] for b in lab.request("GET", "/stardock/api/builds")["builds"]}
    archive.get_by_role("button", name=re.compile("^Rebuild the environment of")).click()

    def new_build() -> dict[str, Any] | None:
        builds = lab.request("GET", "/stardock/api/builds")["builds"]
        return next((b for b in builds if b["id"] not in before), None)

    build = wait_until("the rebuild to start", new_build)
    pins = build["recipe"]["pins"]
    # The base image holds the rest; what it lacks is pinned at the lock's version.
    assert pins["apt"]["swarp"] == lock["debian"]["swarp"]
    assert pins["apt"]["source-extractor"] == lock["debian"]["source-extractor"]
    assert sorted(build["recipe"]["apps"]) == APP_IDS
    steps.shot("rebuild")

    def finished() -> str:
        state = lab.request("GET", f"/stardock/api/builds/{build['id']}")["state"]
        return "" if state in ("queued", "running") else state

    state = wait_until("the rebuild to finish", finished, BUILD_TIMEOUT_MS / 1000)
    assert state == "succeeded", lab.request("GET", f"/stardock/api/builds/{build['id']}/log")
    panel.get_by_role("button", name="Open notebook").wait_for(timeout=60_000)
    rebuilt = panel.locator("[data-ready]").get_attribute("data-ready")
    assert rebuilt != environment  # pins are part of the content hash
    assert lab.request("GET", f"/stardock/api/environments/{rebuilt}")["recipe"]["pins"] == pins
    steps.shot("rebuilt")

    # 5. The palette command mounts the notebook's folder at /work in a new kernel.
    folder = lab.root / "survey"
    folder.mkdir(exist_ok=True)
    (folder / "x.csv").write_text("ra,dec\n202.47,47.19\n")
    beside = {
        "cells": [],
        "metadata": {
            "kernelspec": saved["metadata"]["kernelspec"],
            "stardock": recorded,
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (folder / "beside.ipynb").write_text(json.dumps(beside))
    page.evaluate(
        "window.jupyterapp.commands.execute('docmanager:open', {path: 'survey/beside.ipynb'})"
        ".then(() => null)"
    )
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget?.context?.path === 'survey/beside.ipynb'"
    )
    assert run_cell(page, "import os; print('cwd', os.getcwd())", "cwd").strip() == "cwd /outputs"
    first = current_kernel_id(page)
    # What the palette ran, to tell a missed Enter from a command that did nothing.
    page.evaluate(
        "window.__ran = []; window.jupyterapp.commands.commandExecuted.connect("
        "(_, a) => window.__ran.push(a.id))"
    )
    page.keyboard.press("Control+Shift+C")
    palette = page.locator("#command-palette input")
    palette.fill("Mount This Notebook")
    item = page.locator("#command-palette .lm-CommandPalette-item.lm-mod-active")
    # The palette re-renders as it filters: the command is picked with Enter, once active.
    item.filter(has_text="Mount This Notebook's Folder at /work").wait_for()
    page.keyboard.press("Enter")
    ran = "window.__ran.includes('stardock:toggle-notebook-folder')"
    page.wait_for_function(f"() => {ran}", timeout=10_000)
    # Saved with the opt-in first, then a new kernel of the same kernelspec.
    wait_until(
        "the opt-in to be saved",
        lambda: json.loads((folder / "beside.ipynb").read_text())["metadata"]["stardock"].get(
            "work"
        ),
    )
    page.wait_for_function(
        "old => { const k = window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel;"
        " return k && k.id !== old; }",
        arg=first,
        timeout=120_000,
    )
    out = run_cell(
        page, "import os; print('rows', os.getcwd(), open('x.csv').read().split())", "rows"
    )
    assert out.startswith("rows /work [") and "202.47,47.19" in out
    steps.shot("work-folder")

    # Clean up: the notebooks' kernels, and the pinned environment (so the next run
    # builds it again rather than finding it).
    for kernel in lab.request("GET", "/api/kernels"):
        lab.request("DELETE", f"/api/kernels/{kernel['id']}")
    wait_until(
        "the kernels to stop", lambda: not lab.request("GET", "/stardock/api/kernels")["kernels"]
    )
    lab.request("DELETE", f"/stardock/api/environments/{rebuilt}")
