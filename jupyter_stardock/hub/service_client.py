"""What a user's server (remote mode) uses to call the StarDock service."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tornado import httpclient

from ..errors import EngineUnavailable, ServiceError

__all__ = ["ServiceClient", "hub_user_home", "service_client_from_env"]


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
        """JSON in, JSON out; raises the service's error as a ServiceError with its sentence."""
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
            raise ServiceError(message, status_code=err.code) from err
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
