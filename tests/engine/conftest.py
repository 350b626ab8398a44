"""Fixtures shared by the engine tests: the sample dataset and a server with StarDock on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.core.sample import make_sample_dataset


@pytest.fixture(scope="session")
def sample_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sample_dataset(tmp_path_factory.mktemp("datasets") / "m51")


def server_config(sample_dataset: Path, **stardock: Any) -> dict[str, Any]:
    """jupyter_server config with StarDock enabled and the sample dataset as 'm51'."""
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_stardock": True}},
        "StarDockApp": {
            "datasets": {"m51": {"path": str(sample_dataset), "title": "Messier 51"}},
            **stardock,
        },
    }


@pytest.fixture
def jp_server_config(sample_dataset: Path) -> dict[str, Any]:
    return server_config(sample_dataset)


@pytest.fixture
def stardock(jp_serverapp: Any) -> Any:
    """The running StarDockApp of the test server."""
    return jp_serverapp.web_app.settings["stardock"]
