"""Remote mode: a user's server forwards the StarDock API to the hub service."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import httpclient, web
from tornado.iostream import StreamClosedError

from ..errors import NotFound
from .handlers import API, StarDockHandler

__all__ = ["RemoteProxyHandler"]


class RemoteProxyHandler(StarDockHandler):
    """Remote mode: this server has no engine; the hub service answers instead.

    The request goes on with this server's own Hub token, so the service sees
    the server's owner, whatever the request says. Server-Sent Events stream
    through as they come.
    """

    async def _forward(self, path: str) -> None:
        remote = self.stardock.remote
        if remote is None:
            raise web.HTTPError(
                503,
                "This server is set up for a StarDock hub service but has no Hub API token to call it.",
            )
        url = remote.url(_forwardable(self.request.path, path))
        if self.request.query:
            url += "?" + self.request.query
        headers = remote.headers()
        for name in ("Accept", "Last-Event-ID"):
            if name in self.request.headers:
                headers[name] = self.request.headers[name]
        streaming = "text/event-stream" in self.request.headers.get("Accept", "")

        def on_chunk(chunk: bytes) -> None:
            self.write(chunk)
            self.flush()

        def on_header(line: str) -> None:
            # The status must be set before the first chunk flushes the headers out.
            if line.startswith("HTTP/"):
                parts = line.split(" ", 2)
                if len(parts) >= 2 and parts[1].isdigit():
                    self.set_status(int(parts[1]), parts[2].strip() if len(parts) > 2 else None)
            elif line.lower().startswith(("content-type:", "content-disposition:")):
                name, _, value = line.partition(":")
                self.set_header(name.strip(), value.strip())

        request = httpclient.HTTPRequest(
            url,
            method=self.request.method or "GET",
            headers=headers,
            body=self.request.body if self.request.method in ("POST", "PUT", "PATCH") else None,
            allow_nonstandard_methods=True,
            # A redirect would send this server's Hub token to wherever it points.
            follow_redirects=False,
            request_timeout=3600 if streaming else 120,
            streaming_callback=on_chunk,
            header_callback=on_header,
        )
        try:
            response = await httpclient.AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, StreamClosedError) as err:
            raise web.HTTPError(
                503,
                f"The StarDock service at {remote.base_url} cannot be reached ({err}). "
                "Ask the hub's operator to check that it runs.",
            ) from err
        if response.code == 599:
            raise web.HTTPError(503, f"The StarDock service at {remote.base_url} did not answer.")
        if path.startswith(("builds", "environments")) and self.request.method in (
            "POST",
            "DELETE",
        ):
            await self.stardock.sync_kernelspecs_soon()
        self.finish()

    @web.authenticated
    @authorized
    async def get(self, path: str) -> None:
        await self._forward(path)

    @web.authenticated
    @authorized
    async def post(self, path: str) -> None:
        await self._forward(path)

    @web.authenticated
    @authorized
    async def delete(self, path: str) -> None:
        await self._forward(path)


def _forwardable(raw_path: str, path: str) -> str:
    """The API path to send on, exactly as it arrived; refused when it could leave the API.

    Tornado hands handlers the decoded path, so ``..%2Fhub`` would arrive as
    ``../hub`` and reach another route of the service. StarDock's own paths
    never need an escaped character or a dot segment.
    """
    tail = raw_path.partition(f"{API}/")[2]
    segments = tail.split("/")
    if "%" in tail or any(seg in (".", "..") for seg in segments) or tail != path:
        raise NotFound(f"There is no StarDock API path {tail!r}.")
    return tail
