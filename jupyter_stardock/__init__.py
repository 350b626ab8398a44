"""jupyter-stardock: ship a scientist's own computing environment to the data.

This module only wires extension points: the server extension, the prebuilt
JupyterLab extension, and the IPython magics (``%load_ext jupyter_stardock``).
"""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import StarDockApp

    return [{"module": "jupyter_stardock.server.app", "app": StarDockApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-stardock"}]


def load_ipython_extension(ipython: Any) -> None:
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unload_ipython_extension as unload

    unload(ipython)
