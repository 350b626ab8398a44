"""The panel's staging form: paste archive ids, watch the bar, pick the staged dataset."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_stardock.core.sample import make_sample_dataset

from ..engine.test_staging import TAPE_BANDWIDTH, fits_files
from ..server_process import ServerProcess
from .conftest import SHOTS, lab_server
from .test_panel import open_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("lab-staging")
    data = make_sample_dataset(home / "datasets" / "m51")
    fits_files(home / "tape", "raw", 6)
    fits_files(home / "tape", "private", 1)
    config = {
        "StarDockApp": {
            "datasets": {"m51": {"path": str(data), "title": "Messier 51"}},
            "archives": {
                "tape": {
                    "root": str(home / "tape"),
                    "bandwidth": TAPE_BANDWIDTH,
                    "access": [{"files": "private/*", "users": ["ana"]}, {"all": True}],
                }
            },
        }
    }
    with lab_server(home, config) as server:
        yield server


def test_stage_from_the_panel_and_pick_the_dataset(page: Any, lab: ServerProcess) -> None:
    panel = open_lab(page, lab, workspace="staging")
    panel.get_by_text("Stage files from an archive").click()
    files = panel.get_by_label("File ids or URLs, one per line (archive:id)")
    files.fill("tape:raw/obs0.fits\ntape:private/obs0.fits\n")
    panel.get_by_label("Dataset name").fill("refused")
    panel.get_by_role("button", name="Stage", exact=True).click()
    alert = panel.get_by_role("alert").filter(has_text="only ana may read it")
    alert.wait_for()
    assert "tape:private/obs0.fits" in alert.inner_text()

    files.fill("\n".join(f"tape:raw/obs{n}.fits" for n in range(6)))
    panel.get_by_label("Dataset name").fill("tonight")
    panel.get_by_role("button", name="Stage", exact=True).click()
    bar = panel.get_by_role("progressbar", name="Staging tonight")
    bar.wait_for()
    SHOTS.mkdir(parents=True, exist_ok=True)
    panel.get_by_text("files ·").first.wait_for()
    page.screenshot(path=str(SHOTS / "staging-progress.png"))
    panel.get_by_text("The dataset tonight is staged; pick it above.").wait_for(timeout=60_000)
    assert bar.get_attribute("aria-valuenow") == "100"
    assert "6/6 files" in (bar.get_attribute("aria-valuetext") or "")
    # The picker lists it with its count (six files and the manifest) and size.
    option = panel.locator("option[value='tonight']")
    option.wait_for(state="attached")
    assert "7 files" in option.inner_text()
    panel.locator("select").first.select_option("tonight")
    page.screenshot(path=str(SHOTS / "staging-picked.png"))
