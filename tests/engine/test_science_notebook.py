"""A scientist's notebook on an Astropy environment, and what a custom pip command may do to it.

The environment is built through a real server (beside which the notebook
runs, as when JupyterLab is open); the notebook is executed by nbclient on the
StarDock kernelspec against the real engine, as `jupyter execute` would.
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from jupyter_stardock.paths import images_dir

from ..server_process import ServerProcess

PNG = b"\x89PNG\r\n\x1a\n"

CELLS = [
    "%matplotlib inline\n"
    "import matplotlib.pyplot as plt\n"
    "import numpy as np\n"
    "import scipy.ndimage\n"
    "import photutils, reproject\n"
    "from astropy.io import fits\n"
    "from astropy.wcs import WCS",
    "with fits.open('/data/m51_r.fits') as hdul:\n"
    "    header = hdul[0].header\n"
    "    image = hdul[0].data.astype(float)\n"
    "print(header['OBJECT'], image.shape)",
    "fig = plt.figure(figsize=(4, 4))\n"
    "ax = fig.add_subplot(projection=WCS(header))\n"
    "ax.imshow(np.log1p(image - image.min()), origin='lower', cmap='gray')\n"
    "ax.set_title(header['OBJECT'])\n"
    "fig.savefig('/outputs/m51.png', dpi=72)",
    "smoothed = scipy.ndimage.gaussian_filter(image, 2)\n"
    "fits.PrimaryHDU(smoothed, header=header).writeto('/outputs/m51_smoothed.fits')\n"
    "import matplotlib, astropy\n"
    "print(matplotlib.__version__, np.__version__, astropy.__version__)",
]


@pytest.fixture
def server(tmp_path: Path, sample_dataset: Path, base_image: str) -> Any:
    datasets = {"StarDockApp": {"datasets": {"m51": {"path": str(sample_dataset)}}}}
    server = ServerProcess(tmp_path / "server", datasets)
    # The operator's settings, where a standalone tool's provisioner reads them too.
    config = Path(server.env()["JUPYTER_CONFIG_DIR"])
    config.mkdir(parents=True)
    (config / "jupyter_server_config.json").write_text(json.dumps(datasets))
    server.start()
    yield server
    server.stop()


def build(server: ServerProcess, recipe: dict[str, Any]) -> dict[str, Any]:
    """Build ``recipe`` through the REST API: the finished build with its log, or the cached image."""
    body = server.request("POST", "/stardock/api/builds", recipe)
    if body["build"] is None:
        return {"state": "succeeded", "kernelspec": body["environment"]["kernelspec"], "log": []}
    build_id = body["build"]["id"]
    deadline = time.monotonic() + 1200
    while (record := server.request("GET", f"/stardock/api/builds/{build_id}"))["state"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline, record
        time.sleep(1)
    page = server.request("GET", f"/stardock/api/builds/{build_id}/log?offset=0&limit=50000")
    record["log"] = page["lines"]
    if record["state"] == "succeeded":
        again = server.request("POST", "/stardock/api/builds", recipe)
        record["kernelspec"] = again["environment"]["kernelspec"]
    return record


def run_notebook(
    server: ServerProcess, kernelspec: str, where: Path, monkeypatch: pytest.MonkeyPatch
) -> nbformat.NotebookNode:
    """Execute the science notebook with nbclient; outputs folders land below ``where``."""
    env = server.env()
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"):
        monkeypatch.setenv(name, env[name])  # the server's: its kernelspecs and settings
    where.mkdir()
    monkeypatch.chdir(where)  # a standalone tool's kernels keep their outputs below its cwd
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nb.metadata["kernelspec"] = {
        "name": kernelspec,
        "display_name": kernelspec,
        "language": "python",
    }
    NotebookClient(nb, timeout=300, startup_timeout=120, kernel_name=kernelspec).execute()
    nbformat.validate(nb)
    return nb


def assert_science_worked(nb: nbformat.NotebookNode, where: Path) -> None:
    errors = [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert not errors, "\n".join(f"{o.ename}: {o.evalue}" for o in errors)
    assert nb.cells[1].outputs[0].text.strip() == "M51 (synthetic) (64, 64)"

    # The figure came back inline, as JupyterLab would show it.
    figures = [
        o for o in nb.cells[2].outputs if o.output_type == "display_data" and "image/png" in o.data
    ]
    assert len(figures) == 1, nb.cells[2].outputs
    assert base64.b64decode(figures[0].data["image/png"]).startswith(PNG)

    # Debian's stack, not one pip put over it.
    versions = nb.cells[3].outputs[0].text.split()
    assert versions[0].startswith("3.6.") and versions[1].startswith("1.24."), versions

    # Both files are in the kernel's outputs folder on the host.
    (png,) = where.rglob("m51.png")
    (fits_file,) = where.rglob("m51_smoothed.fits")
    assert png.parent == fits_file.parent
    assert png.read_bytes().startswith(PNG)
    data = fits_file.read_bytes()
    assert data.startswith(b"SIMPLE  =") and len(data) % 2880 == 0
    assert b"M51 (synthetic)" in data[: 2880 * 4]


def test_a_science_notebook_runs_under_nbclient_on_an_astropy_environment(
    server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = build(server, {"apps": ["astropy"], "dataset": "m51"})
    assert record["state"] == "succeeded", record.get("error")
    where = tmp_path / "work"
    nb = run_notebook(server, record["kernelspec"], where, monkeypatch)
    assert_science_worked(nb, where)


def test_pip_install_upgrade_matplotlib_keeps_debians_stack_working(
    server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = {"apps": ["astropy"], "commands": ["pip install -U matplotlib"], "dataset": "m51"}
    record = build(server, recipe)
    assert record["state"] == "succeeded", record.get("error")
    where = tmp_path / "work"
    nb = run_notebook(server, record["kernelspec"], where, monkeypatch)
    assert_science_worked(nb, where)


def test_a_pip_command_that_would_replace_debians_matplotlib_fails_naming_the_conflict(
    server: ServerProcess,
) -> None:
    record = build(server, {"apps": ["astropy"], "commands": ["pip install 'matplotlib>=3.8'"]})
    assert record["state"] == "failed"
    conflict = re.compile(r"The user requested \(constraint\) matplotlib==3\.6\.\d+")
    # pip's own sentences, in the build's error and in its log.
    assert "Cannot install matplotlib>=3.8 because these package versions have" in record["error"]
    assert conflict.search(record["error"]), record["error"]
    assert any(conflict.search(line) for line in record["log"]), record["log"][-40:]


def test_a_recipe_can_lift_the_pip_constraints(server: ServerProcess) -> None:
    runtime = (images_dir() / "base" / "kernel-runtime.txt").read_text()
    pinned = re.search(r"^six==(\S+)$", runtime, flags=re.M)
    assert pinned is not None and pinned.group(1) != "1.17.0"
    command = "pip install six==1.17.0"
    held = build(server, {"commands": [command]})
    assert held["state"] == "failed"
    assert f"The user requested (constraint) six=={pinned.group(1)}" in held["error"], held
    free = build(server, {"commands": [command], "pip_constraints": False})
    assert free["state"] == "succeeded", free.get("error")
