"""The notebook's folder, read-only at /work in its kernel (c.StarDockProvisioner.notebook_folder)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from .conftest import server_config
from .kernel_helpers import execute, wait_ready
from .reach_helpers import base_kernelspec, standalone_jupyter
from .test_kernels import containers_of, post

CATALOG = "id,ra,dec\n1,202.47,47.19\n"


@pytest.fixture
def jp_server_config(request: pytest.FixtureRequest, sample_dataset: Path) -> dict[str, Any]:
    # The operator's setting: every notebook's folder, unless a test names another.
    settings = getattr(request, "param", {"StarDockProvisioner": {"notebook_folder": True}})
    return {**server_config(sample_dataset), **settings}


async def test_a_notebook_reads_the_csv_beside_it_through_work(
    jp_fetch, jp_ws_fetch, jp_root_dir, stardock, base_image, engine, tmp_path
) -> None:
    folder = jp_root_dir / "obs"
    folder.mkdir()
    (folder / "catalog.csv").write_text(CATALOG)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for the kernel\n")

    spec = base_kernelspec(stardock.kernelspecs)
    # JupyterLab's session names the notebook's folder as the kernel's path.
    kernel = await post(jp_fetch, "api", "kernels", body={"name": spec, "path": "obs"})
    try:
        ws = await jp_ws_fetch("api", "kernels", kernel["id"], "channels")
        await wait_ready(ws)
        out = await execute(ws, "import os\nprint(os.getcwd())\nprint(open('catalog.csv').read())")
        assert out["error"] is None, out
        assert out["stdout"].split("\n", 1) == ["/work", CATALOG + "\n"]

        out = await execute(ws, "open('/work/new.txt', 'w')")
        assert out["error"] == "OSError", out  # read-only file system
        assert not (folder / "new.txt").exists()
        out = await execute(ws, "open('/outputs/ok.txt', 'w').write('x')")
        assert out["error"] is None, out

        # Swapping the folder for a link after the start changes nothing the kernel sees,
        # not even across a restart: the mount is of the folder that was checked.
        folder.rename(jp_root_dir / "obs-moved")
        os.symlink(outside, folder)
        await jp_fetch("api", "kernels", kernel["id"], "restart", method="POST", body="{}")
        await wait_ready(ws)
        out = await execute(ws, "import os; print(sorted(os.listdir('/work')))")
        assert out["stdout"].strip() == "['catalog.csv']", out
        ws.close()
    finally:
        await jp_fetch("api", "kernels", kernel["id"], method="DELETE")
    assert containers_of(engine, kernel["id"]) == []
    # The staging mount point went with the kernel.
    staging = Path(stardock.state_dir) / "work-mounts"
    assert not staging.exists() or os.listdir(staging) == []


async def test_a_folder_reached_through_a_symlink_is_refused_with_a_sentence(
    jp_fetch, jp_root_dir, stardock, base_image, engine, tmp_path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, jp_root_dir / "linked")
    before = {c["Id"] for c in engine.containers_sync()}
    with pytest.raises(HTTPClientError) as info:
        await post(
            jp_fetch,
            "api",
            "kernels",
            body={"name": base_kernelspec(stardock.kernelspecs), "path": "linked"},
        )
    message = json.loads(info.value.response.body)["message"]
    assert message.startswith(f"The notebook's folder {jp_root_dir / 'linked'} cannot be mounted")
    assert "is a symlink" in message and "never through a symlink" in message
    assert {c["Id"] for c in engine.containers_sync()} <= before


async def test_a_notebook_outside_the_root_is_refused_with_a_sentence(
    tmp_path, monkeypatch, base_image, engine
) -> None:
    """A tool without a server (nbclient, console) has its cwd as the root."""
    from jupyter_client.manager import AsyncKernelManager

    (tmp_path / "root").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "root")
    spec = standalone_jupyter(
        tmp_path, monkeypatch, {"StarDockProvisioner": {"notebook_folder": True}}
    )
    km = AsyncKernelManager(kernel_name=spec)
    try:
        with pytest.raises(Exception) as info:
            await km.start_kernel(cwd=str(tmp_path / "elsewhere"))
    finally:
        if km.has_kernel:
            await km.shutdown_kernel(now=True)
    assert str(info.value) == (
        f"The notebook's folder {tmp_path / 'elsewhere'} cannot be mounted at /work: it is "
        f"outside the server's root. Only folders inside the server's root ({tmp_path / 'root'}) "
        "are, and never through a symlink."
    )


def _notebook(path: Path, work: bool | None) -> None:
    metadata: dict[str, Any] = {"stardock": {"work": True}} if work else {}
    path.write_text(
        json.dumps({"cells": [], "metadata": metadata, "nbformat": 4, "nbformat_minor": 5})
    )


@pytest.mark.parametrize(
    "jp_server_config",
    [{"StarDockProvisioner": {"notebook_folder_per_notebook": True}}],
    indirect=True,
)
async def test_a_notebook_can_opt_in_to_its_folder_by_its_metadata(
    jp_fetch, jp_ws_fetch, jp_root_dir, stardock, base_image, engine
) -> None:
    folder = jp_root_dir / "obs"
    folder.mkdir()
    (folder / "catalog.csv").write_text(CATALOG)
    _notebook(folder / "asks.ipynb", work=True)
    _notebook(folder / "plain.ipynb", work=None)
    spec = base_kernelspec(stardock.kernelspecs)
    seen = {}
    for name in ("asks.ipynb", "plain.ipynb"):
        # As JupyterLab opens a notebook: a session names it (JPY_SESSION_NAME).
        session = await post(
            jp_fetch,
            "api",
            "sessions",
            body={
                "path": f"obs/{name}",
                "name": name,
                "type": "notebook",
                "kernel": {"name": spec},
            },
        )
        kernel_id = session["kernel"]["id"]
        try:
            ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
            await wait_ready(ws)
            out = await execute(ws, "import os\nprint(os.getcwd(), os.path.isdir('/work'))")
            seen[name] = out["stdout"].strip()
            ws.close()
        finally:
            await jp_fetch("api", "sessions", session["id"], method="DELETE")
    assert seen == {"asks.ipynb": "/work True", "plain.ipynb": "/outputs False"}
