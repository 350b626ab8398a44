"""What ``GET /stardock/api/status`` reports: the engine, the base image, our version."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from .._version import __version__
from ..engine import Engine
from ..errors import EngineUnavailable
from ..labels import BaseImageLabels
from .registry import RegistryService

__all__ = ["EngineHealth", "PoolSizes", "engine_status", "engine_status_within", "registry_status"]


class PoolSizes(Protocol):
    """issue 14: the warm kernel pool, as the status shows it (kernels/pool.py)."""

    def sizes(self) -> dict[str, Any]: ...


async def engine_status_within(
    engine: Engine, base_alias: str, timeout: float, pool: PoolSizes | None = None
) -> dict[str, Any]:
    """:func:`engine_status`, or EngineUnavailable when no answer came within ``timeout`` seconds.

    The engine client has its own socket timeout; this cap also covers a query
    pool that is busy, so the answer comes within the limit anyway.
    """
    try:
        reply = await asyncio.wait_for(engine_status(engine, base_alias), timeout=timeout + 0.5)
    except TimeoutError:
        raise EngineUnavailable(
            f"The Docker Engine at {engine.address} did not answer within "
            f"{timeout:g} seconds. Check that it is running and not overloaded."
        ) from None
    # issue 14: ready pre-started kernels and their memory; None when the pool is off.
    reply["pool"] = pool.sizes() if pool is not None else None
    return reply


async def engine_status(engine: Engine, base_alias: str) -> dict[str, Any]:
    """Raises EngineUnavailable when the engine cannot be reached."""
    info = await engine.info()
    image = await engine.image(base_alias)
    base: dict[str, Any] = {"name": base_alias, "exists": image is not None}
    if image is not None:
        made = BaseImageLabels.from_labels(image.labels)
        base.update(
            {
                "id": image.id,
                "tags": list(image.tags),
                "created": image.created,
                "size": image.size,
                "from": made.from_ref if made else "",
                "content_hash": made.content_hash if made else "",
            }
        )
    else:
        base["hint"] = (
            "No base image yet: run `jupyter stardock base` (or `jupyter stardock base "
            "--bootstrap` on a site with no image registry)."
        )
    return {"version": __version__, "engine": info.to_json(), "base_image": base}


# issue 16: the site's registry, as GET /status reports it (None: no registry configured).
async def registry_status(
    registry: RegistryService | None, timeout: float
) -> dict[str, Any] | None:
    """Reachable and logged in, or the reason it is not; within ``timeout`` seconds."""
    if registry is None:
        return None
    try:
        return await asyncio.wait_for(registry.status(), timeout=timeout + 0.5)
    except TimeoutError:
        return {
            "address": registry.address,
            "reachable": False,
            "authenticated": False,
            "problem": f"The image registry did not answer within {timeout:g} seconds.",
        }


class EngineHealth:
    """Whether the engine answered last time, so an outage is logged when it starts and ends.

    The panel polls the status every few seconds; logging each failed poll would
    bury the one line an operator needs under one per request.
    """

    def __init__(self, address: str, log: logging.Logger | None = None) -> None:
        self.address = address
        self.log = log or logging.getLogger("jupyter_stardock")
        self.down_since: float | None = None
        self.reason = ""
        #: Called when an outage ends, e.g. to forget answers cached while it lasted.
        self.on_recovered: Callable[[], None] | None = None

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, reason: str) -> bool:
        """Record a failed request; True (and one warning) only when an outage starts."""
        self.reason = reason
        if self.down_since is not None:
            return False
        self.down_since = time.monotonic()
        self.log.warning(
            "StarDock: the Docker Engine at %s is unreachable: %s Status requests answer 503 "
            "until it is back; this is logged again only when it answers.",
            self.address,
            reason,
        )
        return True

    def answered(self) -> bool:
        """Record an answer; True (and one line) only when an outage ends."""
        if self.down_since is None:
            return False
        lasted = time.monotonic() - self.down_since
        self.down_since = None
        self.log.warning(
            "StarDock: the Docker Engine at %s answers again, after %.0f seconds unreachable.",
            self.address,
            lasted,
        )
        if self.on_recovered is not None:
            self.on_recovered()
        return True
