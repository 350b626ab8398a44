"""Reading the operator's settings outside the server process.

A StarDock kernel may be started by any jupyter_client tool (``jupyter
nbconvert --execute``, ``jupyter console``), and the ``jupyter stardock``
command runs on its own. Both must honour what the operator wrote for the
server, so they read the same ``jupyter_server_config`` files the server does.
"""

from __future__ import annotations

from pathlib import Path

from jupyter_core.paths import jupyter_config_path
from traitlets.config import Config
from traitlets.config.loader import ConfigFileNotFound, JSONFileConfigLoader, PyFileConfigLoader

__all__ = ["load_server_config"]

CONFIG_NAME = "jupyter_server_config"


def load_server_config(extra: Config | None = None) -> Config:
    """The merged server configuration, lowest priority first, with ``extra`` on top."""
    merged = Config()
    # jupyter_config_path() lists the user's folder first; it must win, so go backwards.
    for folder in reversed(jupyter_config_path()):
        base = Path(folder)
        drop_in = base / f"{CONFIG_NAME}.d"
        if drop_in.is_dir():
            for path in sorted(drop_in.glob("*.json")):
                merged.merge(_load(JSONFileConfigLoader, path))
        for loader, suffix in ((JSONFileConfigLoader, ".json"), (PyFileConfigLoader, ".py")):
            path = base / f"{CONFIG_NAME}{suffix}"
            if path.is_file():
                merged.merge(_load(loader, path))
    if extra is not None:
        merged.merge(extra)
    return merged


def _load(loader_class: type, path: Path) -> Config:
    try:
        config: Config = loader_class(path.name, path=str(path.parent)).load_config()
        return config
    except ConfigFileNotFound:
        return Config()
