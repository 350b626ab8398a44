"""Who calls the StarDock service: the Hub user behind an API token."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from jupyter_server.auth.identity import IdentityProvider, User
from tornado import httpclient, web
from traitlets import Float, Instance, default

__all__ = ["HubIdentityProvider", "HubUser"]


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
