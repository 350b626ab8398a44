"""The site's private registry as the build service uses it: one build serves every node.

* After a build, the environment is pushed under its content-addressed tag
  (``HOST/PREFIX/env:<environment id>``) and the manifest's digest is kept in the
  build record.
* Before a build, the same tag is looked up in the registry; when it is there the
  image is pulled (by that digest) instead of built. A pulled image must carry
  the labels of the environment its tag names, or it is not used.
* ``jupyter stardock base`` pushes the base image too (its hash tag and
  ``latest``), and a server without a base image pulls ``latest``.
* Removing an environment deletes its manifest through the registry's API.

The registry is a help, never a requirement: when it is unreachable or refuses
our credentials, the build happens here and the log says why the registry was
not used; the local image is never touched by a failed push.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..engine import Engine, ImageInfo
from ..engine.references import repository_and_tag
from ..engine.registry import Registry, RegistryAddress, load_credentials
from ..errors import RegistryError
from ..labels import BaseImageLabels, EnvironmentLabels

__all__ = ["RegistryCopy", "RegistryService", "registry_service"]

log = logging.getLogger(__name__)

Log = Callable[[str], None]


@dataclass(frozen=True)
class RegistryCopy:
    """Where an environment is in the registry (as a build record keeps it), or why it is not."""

    reference: str
    digest: str | None = None
    #: True when this build pulled the environment instead of building it.
    pulled: bool = False
    #: Why it could not be pushed (a sentence); the local image is fine.
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "digest": self.digest,
            "pulled": self.pulled,
            "error": self.error,
        }


class RegistryService:
    """Push, pull-instead-of-build and delete, for images named ``REPOSITORY:TAG`` locally."""

    def __init__(self, engine: Engine, registry: Registry | None, problem: str = "") -> None:
        self.engine = engine
        self.registry = registry
        #: Why the registry cannot be used at all (bad settings), said on every use.
        self.problem = problem

    @property
    def address(self) -> str:
        """Where the registry's API is, for messages ("" when the settings are unusable)."""
        return self.registry.url if self.registry else ""

    def _where(self, local_tag: str) -> tuple[str, str]:
        """The registry's name and tag for a local tag: ``stardock/env:abc`` is ``env:abc``."""
        repository, tag = repository_and_tag(local_tag)
        return repository.rsplit("/", 1)[-1], tag

    def reference(self, local_tag: str) -> str:
        name, tag = self._where(local_tag)
        return f"{self.registry.address.repository(name)}:{tag}" if self.registry else ""

    def _usable(self, say: Log) -> Registry | None:
        if self.registry is None:
            say(f"Not using the image registry: {self.problem}")
        return self.registry

    # -- sync: for worker threads and the command line --------------------

    def fetch_sync(self, local_tag: str, say: Log) -> tuple[ImageInfo, RegistryCopy] | None:
        """Pull ``local_tag`` from the registry and tag it so; None when it is not there."""
        registry = self._usable(say)
        if registry is None:
            return None
        name, tag = self._where(local_tag)
        reference = self.reference(local_tag)
        try:
            digest = registry.manifest_digest_sync(name, tag)
            if digest is None:
                say(f"{reference} is not in the image registry yet.")
                return None
            say(
                f"Found {reference} ({digest}) in the image registry: pulling it instead of building."
            )
            image = registry.pull_sync(name, digest, say)
        except RegistryError as err:
            say(f"Not using the image registry: {err}")
            return None
        if not _is_what_the_tag_names(image, tag):
            say(
                f"The registry's {reference} is not the environment its tag names (its "
                "labels differ); not using it."
            )
            self.engine.remove_image_sync(f"{registry.address.repository(name)}@{digest}")
            return None
        self.engine.tag_sync(image.id, local_tag)
        found = self.engine.image_sync(local_tag) or image
        say(f"Pulled {reference} ({digest}); no build needed.")
        return found, RegistryCopy(reference, digest, pulled=True)

    def publish_sync(self, local_tag: str, say: Log) -> RegistryCopy:
        """Push ``local_tag``; a failure is returned as the copy's ``error``, never raised."""
        registry = self._usable(say)
        if registry is None:
            return RegistryCopy("", error=self.problem)
        name, tag = self._where(local_tag)
        reference = self.reference(local_tag)
        say(f"Pushing {reference} to the image registry...")
        try:
            digest = registry.push_sync(local_tag, name, tag, say)
        except RegistryError as err:
            say(f"WARNING: {err} The environment is kept here; other nodes will build it.")
            return RegistryCopy(reference, error=str(err))
        say(f"Pushed {reference} ({digest}).")
        return RegistryCopy(reference, digest)

    def forget_sync(self, local_tag: str) -> bool:
        """Delete the manifest of ``local_tag`` from the registry; False when it was not there."""
        if self.registry is None:
            return False
        name, tag = self._where(local_tag)
        digest = self.registry.manifest_digest_sync(name, tag)
        return digest is not None and self.registry.delete_manifest_sync(name, digest)

    # -- async: for the server (engine and HTTP calls off the event loop) --

    async def fetch(self, local_tag: str, say: Log) -> tuple[ImageInfo, RegistryCopy] | None:
        return await self.engine.run_long(self.fetch_sync, local_tag, _on_loop(say))

    async def publish(self, local_tag: str, say: Log) -> RegistryCopy:
        return await self.engine.run_long(self.publish_sync, local_tag, _on_loop(say))

    async def forget(self, local_tag: str) -> None:
        """Delete the manifest; a registry that refuses is logged, the local removal stands."""
        try:
            if await self.engine.run(self.forget_sync, local_tag):
                log.info("StarDock: deleted %s from the image registry", self.reference(local_tag))
        except RegistryError as err:
            log.warning("StarDock: %s", err)

    async def status(self) -> dict[str, Any]:
        """What ``GET /status`` says of the registry: reachable, logged in, or the problem."""
        if self.registry is None:
            return {
                "address": "",
                "reachable": False,
                "authenticated": False,
                "problem": self.problem,
            }
        health = await self.engine.run(self.registry.health_sync)
        return health.to_json()


def registry_service(engine: Engine, registry: str, credentials: str) -> RegistryService | None:
    """The service for ``c.StarDockApp.registry`` and ``registry_credentials`` (None: no registry).

    Settings that cannot be used (a malformed address, an unreadable or shared
    credentials file) do not stop the server: builds happen here and every
    build's log, the status and ``jupyter stardock doctor`` say why.
    """
    if not registry.strip():
        return None
    try:
        address = RegistryAddress.parse(registry)
        creds = load_credentials(credentials, address.host) if credentials else None
    except RegistryError as err:
        log.error("StarDock: %s", err)
        return RegistryService(engine, None, str(err))
    return RegistryService(engine, Registry(engine, address, creds))


def _is_what_the_tag_names(image: ImageInfo, tag: str) -> bool:
    """A pulled environment's labels name the content hash its tag is made of; a base has its own."""
    environment = EnvironmentLabels.from_labels(image.labels)
    if environment is not None:
        return environment.env_id == tag
    return BaseImageLabels.from_labels(image.labels) is not None


def _on_loop(say: Log) -> Log:
    """``say`` called on the event loop, from whichever thread reports."""
    loop = asyncio.get_running_loop()

    def on_loop(line: str) -> None:
        loop.call_soon_threadsafe(say, line)

    return on_loop
