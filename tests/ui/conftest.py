"""A real JupyterLab with StarDock, the real engine, and Debian's chromium.

The browser is ``/usr/bin/chromium`` (or ``STARDOCK_CHROMIUM``) driven by
Playwright through its executable path: no browser is ever downloaded. Without
chromium, Playwright or an engine these tests are skipped on a developer's
machine and fail when ``STARDOCK_REQUIRE_ENGINE=1`` (as CI sets).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.core.sample import make_sample_dataset

from ..conftest import ARTIFACTS, REQUIRE_ENGINE
from ..server_process import ServerProcess

CHROMIUM = Path(os.environ.get("STARDOCK_CHROMIUM", "/usr/bin/chromium"))
# Without the networking flags chromium spends its time on refused connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SHOTS = ARTIFACTS / "ui"
VIEWPORT = {"width": 1440, "height": 960}


def _missing(reason: str) -> None:
    if REQUIRE_ENGINE:
        pytest.fail(f"STARDOCK_REQUIRE_ENGINE=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/ui/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.ui)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.stash[_FAILED] = report.failed


_FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def chromium() -> str:
    if not CHROMIUM.is_file():
        _missing(f"there is no chromium at {CHROMIUM} (apt-get install chromium).")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright package is missing (pip install -e '.[test]').")
    return str(CHROMIUM)


@contextlib.contextmanager
def lab_server(home: Path, config: dict[str, Any]) -> Iterator[ServerProcess]:
    """JupyterLab with StarDock in ``home``, no news toast; its log is kept with the shots."""
    # No "get notified about Jupyter news?" toast over the screenshots.
    notification = (
        home / "config/lab/user-settings/@jupyterlab/apputils-extension"
        "/notification.jupyterlab-settings"
    )
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    server = ServerProcess(
        home,
        config={
            "ServerApp": {"jpserver_extensions": {"jupyter_stardock": True, "jupyterlab": True}},
            # Lets the tests run the app's own commands (themes, the panel).
            "LabApp": {"expose_app_in_browser": True},
            **config,
        },
    )
    server.start(timeout=120)
    try:
        yield server
    finally:
        server.stop()
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.log_path, SHOTS / f"{home.name}-server.log")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Iterator[ServerProcess]:
    """JupyterLab (jupyter_server with the jupyterlab and StarDock extensions)."""
    home = tmp_path_factory.mktemp("lab")
    data = make_sample_dataset(home / "datasets" / "m51")
    config = {
        "StarDockApp": {
            "datasets": {
                "m51": {
                    "path": str(data),
                    "title": "Messier 51",
                    "description": "Synthetic FITS images of M51 in three bands, with a flat field.",
                }
            },
            "build_timeout": 900.0,
        },
    }
    with lab_server(home, config) as server:
        yield server


@pytest.fixture
def page(
    chromium: str, lab: ServerProcess, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A fresh browser profile with JupyterLab open and the StarDock panel shown."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
            accept_downloads=True,
        )
        context.set_default_timeout(30_000)
        page = context.pages[0] if context.pages else context.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        try:
            yield page
        finally:
            if request.node.stash.get(_FAILED, True):
                SHOTS.mkdir(parents=True, exist_ok=True)
                name = request.node.name
                page.screenshot(path=str(SHOTS / f"FAILED-{name}.png"))
                (SHOTS / f"FAILED-{name}-console.log").write_text("\n".join(console))
            context.close()
