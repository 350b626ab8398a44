"""An environment with R: an IRkernel kernelspec beside the Python one, same container settings.

nbclient runs an R notebook on it, the way any Jupyter tool without a server
does: the kernel lists the read-only /data, writes /outputs, and runs as the
unprivileged user on a read-only root.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

from jupyter_stardock.core.catalog import Catalog, default_catalog_dirs
from jupyter_stardock.core.kernelspecs import KernelspecStore, language_kernelspec_name
from jupyter_stardock.core.recipe import Recipe, compose
from jupyter_stardock.engine import Engine
from jupyter_stardock.labels import CONTENT_HASH, EnvironmentLabels

from .reach_helpers import standalone_jupyter
from .test_composer_engine import build


@pytest.fixture(scope="module")
def r_environment(base_image: str) -> tuple[str, str]:
    """An environment with the R app: one already on the engine (R builds for minutes), else
    built now. Its id and its image."""
    engine = Engine(timeout=30)
    try:
        for image in engine.images_sync(CONTENT_HASH):
            labels = EnvironmentLabels.from_labels(image.labels)
            if labels is not None and "r" in labels.apps and image.tags:
                return labels.content_hash[:16], image.tags[0]
        spec = compose(
            Recipe(apps=("r",)),
            Catalog.load(default_catalog_dirs()),
            base_image,
            base_ref="stardock/base:latest",
            repository="stardock-test/env",
        )
        build(engine, spec)
        return spec.content_hash[:16], spec.tag
    finally:
        engine.close()


R_CELLS = [
    'cat(list.files("/data"), sep = "\\n")',
    'writeLines("written by R", "/outputs/from_r.txt"); cat(file.exists("/outputs/from_r.txt"))',
    'cat(system("id -u", intern = TRUE), file.access("/", 2) == 0, file.access("/data", 2) == 0)',
]


def test_an_r_notebook_runs_by_nbclient_beside_the_data(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sample_dataset: Path,
    r_environment: tuple[str, str],
) -> None:
    (tmp_path / "root").mkdir()
    monkeypatch.chdir(tmp_path / "root")  # a tool without a server: its cwd is the root
    standalone_jupyter(
        tmp_path, monkeypatch, {"StarDockApp": {"datasets": {"m51": {"path": str(sample_dataset)}}}}
    )
    environment, image = r_environment
    store = KernelspecStore(tmp_path / "data" / "kernels")
    python = store.write(
        environment=environment,
        image=image,
        dataset_id="m51",
        dataset_title="Messier 51",
        app_titles=["R"],
        recipe={"apps": ["r"], "dataset": "m51"},
        languages=["r"],
    )
    r_name = language_kernelspec_name(environment, "m51", "r")
    specs = KernelSpecManager().get_all_specs()
    # One card per language, each with the environment's name.
    assert specs[python]["spec"]["display_name"] == "StarDock · R · Messier 51 · Python"
    assert specs[r_name]["spec"]["display_name"] == "StarDock · R · Messier 51 · R"
    assert specs[r_name]["spec"]["language"] == "R"
    assert (
        specs[r_name]["spec"]["metadata"]["kernel_provisioner"]["config"]["image"]
        == specs[python]["spec"]["metadata"]["kernel_provisioner"]["config"]["image"]
    )

    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(code) for code in R_CELLS],
        metadata={"kernelspec": {"name": r_name, "display_name": "R", "language": "R"}},
    )
    NotebookClient(notebook, kernel_name=r_name, timeout=120, startup_timeout=120).execute()
    printed = ["".join(o.get("text", "") for o in cell.outputs) for cell in notebook.cells]
    assert sorted(printed[0].split()) == sorted(p.name for p in sample_dataset.iterdir())
    assert printed[1] == "TRUE"
    # The unprivileged user, a read-only root and a read-only /data, as for Python kernels.
    assert printed[2] == "1000 FALSE FALSE"
    (written,) = (tmp_path / "root" / "stardock-outputs").glob("*/from_r.txt")
    assert written.read_text() == "written by R\n"
