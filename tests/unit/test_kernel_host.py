"""Which settings, engine and datasets a kernel start uses (kernels/host.py), without an engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from traitlets.config import Config, Configurable

from jupyter_stardock.config import StarDockSettings
from jupyter_stardock.core.datasets import DatasetRegistry
from jupyter_stardock.kernels import host as kernel_host
from jupyter_stardock.kernels.host import KernelHost, host_for, register_host, standalone_host


class Node(Configurable):
    """Stands for jupyter_server's ServerApp → MultiKernelManager → KernelManager chain."""


def test_a_provisioner_finds_the_host_of_its_own_server() -> None:
    server, other = Node(), Node()
    manager = Node(parent=server)
    kernel_manager = Node(parent=manager)
    registry = DatasetRegistry({})
    host = KernelHost(StarDockSettings(), "local", None, lambda: registry)
    register_host(server, host)
    register_host(other, KernelHost(StarDockSettings(), "service", None, lambda: registry))
    try:
        assert host_for(kernel_manager) is host
        assert host_for(Node()) is None  # a kernel manager outside any server
        register_host(server, None)
        assert host_for(kernel_manager) is None
    finally:
        register_host(other, None)
        registry.close()


def test_without_a_server_the_config_files_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "StarDockApp": {"state_dir": str(tmp_path / "state"), "engine_timeout": 7.5},
                "StarDockProvisioner": {"mem_limit": "1g"},
            }
        )
    )
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(config_dir))
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", "")
    monkeypatch.delenv("STARDOCK_SERVICE_URL", raising=False)
    monkeypatch.setattr(kernel_host, "_STANDALONE_ENGINES", {})
    extra = Config()
    extra.StarDockApp.quota_kernels = 3  # the tool's own config wins over the files
    host, config = standalone_host(extra)
    assert host.mode == "local" and host.owns_datasets
    assert host.settings.state_dir == str(tmp_path / "state")
    assert host.settings.quota_kernels == 3
    assert host.engine is not None and host.engine.timeout == 7.5
    assert config.StarDockProvisioner.mem_limit == "1g"  # for the provisioner's own section
    # A second standalone start in the same process shares the engine (and its threads).
    again, _ = standalone_host(extra)
    assert again.engine is host.engine


def test_without_a_server_a_service_url_means_remote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", "")
    monkeypatch.setenv("STARDOCK_SERVICE_URL", "http://127.0.0.1:1/services/stardock/")
    host, _ = standalone_host()
    assert host.mode == "remote" and host.engine is None
