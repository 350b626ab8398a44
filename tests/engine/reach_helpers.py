"""Kernels of the base image, in a server or in a tool without one (issue 18's tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.core.kernelspecs import KernelspecStore


def base_kernelspec(store: KernelspecStore) -> str:
    """A kernelspec of ``stardock/base:latest``: it carries the kernel runtime, so it serves
    as an environment (no build needed)."""
    return str(
        store.write(
            environment="base",
            image="stardock/base:latest",
            dataset_id=None,
            dataset_title=None,
            app_titles=[],
            recipe={},
        )
    )


def standalone_jupyter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: dict[str, Any]
) -> str:
    """Jupyter folders of a tool without a server (nbclient, console), with ``config`` in its
    config file; returns the base image's kernelspec there."""
    for name in ("config", "data", "runtime"):
        (tmp_path / name).mkdir(exist_ok=True)
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    (tmp_path / "config" / "jupyter_server_config.json").write_text(json.dumps(config))
    return base_kernelspec(KernelspecStore(tmp_path / "data" / "kernels"))
