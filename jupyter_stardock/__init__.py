"""jupyter-stardock: ship a scientist's own computing environment to the data.

This module only wires extension points: the server extension, the prebuilt
JupyterLab extension, and (later) the IPython magics.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["__version__"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import StarDockApp

    return [{"module": "jupyter_stardock.app", "app": StarDockApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-stardock"}]
