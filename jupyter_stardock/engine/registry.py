"""A private image registry: push and pull through the engine, manifests through the HTTP API v2.

Pushes and pulls go through the Docker Engine (docker-py), so the registry's TLS
is the engine's: a registry on 127.0.0.0/8 may be plain HTTP, any other needs
its CA in ``/etc/docker/certs.d/HOST:PORT/ca.crt``. The few calls the engine
has no verb for (does a manifest exist, delete it, may we log in) go to the
registry's own API with the same CA and HTTP basic authentication (htpasswd).

Credentials are handed to the engine per push or pull (docker-py's
``auth_config``, sent as that one request's ``X-Registry-Auth`` header). We never
call ``login()``: docker-py would keep them in the client and send them along
with every later build of that thread (``X-Registry-Config``).

Errors the engine reports inside a push or pull stream (an HTTP 200 whose
chunks say ``error``) become a :class:`RegistryError` with the registry's
reason, told by asking the registry itself (unreachable, credentials refused).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import requests
from docker.auth import AuthConfig

from ..errors import EngineError, RegistryError
from .client import Engine
from .connection import _short_reason
from .types import ImageInfo

__all__ = [
    "CERTS_DIR",
    "Registry",
    "RegistryAddress",
    "RegistryCredentials",
    "RegistryHealth",
    "load_credentials",
]

#: Where the engine looks for a registry's CA (``HOST:PORT/ca.crt``); we use the same one.
CERTS_DIR = Path("/etc/docker/certs.d")

#: Manifest types we ask for, so the registry answers with the digest the engine pushed.
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)

OnLine = Callable[[str], None]


@dataclass(frozen=True)
class RegistryAddress:
    """``c.StarDockApp.registry`` read: ``host[:port]`` and a path prefix inside it."""

    host: str
    prefix: str = ""

    @classmethod
    def parse(cls, value: str) -> RegistryAddress:
        text = value.strip().strip("/")
        if "://" in text:
            text = text.split("://", 1)[1]
        host, _, prefix = text.partition("/")
        # A registry host has a dot, a port or is localhost (the engine's own rule:
        # otherwise "stardock/env" would be read as Docker Hub's user "stardock").
        if not host or not ("." in host or ":" in host or host == "localhost"):
            raise RegistryError(
                f"c.StarDockApp.registry = {value!r} names no registry host: write "
                "host[:port]/prefix, for example registry.example.org:5000/stardock."
            )
        if prefix != prefix.lower() or any(c.isspace() for c in prefix):
            raise RegistryError(
                f"c.StarDockApp.registry = {value!r}: the path after the host must be "
                "lower case without spaces, as image names are."
            )
        return cls(host, prefix)

    def repository(self, name: str) -> str:
        """The registry's repository for ``name`` (``host/prefix/name``)."""
        return "/".join(p for p in (self.host, self.prefix, name) if p)

    def path(self, name: str) -> str:
        """The repository's name in the registry's API (without the host)."""
        return "/".join(p for p in (self.prefix, name) if p)

    @property
    def loopback(self) -> bool:
        hostname = self.host
        if hostname.startswith("["):  # [::1]:5000
            hostname = hostname[1:].split("]", 1)[0]
        elif hostname.count(":") == 1:
            hostname = hostname.split(":", 1)[0]
        if hostname == "localhost":
            return True
        try:
            return ipaddress.ip_address(hostname).is_loopback
        except ValueError:
            return False


@dataclass(frozen=True)
class RegistryCredentials:
    """A user name and password for the registry (never printed: repr hides the password)."""

    username: str
    password: str = field(repr=False)
    #: The file they came from, for messages.
    source: str = ""

    def auth_config(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}


def load_credentials(path: str | os.PathLike[str], host: str) -> RegistryCredentials:
    """The credentials for ``host`` in a docker ``config.json``-style file (``auths``).

    The file is what ``docker login`` writes without a credential store:
    ``{"auths": {"HOST:PORT": {"auth": base64("user:password")}}}`` (or
    ``"username"`` and ``"password"`` in the entry). It must be a regular file
    only its owner may read, since anyone who reads it may push.
    """
    where = Path(path)
    try:
        info = where.stat()
        if not stat.S_ISREG(info.st_mode):
            raise RegistryError(f"The registry credentials {where} are not a regular file.")
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise RegistryError(
                f"The registry credentials {where} may be read by other users; make the file "
                f"private (chmod 600 {where}) and start again."
            )
        data = json.loads(where.read_text())
    except OSError as err:
        raise RegistryError(
            f"Could not read the registry credentials {where} ({err.strerror or err}); check "
            "c.StarDockApp.registry_credentials."
        ) from err
    except ValueError as err:
        raise RegistryError(
            f"The registry credentials {where} are not JSON ({err}); write them as docker's "
            'config.json does: {"auths": {"HOST:PORT": {"auth": "base64 of user:password"}}}.'
        ) from err
    if not isinstance(data, dict) or not isinstance(data.get("auths"), dict):
        raise RegistryError(
            f'The registry credentials {where} have no "auths" section; write them as '
            'docker\'s config.json does: {"auths": {"HOST:PORT": {"auth": "..."}}}.'
        )
    try:
        auths = {k: _with_auth(v) for k, v in data["auths"].items()}
        entry = AuthConfig.load_config(None, {"auths": auths}).resolve_authconfig(host)
    except Exception as err:  # docker-py raises its own InvalidConfigFile and more
        raise RegistryError(f"The registry credentials {where} could not be read: {err}") from err
    if not entry or not entry.get("username"):
        raise RegistryError(
            f"The registry credentials {where} have no entry for {host} (its auths name "
            f"{', '.join(sorted(data['auths'])) or 'nothing'})."
        )
    return RegistryCredentials(str(entry["username"]), str(entry.get("password") or ""), str(where))


def _with_auth(entry: Any) -> Any:
    """An entry with ``username`` and ``password`` also as ``auth`` (docker-py reads only that)."""
    if isinstance(entry, dict) and "auth" not in entry and entry.get("username"):
        pair = f"{entry['username']}:{entry.get('password') or ''}"
        return {**entry, "auth": base64.b64encode(pair.encode()).decode()}
    return entry


@dataclass(frozen=True)
class RegistryHealth:
    """What ``GET /v2/`` says: reachable, whether our credentials are taken, and why not."""

    address: str
    reachable: bool
    authenticated: bool
    problem: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "reachable": self.reachable,
            "authenticated": self.authenticated,
            "problem": self.problem,
        }


class Registry:
    """One registry, spoken to through ``engine`` (push, pull) and its own API (manifests)."""

    def __init__(
        self,
        engine: Engine,
        address: RegistryAddress,
        credentials: RegistryCredentials | None = None,
        *,
        timeout: float = 10.0,
        certs_dir: Path = CERTS_DIR,
    ) -> None:
        self.engine = engine
        self.address = address
        self.credentials = credentials
        self.timeout = timeout
        self.certs_dir = certs_dir

    # -- the registry's own API -------------------------------------------

    @property
    def _ca(self) -> Path | None:
        ca = self.certs_dir / self.address.host / "ca.crt"
        return ca if ca.is_file() else None

    @property
    def url(self) -> str:
        """Where the API is: HTTPS with the engine's CA; plain HTTP only on loopback without one."""
        plain = self._ca is None and self.address.loopback
        return f"{'http' if plain else 'https'}://{self.address.host}"

    def _http(
        self, method: str, path: str, headers: Mapping[str, str] | None = None
    ) -> requests.Response:
        auth = (self.credentials.username, self.credentials.password) if self.credentials else None
        ca = self._ca
        try:
            return requests.request(
                method,
                f"{self.url}{path}",
                headers=dict(headers or {}),
                auth=auth,
                verify=str(ca) if ca else True,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.exceptions.RequestException as err:
            raise RegistryError(
                f"The image registry at {self.url} cannot be reached ({_reason(err)}). Check "
                "that it is running and that c.StarDockApp.registry names it."
            ) from err

    def health_sync(self) -> RegistryHealth:
        """Ask ``GET /v2/``: 200 with our credentials (or none needed), 401 refused."""
        try:
            response = self._http("GET", "/v2/")
        except RegistryError as err:
            return RegistryHealth(self.url, False, False, str(err))
        if response.status_code == HTTPStatus.OK:
            return RegistryHealth(self.url, True, True)
        if response.status_code == HTTPStatus.UNAUTHORIZED:
            return RegistryHealth(self.url, True, False, self._refused())
        return RegistryHealth(
            self.url,
            True,
            False,
            f"The image registry at {self.url} answered {response.status_code} to GET /v2/; "
            "it may not be a Docker registry (distribution API v2).",
        )

    def _refused(self) -> str:
        if self.credentials is None:
            return (
                f"The image registry at {self.url} asks for credentials; name a file with them "
                "in c.StarDockApp.registry_credentials."
            )
        return (
            f"The image registry at {self.url} refused the credentials of user "
            f"{self.credentials.username!r} from {self.credentials.source or 'the settings'}; "
            "check the file named by c.StarDockApp.registry_credentials."
        )

    def _checked(self, response: requests.Response, what: str) -> requests.Response:
        if response.status_code == HTTPStatus.UNAUTHORIZED:
            raise RegistryError(f"Could not {what}: {self._refused()}")
        if response.status_code >= 400 and response.status_code != HTTPStatus.NOT_FOUND:
            raise RegistryError(
                f"Could not {what}: the image registry at {self.url} answered "
                f"{response.status_code} ({response.text.strip()[:200] or response.reason})."
            )
        return response

    def manifest_digest_sync(self, name: str, tag: str) -> str | None:
        """The digest of ``name:tag`` in the registry, or None when it has no such manifest."""
        path = f"/v2/{self.address.path(name)}/manifests/{tag}"
        response = self._checked(
            self._http("HEAD", path, {"Accept": MANIFEST_TYPES}),
            f"look up {self.address.repository(name)}:{tag}",
        )
        if response.status_code == HTTPStatus.NOT_FOUND:
            return None
        return response.headers.get("Docker-Content-Digest") or None

    def delete_manifest_sync(self, name: str, digest: str) -> bool:
        """Delete a manifest by digest (its tags go with it); False when it was not there."""
        what = f"delete {self.address.repository(name)}@{digest} from the registry"
        response = self._http("DELETE", f"/v2/{self.address.path(name)}/manifests/{digest}")
        if response.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
            raise RegistryError(
                f"Could not {what}: the registry does not allow deletion; enable it in the "
                "registry's config (storage: delete: enabled: true)."
            )
        return self._checked(response, what).status_code != HTTPStatus.NOT_FOUND

    # -- through the engine -----------------------------------------------

    def push_sync(self, local_ref: str, name: str, tag: str, on_line: OnLine | None = None) -> str:
        """Push ``local_ref`` as ``name:tag``; returns the manifest's digest."""
        remote = f"{self.address.repository(name)}:{tag}"
        self.engine.tag_sync(local_ref, remote)
        try:
            auxes = self._stream("push", name, tag, f"push {remote}", on_line)
            return _digest_of(auxes, remote)
        finally:
            # Only our own name stays on the image: its tags are how environments are listed.
            self.engine.remove_image_sync(remote)

    def pull_sync(self, name: str, digest: str, on_line: OnLine | None = None) -> ImageInfo:
        """Pull ``name@digest`` (exactly what was looked up); returns the image, untagged."""
        ref = f"{self.address.repository(name)}@{digest}"
        self._stream("pull", name, digest, f"pull {ref}", on_line)
        return self.engine._call(
            lambda: ImageInfo.from_inspect(self.engine._client().inspect_image(ref))
        )

    def _stream(
        self, verb: str, name: str, tag: str, what: str, on_line: OnLine | None
    ) -> list[Mapping[str, Any]]:
        """One push or pull, its stream read to the end (the ``aux`` chunks returned)."""

        def go() -> list[Mapping[str, Any]]:
            api = self.engine._client(quick=False)
            call = api.push if verb == "push" else api.pull
            stream = call(
                self.address.repository(name),
                tag=tag,
                stream=True,
                decode=True,
                auth_config=self._auth(),
            )
            return self._follow(stream, what, on_line)

        try:
            return self.engine._call(go)
        except RegistryError:
            raise
        except EngineError as err:
            raise RegistryError(
                f"Could not {what}: {err}", engine_status=err.engine_status
            ) from err

    def _auth(self) -> dict[str, str] | None:
        return self.credentials.auth_config() if self.credentials else None

    def _follow(
        self, stream: Iterable[Mapping[str, Any]], what: str, on_line: OnLine | None
    ) -> list[Mapping[str, Any]]:
        """Read a push or pull stream to its end; an ``error`` chunk fails it with the reason."""
        auxes = []
        for chunk in stream:
            if "error" in chunk or "errorDetail" in chunk:
                detail = chunk.get("errorDetail") or {}
                message = str(chunk.get("error") or detail.get("message") or chunk).strip()
                raise RegistryError(f"Could not {what}: {message}.{self._why()}")
            if "aux" in chunk:
                auxes.append(chunk["aux"])
            elif on_line is not None and chunk.get("status") and "progress" not in chunk:
                on_line(" ".join(str(chunk[k]) for k in ("id", "status") if k in chunk))
        return auxes

    def _why(self) -> str:
        """The registry's own reason, asked after the engine gave up (it says less)."""
        health = self.health_sync()
        return f" {health.problem}" if health.problem else ""


def _digest_of(auxes: list[Mapping[str, Any]], remote: str) -> str:
    for aux in auxes:
        if isinstance(aux, Mapping) and str(aux.get("Digest", "")).startswith("sha256:"):
            return str(aux["Digest"])
    raise RegistryError(f"The engine pushed {remote} but named no digest for it; push again.")


def _reason(err: BaseException) -> str:
    if "CERTIFICATE_VERIFY_FAILED" in str(err):
        return (
            "its TLS certificate is not trusted: put its CA in /etc/docker/certs.d/HOST:PORT/ca.crt"
        )
    return _short_reason(err)
