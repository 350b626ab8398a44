"""What a kernel start needs from the server it runs in: one Engine, the datasets, the settings.

A StarDock kernel is started by jupyter_client's kernel manager, which knows
nothing of StarDock. Inside a Jupyter server (or the hub service) the server
extension has already read the operator's settings and holds an Engine (with its
thread pools) and a dataset registry; it registers them here as the host of its
ServerApp, and every kernel start under that ServerApp reuses them. Only a tool
without a server (``jupyter nbconvert --execute``, ``jupyter console``) reads the
configuration files, once per start, into a standalone host.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from traitlets.config import Config

from ..config import Mode, StarDockSettings, load_server_config, settings_from_config
from ..core.datasets import DatasetRegistry
from ..engine import Engine

if TYPE_CHECKING:
    from .pool import KernelPool

__all__ = ["KernelHost", "host_for", "register_host", "standalone_host"]


@dataclass(frozen=True)
class KernelHost:
    """A server's settings and the engine and datasets its kernels share."""

    settings: StarDockSettings
    #: 'local' (this process holds the engine), 'service' (the hub service) or 'remote'.
    mode: Mode
    #: None in remote mode: the hub service holds the engine.
    engine: Engine | None
    #: Makes (standalone) or hands out (in a server) the dataset registry.
    datasets: Callable[[], DatasetRegistry]
    #: Whether a kernel start must close the registry it got (a standalone one is its own).
    owns_datasets: bool = False
    #: The server's warm pool of kernels (issue 14); None without a server, or switched off.
    pool: KernelPool | None = None


# By ServerApp: several servers may run in one process (tests do), and a kernel
# belongs to the one whose kernel manager started it. Weak, so a stopped server's
# host goes with it.
_HOSTS: weakref.WeakKeyDictionary[Any, KernelHost] = weakref.WeakKeyDictionary()
# One engine facade (and thread pools) per address for every standalone start of a process.
_STANDALONE_ENGINES: dict[tuple[str | None, float], Engine] = {}


def register_host(serverapp: Any, host: KernelHost | None) -> None:
    """Called by the server extension at start (host) and at stop (None)."""
    if host is None:
        _HOSTS.pop(serverapp, None)
    else:
        _HOSTS[serverapp] = host


def host_for(node: Any) -> KernelHost | None:
    """The host of the server above ``node`` (a provisioner: its kernel manager's parents)."""
    while node is not None:
        try:
            host = _HOSTS.get(node)
        except TypeError:  # not weak-referenceable, so never registered
            host = None
        if host is not None:
            return host
        node = getattr(node, "parent", None)
    return None


def standalone_host(extra: Config | None = None) -> tuple[KernelHost, Config]:
    """Without a server: the operator's settings from the config files, and that config.

    The config is returned too so the provisioner can apply its own section
    (c.StarDockProvisioner) from the same files.
    """
    config = load_server_config(extra)
    settings = settings_from_config(config)
    mode: Mode = "remote" if settings.service_url else "local"
    engine = None
    if mode == "local":
        key = (settings.docker_host, settings.engine_timeout)
        if key not in _STANDALONE_ENGINES:
            _STANDALONE_ENGINES[key] = Engine(
                settings.docker_host, timeout=max(settings.engine_timeout, 5.0)
            )
        engine = _STANDALONE_ENGINES[key]

    def datasets() -> DatasetRegistry:
        return DatasetRegistry(settings.datasets, cache_seconds=settings.dataset_scan_seconds)

    return KernelHost(settings, mode, engine, datasets, owns_datasets=True), config
