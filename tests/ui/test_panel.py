"""The StarDock panel in a real JupyterLab, driven as a user would, against the real engine.

Each step saves a screenshot under tests/artifacts/ui/ (git-ignored); the best
one is committed as docs/images/panel.png.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import uuid
from pathlib import Path
from typing import Any

from ..server_process import ServerProcess
from .conftest import SHOTS

# Two light catalog apps (one Debian package each): the build takes a minute or
# two on two cores, and the engine's layer cache makes later runs faster.
APPS = ("SWarp", "SExtractor")
BUILD_TIMEOUT_MS = 900_000
PANEL = "#jupyter-stardock-panel"


class Steps:
    """Numbered screenshots of a scenario: the whole window and the panel alone."""

    def __init__(self, page: Any, prefix: str) -> None:
        self.page = page
        self.prefix = prefix
        self.count = 0
        SHOTS.mkdir(parents=True, exist_ok=True)

    def shot(self, name: str, *, panel: bool = True) -> Path:
        self.count += 1
        path = SHOTS / f"{self.prefix}-{self.count:02d}-{name}.png"
        self.page.screenshot(path=str(path))
        if panel:
            self.page.locator(PANEL).screenshot(path=str(path.with_name(path.stem + "-panel.png")))
        return path


def open_lab(page: Any, lab: ServerProcess, path: str = "", workspace: str = "") -> Any:
    """The panel in JupyterLab; a new ``workspace`` reopens nothing earlier tests left open."""
    where = f"/workspaces/{workspace}" if workspace else ""
    page.goto(f"{lab.url}/lab{where}{('/tree/' + path) if path else ''}?token={lab.token}")
    page.wait_for_selector(PANEL, state="attached", timeout=120_000)
    panel = page.locator(PANEL)
    # After the layout restorer (which may have reopened it: a click on its tab
    # would then close it), through the panel's own command.
    page.evaluate(
        "window.jupyterapp.restored.then("
        " () => window.jupyterapp.commands.execute('stardock:open-panel'))"
    )
    panel.wait_for()
    panel.locator("option[value='m51']").wait_for(state="attached")
    # A wider sidebar, as a user building an environment would drag it.
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle:visible").first
    box = handle.bounding_box()
    if box and box["x"] < 400:
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(420, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
    return panel


def wait_for_progress(panel: Any, steps: Steps, name: str) -> None:
    """Watch the bar move (one screenshot mid-way) until it reaches 100 %."""
    bar = panel.get_by_role("progressbar", name="Build progress")
    bar.wait_for()
    seen_midway = False
    page = panel.page
    deadline = BUILD_TIMEOUT_MS / 1000
    waited = 0.0
    while waited < deadline:
        value = int(bar.get_attribute("aria-valuenow") or 0)
        if value >= 100:
            break
        if 0 < value and not seen_midway:
            seen_midway = True
            steps.shot(f"{name}-progress")
        if panel.locator(".jp-StarDock-build .jp-StarDock-problem").count():
            raise AssertionError(
                "The build failed: "
                + panel.locator(".jp-StarDock-build .jp-StarDock-problem").inner_text()
                + "\n"
                + panel.locator(".jp-StarDock-logText").inner_text()[-3000:]
            )
        page.wait_for_timeout(500)
        waited += 0.5
    assert bar.get_attribute("aria-valuenow") == "100", "the build did not reach 100 %"
    panel.get_by_role("button", name="Open notebook").wait_for(timeout=60_000)


def run_cell(page: Any, code: str, wanted: str) -> str:
    # A cell run before the kernel is connected is not sent: wait for it.
    page.wait_for_function(
        "() => { const s = window.jupyterapp.shell.currentWidget?.sessionContext;"
        " const k = s?.session?.kernel;"
        " return k && k.connectionStatus === 'connected' && k.status === 'idle'; }",
        timeout=120_000,
    )
    notebook = page.locator(".jp-NotebookPanel:visible")
    cell = notebook.locator(".jp-Cell").last
    cell.locator(".cm-content").click()
    page.keyboard.type(code)
    page.keyboard.press("Shift+Enter")
    output = notebook.locator(".jp-OutputArea-output").filter(has_text=wanted)
    output.first.wait_for(timeout=120_000)
    return output.first.inner_text()


def settle(page: Any, done: Any, timeout_ms: int = 60_000) -> None:
    """Wait for ``done()``, answering the dialogs that come first: JupyterLab asking
    for a kernel a notebook names but this server lacks (no kernel: StarDock moves
    it), or the rebuild offer for another notebook the workspace reopened (not now).
    """
    for _ in range(timeout_ms // 500):
        if done():
            return
        dialog = page.locator(".jp-Dialog")
        if dialog.count():
            text = dialog.first.inner_text()
            if "Select Kernel" in text:
                dialog.first.get_by_role("button", name="No Kernel").click()
            elif "Rebuild this notebook" in text and not done():
                dialog.first.get_by_role("button", name="Not now").click()
        page.wait_for_timeout(500)
    assert done(), "timed out"


def kernel_of(page: Any, path: str) -> str:
    """The kernel name of the open notebook at ``path`` ('' for none)."""
    return page.evaluate(
        """path => {
            for (const w of window.jupyterapp.shell.widgets('main')) {
                if (w.context?.path === path) {
                    return w.sessionContext?.session?.kernel?.name ?? '';
                }
            }
            return '';
        }""",
        path,
    )


def delete_environment(panel: Any, environment: str) -> None:
    show_all = panel.get_by_role("button", name=re.compile("^Show all"))
    if show_all.count():
        show_all.click()
    item = panel.locator(f"[data-environment='{environment}']")
    item.get_by_role("button", name=re.compile("^Delete")).click()
    panel.page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
    item.wait_for(state="detached", timeout=60_000)


def notebook_model(lab: ServerProcess, path: str) -> dict[str, Any]:
    return lab.request("GET", f"/api/contents/{path}?content=1")["content"]


def test_pick_tick_fix_build_open_run_stop_archive(page: Any, lab: ServerProcess) -> None:
    steps = Steps(page, "panel")
    marker = f"stardock-ui-{uuid.uuid4().hex[:8]}"
    panel = open_lab(page, lab)
    steps.shot("opened")

    # 1. The dataset, named with its file count and size.
    picker = panel.get_by_label("Mounted read-only at /data in the kernel")
    option = picker.locator("option[value='m51']")
    assert re.fullmatch(r"Messier 51 \(5 files, [\d.]+ kB\)", option.inner_text()), (
        option.inner_text()
    )
    picker.select_option("m51")
    steps.shot("dataset")

    # 2. Dependencies tick themselves, with a note (and leave with their app).
    panel.get_by_role("checkbox", name="PyRAF", exact=True).check()
    iraf = panel.get_by_role("checkbox", name="IRAF", exact=True)
    assert iraf.is_checked() and iraf.get_attribute("aria-disabled") == "true"
    panel.get_by_text("IRAF was ticked because PyRAF needs it.").wait_for()
    steps.shot("dependency")
    panel.get_by_role("checkbox", name="PyRAF", exact=True).uncheck()
    assert not iraf.is_checked()

    # 3. Two light apps, found with the filter box.
    search = panel.get_by_label("Filter apps")
    for title in APPS:
        search.fill(title.lower())
        panel.get_by_role("checkbox", name=title, exact=True).check()
    steps.shot("filtered")
    search.fill("")
    panel.get_by_text("2 selected").wait_for()
    steps.shot("apps")

    # 4. A bad command is refused inline, naming the line and the reason, before Build.
    editor = panel.get_by_role("textbox", name="Shell commands, one per line")
    editor.fill(f"echo {marker}\n\nFROM debian:bookworm")
    problem = panel.locator(".jp-StarDock-problem").filter(has_text="Line 3:")
    problem.wait_for()
    assert "Custom command 2 starts with FROM" in problem.inner_text()
    assert editor.get_attribute("aria-invalid") == "true"
    build = panel.get_by_role("button", name="Build", exact=True)
    assert build.is_disabled()
    steps.shot("bad-command")

    # 5. Fixed: the error goes, the Dockerfile preview has the command.
    editor.fill(f"echo {marker}\n\necho {marker} > /tmp/{marker}.txt")
    problem.wait_for(state="detached")
    panel.get_by_text("Dockerfile", exact=True).click()
    panel.locator(".jp-StarDock-preview pre").filter(has_text=marker).wait_for()
    assert build.is_enabled()
    steps.shot("fixed")

    # 6. Build, watching the bar reach 100 %.
    build.click()
    wait_for_progress(panel, steps, "build")
    assert "Step" in panel.locator(".jp-StarDock-logText").inner_text()
    assert re.fullmatch(r"\d+:\d\d", panel.locator(".jp-StarDock-elapsed").inner_text())
    environment = panel.locator("[data-ready]").get_attribute("data-ready")
    steps.shot("built")

    # 7. A notebook on the environment's kernel, beside the data.
    panel.get_by_role("button", name="Open notebook").click()
    listing = run_cell(
        page,
        "import os; print(sorted(os.listdir('/data')));"
        " open('/outputs/hello.txt', 'w').write('from the browser test')",
        "m51_r.fits",
    )
    assert "calibration" in listing and "README.txt" in listing
    panel.locator(".jp-StarDock-build").evaluate("node => node.scrollIntoView({block: 'start'})")
    steps.shot("notebook")
    # Saved by the panel as it opened the notebook.
    path = page.evaluate("window.jupyterapp.shell.currentWidget.context.path")
    recorded = notebook_model(lab, path)["metadata"]["stardock"]
    assert recorded["environment"] == environment
    assert recorded["dataset"] == "m51"
    assert sorted(recorded["recipe"]["apps"]) == ["sextractor", "swarp"]
    assert recorded["recipe"]["commands"] == [
        f"echo {marker}",
        f"echo {marker} > /tmp/{marker}.txt",
    ]
    assert recorded["image_id"].startswith("sha256:")

    # 8. The kernel in the list, its outputs folder in the file browser.
    kernel_id = page.evaluate(
        "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.id"
    )
    kernel = panel.locator(f"[data-kernel='{kernel_id}']")
    kernel.wait_for()
    kernel.get_by_role("button", name=re.compile("^Show the outputs folder")).click()
    page.locator(".jp-DirListing-item").filter(has_text="hello.txt").wait_for()
    steps.shot("outputs", panel=False)
    page.evaluate("window.jupyterapp.commands.execute('stardock:open-panel')")

    # 9. A console on the same environment, stopped from the panel too.
    panel.get_by_role("button", name="Open console").click()
    page.locator(".jp-CodeConsole:visible").wait_for()
    page.wait_for_function(
        "() => { const w = window.jupyterapp.shell.currentWidget;"
        " return w?.hasClass('jp-ConsolePanel')"
        " && (w.sessionContext?.session?.kernel?.name || '').startsWith('stardock-'); }",
        timeout=120_000,
    )
    console_id = page.evaluate(
        "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.id"
    )
    console = panel.locator(f"[data-kernel='{console_id}']")
    console.wait_for()
    console.get_by_role("button", name=re.compile("^Stop the kernel")).click()
    console.wait_for(state="detached", timeout=60_000)

    # 10. Stop the notebook's kernel: its outputs are archived and can be downloaded.
    kernel.get_by_role("button", name=re.compile("^Stop the kernel")).click()
    kernel.wait_for(state="detached", timeout=60_000)
    archive = panel.locator(f"[data-archive='{kernel_id}']")
    archive.wait_for(timeout=60_000)
    steps.shot("archived")
    link = archive.get_by_role("link", name=re.compile("^Download the archive"))
    reply = page.request.get(link.get_attribute("href"))
    assert reply.status == 200, reply.text()[:500]
    with tarfile.open(fileobj=io.BytesIO(reply.body()), mode="r:gz") as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert any(n.endswith("hello.txt") for n in names), names
    assert manifest["environment"] == environment

    # 11. The dark theme, through JupyterLab's own command.
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab").filter(has_text=path).click()
    page.evaluate(
        "window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})"
    )
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'")
    page.wait_for_timeout(1000)
    steps.shot("dark")
    page.evaluate(
        "window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})"
    )
    page.wait_for_function("document.body.dataset.jpThemeLight === 'true'")

    # 12. Delete the environment (nothing uses it any more).
    delete_environment(panel, environment)


def test_notebook_rebuilds_its_missing_environment(page: Any, lab: ServerProcess) -> None:
    steps = Steps(page, "rebuild")
    marker = f"stardock-ui-{uuid.uuid4().hex[:8]}"
    recipe = {
        "dataset": "m51",
        "apps": ["sextractor", "swarp"],
        "commands": [f"echo {marker}"],
        "apt_packages": [],
        "pip_packages": [],
    }
    gone = "f" * 16
    notebook = {
        "cells": [],
        "metadata": {
            "kernelspec": {
                "name": f"stardock-{gone}-m51",
                "display_name": "StarDock · gone",
                "language": "python",
            },
            "stardock": {
                "environment": gone,
                "content_hash": "f" * 64,
                "image_id": None,
                "dataset": "m51",
                "recipe": recipe,
                "kernelspec": f"stardock-{gone}-m51",
            },
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (lab.root / "travelled.ipynb").write_text(json.dumps(notebook))

    panel = open_lab(page, lab, "travelled.ipynb")
    offer = page.locator(".jp-Dialog").filter(has_text="travelled.ipynb was made")
    settle(page, lambda: offer.count() > 0)
    assert "is not on this server" in offer.inner_text()
    steps.shot("offer", panel=False)
    offer.get_by_role("button", name="Rebuild").click()

    # The panel shows the recipe and the build; the notebook moves to the new kernel.
    from playwright.sync_api import expect

    expect(panel.get_by_role("textbox", name="Shell commands, one per line")).to_have_value(
        f"echo {marker}"
    )
    settle(
        page, lambda: kernel_of(page, "travelled.ipynb").startswith("stardock-"), BUILD_TIMEOUT_MS
    )
    assert (
        panel.get_by_role("progressbar", name="Build progress").get_attribute("aria-valuenow")
        == "100"
    )
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab").filter(has_text="travelled.ipynb").click()
    run_cell(page, "import os; print(len(os.listdir('/data')), 'entries')", "entries")
    page.evaluate("window.jupyterapp.shell.currentWidget.context.save()")
    steps.shot("rebuilt")
    recorded = notebook_model(lab, "travelled.ipynb")["metadata"]["stardock"]
    assert recorded["environment"] != gone
    assert recorded["recipe"]["commands"] == [f"echo {marker}"]

    # Clean up: stop the kernel, then delete the environment.
    kernel = panel.locator("[data-kernel]")
    kernel.get_by_role("button", name=re.compile("^Stop the kernel")).click()
    kernel.wait_for(state="detached", timeout=60_000)
    delete_environment(panel, recorded["environment"])


def test_a_failed_command_is_marked_with_pips_own_words(page: Any, lab: ServerProcess) -> None:
    steps = Steps(page, "failed")
    panel = open_lab(page, lab, workspace=f"failed-{uuid.uuid4().hex[:8]}")
    editor = panel.get_by_role("textbox", name="Shell commands, one per line")
    # The typo a user makes; a first line of its own keeps the recipe unique.
    marker = f"stardock-ui-{uuid.uuid4().hex[:8]}"
    editor.fill(f"echo {marker}\n\npip instal foo")
    build = panel.get_by_role("button", name="Build", exact=True)
    panel.locator(".jp-StarDock-preview pre").filter(has_text=marker).wait_for(state="attached")
    build.click()

    # The third line of the editor (command 2) is marked, quoting pip itself.
    marked = panel.locator(".jp-StarDock-problems .jp-StarDock-problem[data-line='3']")
    marked.wait_for(timeout=BUILD_TIMEOUT_MS)
    text = marked.inner_text()
    assert text.startswith("Line 3:"), text
    assert "Custom command 2 (`pip instal foo`) failed with exit code 1" in text
    assert 'ERROR: unknown command "instal" - maybe you meant "install"' in text
    assert editor.get_attribute("aria-invalid") == "true"
    message = panel.locator(".jp-StarDock-buildError").inner_text()
    assert 'maybe you meant "install"' in message and "returned a non-zero code" not in message
    log = panel.locator(".jp-StarDock-logText").inner_text()
    assert "\x1b" not in log and "[91m" not in log
    # The build is in the history, failed, with what failed.
    failed = panel.locator(".jp-StarDock-history [data-state='failed']").first
    assert "Custom command 2" in failed.inner_text()
    steps.shot("marked")

    # Fixed: the stale result goes at once, before any new build.
    editor.fill(f"echo {marker}\n\npip --version")
    marked.wait_for(state="detached")
    assert panel.locator(".jp-StarDock-buildError").count() == 0
    assert editor.get_attribute("aria-invalid") is None
    steps.shot("cleared")

    # A build started elsewhere (the CLI, the magics: the same REST call) joins the
    # history when the user comes back to the window.
    other = lab.request(
        "POST", "/stardock/api/builds", {"commands": [f"echo {marker}-cli", "false"]}
    )["build"]
    item = panel.locator(f".jp-StarDock-history [data-build='{other['id']}']")
    page.evaluate("window.dispatchEvent(new Event('focus'))")
    item.wait_for(timeout=30_000)
    steps.shot("history")
