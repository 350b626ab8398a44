"""docker-py clients for one engine address, and how their failures become StarDock's errors.

docker-py's thread safety is undocumented (docker-py#3229), so each worker thread
owns its own clients. Two kinds exist per thread: a *quick* one whose socket
timeout is short (status, inspect: the server must answer 503 within seconds
when the engine is gone) and a *long* one with no read timeout, for builds and
imports whose steps may print nothing for many minutes.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import docker
import requests
from docker import errors as docker_errors
from docker.api import APIClient

from ..errors import EngineError, EngineUnavailable, NotFound

__all__ = ["DEFAULT_SOCKET", "Connections", "StreamingAPIClient", "engine_error"]

T = TypeVar("T")

DEFAULT_SOCKET = "unix:///var/run/docker.sock"


class StreamingAPIClient(APIClient):
    """An APIClient that remembers its streaming response, so another thread can cut it.

    docker-py gives no handle on a running build. Closing the connection is what
    makes the engine stop a classic build (it cancels the request's context and,
    with ``forcerm``, removes the step's container), so we keep the response.
    """

    current_response: requests.Response | None = None

    def _post(self, url: str, **kwargs: Any) -> requests.Response:
        response: requests.Response = super()._post(url, **kwargs)
        if kwargs.get("stream"):
            self.current_response = response
        return response


def engine_error(err: docker_errors.APIError) -> NotFound | EngineError:
    """The engine's refusal as our error, keeping its HTTP status for callers to decide by."""
    if isinstance(err, docker_errors.NotFound):
        return NotFound(_explanation(err))
    return EngineError(
        f"The Docker Engine refused: {_explanation(err)}", engine_status=err.status_code
    )


class Connections:
    """This thread's clients of one engine, made on first use and made again after a failure.

    ``base_url`` of ``None`` follows docker-py's conventions: ``DOCKER_HOST``,
    ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH``, else the local socket.
    """

    def __init__(self, base_url: str | None, timeout: float) -> None:
        self.base_url = base_url or None
        self.timeout = timeout
        self._local = threading.local()

    @property
    def address(self) -> str:
        """The address we try, for messages."""
        return self.base_url or os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET

    def _kwargs(self, timeout: float | None) -> dict[str, Any]:
        if self.base_url:
            tls: Any = False
            if self.base_url.startswith(("tcp://", "https://")) and os.environ.get(
                "DOCKER_TLS_VERIFY"
            ):
                # Same as docker-py's kwargs_from_env, but for an address given in config.
                env_kwargs = docker.utils.kwargs_from_env(
                    environment={**os.environ, "DOCKER_HOST": self.base_url}
                )
                tls = env_kwargs.get("tls", False)
            return {"base_url": self.base_url, "tls": tls, "timeout": timeout, "version": "auto"}
        kwargs = docker.utils.kwargs_from_env()
        kwargs.setdefault("base_url", DEFAULT_SOCKET)
        return {**kwargs, "timeout": timeout, "version": "auto"}

    def client(self, quick: bool = True) -> StreamingAPIClient:
        """This thread's quick or long client."""
        attr = "quick" if quick else "long"
        client: StreamingAPIClient | None = getattr(self._local, attr, None)
        if client is None:
            # A long client still connects quickly: only its reads wait forever.
            timeout = self.timeout if quick else None
            try:
                client = StreamingAPIClient(**self._kwargs(timeout))
            except docker_errors.DockerException as err:
                raise self.unavailable(err) from err
            if not quick:
                client.timeout = None
            setattr(self._local, attr, client)
        return client

    def forget(self) -> None:
        """Drop this thread's clients: the next call connects afresh."""
        for attr in ("quick", "long"):
            client = getattr(self._local, attr, None)
            if client is not None:
                # Best effort: the client is dropped whatever its half-cut pool says.
                with contextlib.suppress(Exception):
                    client.close()
                setattr(self._local, attr, None)

    def unavailable(self, err: BaseException) -> EngineUnavailable:
        reason = _short_reason(err)
        return EngineUnavailable(
            f"Could not reach the Docker Engine at {self.address} ({reason}). "
            "Start the engine (for example `sudo systemctl start docker`, or `sudo dockerd &`), "
            "check that this user may use its socket, or point StarDock at another engine "
            "with DOCKER_HOST or c.StarDockApp.docker_host."
        )

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` mapping docker-py's failures to ours (in a worker thread)."""
        try:
            return fn()
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as err:
            self.forget()
            raise self.unavailable(err) from err
        except docker_errors.APIError as err:
            raise engine_error(err) from err
        except docker_errors.DockerException as err:
            self.forget()
            raise self.unavailable(err) from err


def _explanation(err: docker_errors.DockerException) -> str:
    explanation = getattr(err, "explanation", None)
    return str(explanation or err).strip()


def _short_reason(err: BaseException) -> str:
    text = str(err)
    for needle, reason in (
        ("Connection refused", "connection refused: nothing is listening there"),
        ("No such file or directory", "no such socket"),
        ("Permission denied", "permission denied on the socket"),
        ("timed out", "no answer within the time limit"),
        ("Read timed out", "no answer within the time limit"),
    ):
        if needle in text:
            return reason
    return text.splitlines()[0][:200] if text else type(err).__name__
