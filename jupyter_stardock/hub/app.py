"""``jupyter stardock service``: a jupyter_server that serves only the StarDock API."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

from jupyter_server.serverapp import ServerApp
from traitlets import default

from .identity import HubIdentityProvider

__all__ = ["StarDockServiceApp"]


class StarDockServiceApp(ServerApp):
    """A jupyter_server that serves only the StarDock API, as a JupyterHub service.

    No contents, files, kernels, terminals or other extensions: hub users may
    only reach StarDock's own handlers, which scope everything to the token's
    user. Kernels still run through this server's kernel manager, internally.
    """

    name = "jupyter-stardock-service"
    description = "The StarDock hub service: the StarDock API for all hub users, the only holder of the engine."
    default_services = ("api", "security")  # type: ignore[assignment]

    def initialize(
        self,
        argv: list[str] | None = None,
        find_extensions: bool = True,
        new_httpserver: bool = True,
        starter_extension: Any = None,
    ) -> None:
        self._apply_hub_environment()
        # The user's server restarts a kernel that dies (its kernel manager holds the
        # restarter); one here as well would fight it.
        self.config.KernelManager.autorestart = False
        super().initialize(argv, find_extensions, new_httpserver, starter_extension)

    def _apply_hub_environment(self) -> None:
        url = os.environ.get("JUPYTERHUB_SERVICE_URL")
        if url:
            parsed = urlparse(url)
            self.ip = parsed.hostname or "127.0.0.1"
            self.port = parsed.port or 80
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
        if prefix:
            self.base_url = prefix

    def init_server_extensions(self) -> None:
        # Only StarDock: another extension (terminals!) would hand hub users a
        # shell in the one process that holds the engine socket.
        self.jpserver_extensions = {name: False for name in self.jpserver_extensions}
        self.jpserver_extensions["jupyter_stardock"] = True
        super().init_server_extensions()

    @default("identity_provider_class")
    def _default_identity(self) -> type:
        return HubIdentityProvider

    @default("terminals_enabled")
    def _default_terminals(self) -> bool:
        return False

    @default("config_file_name")
    def _default_config_file_name(self) -> str:
        # The operator configures StarDock once, for servers and the service alike.
        return "jupyter_server_config"

    @default("allow_root")
    def _default_allow_root(self) -> bool:
        # Holding the engine socket is root-equivalent anyway; the service runs no
        # user code in its own process (no terminals, no contents, no kernel API).
        return True

    @default("open_browser")
    def _default_open_browser(self) -> bool:
        return False

    @default("disable_check_xsrf")
    def _default_xsrf(self) -> bool:
        # Only header tokens authenticate here, never cookies: no CSRF to guard against.
        return True
