"""Every StarDock handler is authenticated and authorized (resource ``stardock``)."""

from __future__ import annotations

import re

import pytest
from jupyter_server.auth.authorizer import Authorizer
from tornado.httpclient import HTTPClientError

from jupyter_stardock.server.routes import routes

METHODS = ("get", "post", "put", "patch", "delete")


class RefuseStarDock(Authorizer):
    """Allows everything except the stardock resource."""

    def is_authorized(self, handler, user, action, resource):  # type: ignore[no-untyped-def]
        return resource != "stardock"


@pytest.fixture
def jp_server_config():  # type: ignore[no-untyped-def]
    return {"ServerApp": {"jpserver_extensions": {"jupyter_stardock": True}}}


def _requests() -> list[tuple[str, str]]:
    """(method, url path) for every verb of every route, with made-up ids."""
    requests = []
    for pattern, handler in routes():
        path = re.sub(r"\(\?P<\w+>[^)]*\)", "0123abcd", pattern).replace("$", "")
        requests += [(m.upper(), path) for m in METHODS if m in vars(handler)]
    return requests


async def test_no_token_is_refused(jp_base_url, http_server_client) -> None:  # type: ignore[no-untyped-def]
    for method, path in _requests():
        with pytest.raises(HTTPClientError) as info:
            await http_server_client.fetch(
                f"{jp_base_url.rstrip('/')}{path}",
                method=method,
                body="{}" if method in ("POST", "PUT", "PATCH") else None,
                raise_error=True,
            )
        assert info.value.code in (401, 403), (method, path)


class TestRefusingAuthorizer:
    @pytest.fixture
    def jp_server_config(self):  # type: ignore[no-untyped-def]
        return {
            "ServerApp": {
                "jpserver_extensions": {"jupyter_stardock": True},
                "authorizer_class": RefuseStarDock,
            }
        }

    async def test_403(self, jp_fetch) -> None:  # type: ignore[no-untyped-def]
        for method, path in _requests():
            with pytest.raises(HTTPClientError) as info:
                await jp_fetch(
                    *path.strip("/").split("/"),
                    method=method,
                    body="{}" if method in ("POST", "PUT", "PATCH") else None,
                )
            assert info.value.code == 403, (method, path)
