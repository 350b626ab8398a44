"""Every StarDock handler is authenticated and authorized (resource ``stardock``)."""

from __future__ import annotations

import re

import pytest
from jupyter_server.auth.authorizer import Authorizer
from tornado.httpclient import HTTPClientError

from jupyter_stardock.handlers import routes


class RefuseStarDock(Authorizer):
    """Allows everything except the stardock resource."""

    def is_authorized(self, handler, user, action, resource):  # type: ignore[no-untyped-def]
        return resource != "stardock"


@pytest.fixture
def jp_server_config():  # type: ignore[no-untyped-def]
    return {"ServerApp": {"jpserver_extensions": {"jupyter_stardock": True}}}


def _concrete(pattern: str) -> str:
    """A URL the pattern matches: every named group becomes a made-up id."""
    return re.sub(r"\(\?P<\w+>[^)]*\)", "x", pattern).replace("$", "")


async def test_no_token_is_401(jp_fetch, jp_base_url, jp_http_port, http_server_client):  # type: ignore[no-untyped-def]
    for pattern, _ in routes():
        with pytest.raises(HTTPClientError) as info:
            await http_server_client.fetch(
                f"{jp_base_url.rstrip('/')}{_concrete(pattern)}", raise_error=True
            )
        assert info.value.code in (401, 403), pattern


class TestRefusingAuthorizer:
    @pytest.fixture
    def jp_server_config(self):  # type: ignore[no-untyped-def]
        return {
            "ServerApp": {
                "jpserver_extensions": {"jupyter_stardock": True},
                "authorizer_class": RefuseStarDock,
            }
        }

    async def test_403(self, jp_fetch):  # type: ignore[no-untyped-def]
        for pattern, _ in routes():
            parts = _concrete(pattern).strip("/").split("/")
            with pytest.raises(HTTPClientError) as info:
                await jp_fetch(*parts)
            assert info.value.code == 403, pattern
