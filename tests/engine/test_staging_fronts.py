"""`jupyter stardock stage` and `%stardock stage` against a real server and a folder archive."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from jupyter_stardock.client.discovery import ServerInfo
from jupyter_stardock.magics import StarDockMagics

from ..conftest import run_cli
from .test_staging import fits_files


@pytest.fixture
def tape(tmp_path: Path) -> Path:
    fits_files(tmp_path / "tape", "raw", 3)
    fits_files(tmp_path / "tape", "private", 1)
    return tmp_path / "tape"


@pytest.fixture
def jp_server_config(tape: Path, tmp_path: Path) -> dict[str, Any]:
    access = [{"files": "private/*", "users": ["ana"]}, {"all": True}]
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_stardock": True}},
        "StarDockApp": {
            "archives": {"tape": {"root": str(tape), "access": access}},
            "staging_dir": str(tmp_path / "staging"),
        },
    }


@pytest.fixture
def server(jp_serverapp, jp_fetch) -> ServerInfo:  # type: ignore[no-untyped-def]
    return ServerInfo(
        jp_serverapp.connection_url, jp_serverapp.identity_provider.token, "the test server"
    )


async def cli(server: ServerInfo, *args: str) -> Any:
    return await asyncio.to_thread(
        run_cli, "stage", *args, "--url", server.url, "--token", server.token, timeout=120
    )


async def test_the_cli_stages_a_file_list(server: ServerInfo, tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("# tonight's frames\ntape:raw/obs0.fits\ntape:raw/obs1.fits\n")
    result = await cli(
        server, f"@{listing}", "tape:raw/obs2.fits", "--dataset", "cli-obs", "--json"
    )
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    assert view["state"] == "complete" and view["files_done"] == 3
    assert "3/3 files" in result.stderr  # the progress bar
    assert (tmp_path / "staging" / "datasets" / "cli-obs" / "raw" / "obs2.fits").is_file()

    refused = await cli(server, "tape:private/obs0.fits", "--dataset", "nope")
    assert refused.returncode == 1
    assert "tape:private/obs0.fits (only ana may read it)" in refused.stderr
    pinned = await cli(server, "--pin", "cli-obs")
    assert pinned.returncode == 0, pinned.stderr
    assert "The staged dataset 'cli-obs' is pinned: it never expires." in pinned.stdout
    meta = json.loads((tmp_path / "staging" / "meta" / "cli-obs.json").read_text())
    assert meta["pinned"] is True
    missing = await cli(server, "tape:raw/none.fits", "--dataset", "nope")
    assert missing.returncode == 1
    assert "The archive 'tape' has no file 'raw/none.fits'." in missing.stdout + missing.stderr


def _run(shell: Any, source: str) -> tuple[Any, Any]:
    with capture_output() as captured:
        result = shell.run_cell(source)
    return result, captured


async def test_the_magic_stages_and_shows_progress(server: ServerInfo, tmp_path: Path) -> None:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jupyter_stardock")
    magics = StarDockMagics(shell, server=server)
    shell.register_magics(magics)
    source = "%stardock stage tape:raw/obs0.fits tape:raw/obs1.fits --dataset magic-obs"
    result, captured = await asyncio.to_thread(_run, shell, source)
    assert result.error_in_exec is None, captured.stdout
    assert "2/2 files" in captured.stdout
    assert "The dataset 'magic-obs' is staged: 2 files" in captured.stdout
    result, captured = await asyncio.to_thread(
        _run, shell, "%stardock stage tape:private/obs0.fits --dataset no"
    )
    assert result.error_in_exec is not None
    assert "only ana may read it" in captured.stdout
