"""Shared hub deployments: the StarDock service, and single-user servers in remote mode.

In a JupyterHub, giving every user's server the engine socket would give every
user root on the host. So one process, ``jupyter stardock service`` (a
JupyterHub managed service), holds the engine; users' servers run the extension
in *remote* mode and call the service with their server's Hub API token.

    browser ──► user's server (/user/ana/stardock/api/...)      no engine socket
                  │  proxies with JUPYTERHUB_API_TOKEN (identity: ana)
                  ▼
               StarDock service (/services/stardock/stardock/api/...)
                  │  HubIdentityProvider: token ─► Hub ─► {name, groups, admin}
                  ▼
               Docker Engine ─► kernel container (runs as ana's uid)
                  ▲
    user's server's kernel manager ── ipc sockets in a folder only ana may enter
                                      (or TCP with per-kernel CurveZMQ keys)

Identity always comes from the token, never from a field of the request.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from jupyter_server.auth.identity import IdentityProvider, User
from jupyter_server.serverapp import ServerApp
from tornado import httpclient, web
from traitlets import Float, Instance, default

__all__ = ["HubIdentityProvider", "HubUser", "ServiceClient", "StarDockServiceApp"]


@dataclass
class HubUser(User):
    """A JupyterHub user, as the service sees it."""

    groups: list[str] = field(default_factory=list)
    admin: bool = False


class HubIdentityProvider(IdentityProvider):
    """Identifies the Hub user behind an API token (``Authorization: token ...``).

    Tokens only, no cookies and no login page: the service is called by users'
    servers and tools, not by browsers. A token must carry the scope
    ``access:services!service=<name>``; the user's groups and admin flag are
    read with the service's own token (it needs ``read:users``).
    """

    hub_auth = Instance("jupyterhub.services.auth.HubAuth")
    details_seconds = Float(
        60.0, config=True, help="Seconds a Hub user's groups and admin flag stay cached."
    )

    @default("hub_auth")
    def _default_hub_auth(self) -> Any:
        from jupyterhub.services.auth import HubAuth

        return HubAuth(parent=self)

    _details: dict[str, tuple[float, dict[str, Any]]]

    @property
    def auth_enabled(self) -> bool:
        return True

    @property
    def login_available(self) -> bool:
        return False

    def get_handlers(self) -> list[Any]:
        return []

    async def get_user(self, handler: web.RequestHandler) -> User | None:
        token = self.hub_auth.get_token(handler, in_cookie=False)
        if not token:
            return None
        model = await self.hub_auth.user_for_token(token, sync=False)
        if not model or model.get("kind", "user") != "user":
            return None  # services and unknown tokens are not StarDock users
        if not self.hub_auth.check_scopes(self.hub_auth.access_scopes, model):
            self.log.warning(
                "StarDock: %s's token lacks %s", model.get("name"), self.hub_auth.access_scopes
            )
            return None
        details = await self._user_details(model["name"])
        handler._token_authenticated = True  # type: ignore[attr-defined]
        return HubUser(
            username=model["name"],
            groups=list(details.get("groups") or model.get("groups") or []),
            admin=bool(details.get("admin", model.get("admin", False))),
        )

    async def _user_details(self, name: str) -> dict[str, Any]:
        if not hasattr(self, "_details"):
            self._details = {}
        cached = self._details.get(name)
        if cached is not None and time.monotonic() - cached[0] < self.details_seconds:
            return cached[1]
        client = httpclient.AsyncHTTPClient()
        try:
            response = await client.fetch(
                f"{self.hub_auth.api_url.rstrip('/')}/users/{name}",
                headers={"Authorization": f"token {self.hub_auth.api_token}"},
                request_timeout=10,
            )
            details = json.loads(response.body)
        except httpclient.HTTPClientError as err:
            # Without read:users the service still knows the user, not their groups.
            self.log.warning(
                "StarDock: cannot read Hub user %s (%s); no groups, not admin", name, err
            )
            details = {}
        self._details[name] = (time.monotonic(), details)
        return details


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


class ServiceClient:
    """What a user's server (remote mode) uses to call the service with its Hub token."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.token = token
        self.timeout = timeout

    def url(self, path: str) -> str:
        return f"{self.base_url}stardock/api/{path.lstrip('/')}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}", "Content-Type": "application/json"}

    async def request(
        self, method: str, path: str, body: Any = None, timeout: float | None = None
    ) -> Any:
        """JSON in, JSON out; raises the service's error as a StarDockError with its sentence."""
        from .errors import EngineUnavailable, StarDockError

        client = httpclient.AsyncHTTPClient()
        try:
            response = await client.fetch(
                self.url(path),
                method=method,
                headers=self.headers(),
                body=None
                if body is None and method in ("GET", "DELETE")
                else json.dumps(body or {}),
                request_timeout=timeout or self.timeout,
                allow_nonstandard_methods=True,
            )
        except httpclient.HTTPClientError as err:
            message = f"The StarDock service answered {err.code}."
            if err.response is not None and err.response.body:
                try:
                    message = json.loads(err.response.body).get("message") or message
                except ValueError:
                    pass
            error = StarDockError(message)
            error.status_code = err.code
            raise error from err
        except (TimeoutError, OSError) as err:
            raise EngineUnavailable(
                f"The StarDock service at {self.base_url} cannot be reached ({err}). "
                "Ask the hub's operator to check that the service runs."
            ) from err
        return json.loads(response.body) if response.body else None


def service_client_from_env(service_url: str | None) -> ServiceClient | None:
    token = os.environ.get("JUPYTERHUB_API_TOKEN") or os.environ.get("JPY_API_TOKEN")
    if not service_url or not token:
        return None
    return ServiceClient(service_url, token)


def hub_user_home(username: str) -> Path | None:
    import pwd

    try:
        return Path(pwd.getpwnam(username).pw_dir)
    except KeyError:
        return None


class RemoteKernel:
    """A kernel the hub service runs for this server's user (remote mode's provisioner side)."""

    def __init__(
        self, client: ServiceClient, kernel_id: str, environment: str, dataset: str | None
    ) -> None:
        self.client = client
        self.kernel_id = kernel_id
        self.environment = environment
        self.dataset = dataset
        self.started = False

    def _path(self, action: str = "") -> str:
        return f"service/kernels/{self.kernel_id}" + (f"/{action}" if action else "")

    async def start(self) -> Any:
        """Start (or, the second time, restart) it; returns the connection info, key as bytes."""
        if not self.started:
            body = {
                "kernel_id": self.kernel_id,
                "environment": self.environment,
                "dataset": self.dataset,
            }
            reply = await self.client.request("POST", "service/kernels", body, timeout=300)
        else:
            reply = await self.client.request("POST", self._path("restart"), {}, timeout=300)
        self.started = True
        info = dict(reply["connection"])
        info["key"] = str(info["key"]).encode()
        return info

    async def poll(self) -> int | None:
        from .errors import StarDockError

        try:
            reply = await self.client.request("GET", self._path(), timeout=10)
        except StarDockError as err:
            if err.status_code == 404:
                return 0  # the service no longer has it
            return None  # a hiccup of the service is not a dead kernel
        return None if reply["alive"] else int(reply.get("exit_code") or 0)

    async def signal(self, signum: int) -> None:
        await self.client.request("POST", self._path("signal"), {"signum": signum})

    async def stop(self, graceful: bool) -> None:
        await self.client.request("POST", self._path("stop"), {"graceful": graceful}, timeout=60)

    async def shutdown(self) -> None:
        from .errors import StarDockError

        try:
            await self.client.request("DELETE", self._path(), timeout=300)
        except StarDockError as err:
            if err.status_code != 404:
                raise
        self.started = False
