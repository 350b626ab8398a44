"""The StarDock kernelspecs a server offers its Launcher and REST API.

Local mode (and the hub service): the kernelspec files are the unix user's, read
by every server of that user, so the REST API lists only those this server can
start (:class:`LaunchableKernelSpecs`). Remote mode: the hub service holds the
engine and the user's environments, and the user's server mirrors the
kernelspecs the service offers them (:class:`RemoteKernelspecs`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..core.datasets import DatasetRegistry
from ..core.kernelspecs import KernelspecStore, LaunchableKernelSpecs, language_kernelspec_name
from ..core.users import local_groups, server_user
from ..errors import EngineUnavailable
from ..hub.service_client import ServiceClient
from ..services.builds import BuildManager
from ..services.status import EngineHealth

__all__ = ["RemoteKernelspecs", "launchable_kernelspecs"]


def launchable_kernelspecs(
    wrapped: Any,
    *,
    store: KernelspecStore,
    datasets: DatasetRegistry,
    builds: BuildManager,
    health: EngineHealth,
    ttl: float,
    log: logging.Logger,
) -> LaunchableKernelSpecs:
    """The kernel spec manager the REST API uses (wrapping the server's): only kernels it can start.

    A kernelspec this server writes is listed at once; the engine's environments
    are asked again as soon as the engine answers after an outage.
    """

    def own_dataset_ids() -> set[str]:
        return {d.id for d in datasets.visible_to(server_user(), local_groups())}

    async def environment_ids() -> set[str]:
        try:
            environments = await builds.environments()
        except EngineUnavailable as err:
            health.failed(str(err))
            raise
        health.answered()
        return {e["id"] for e in environments}

    def listing_failed(err: Exception) -> None:
        if not isinstance(err, EngineUnavailable):  # an outage is logged once, by EngineHealth
            log.warning("StarDock: could not list environments for the kernelspecs: %s", err)

    launchable = LaunchableKernelSpecs(
        wrapped,
        datasets=own_dataset_ids,
        environments=environment_ids,
        ttl=ttl,
        on_error=listing_failed,
    )
    store.on_write = launchable.add_environment
    health.on_recovered = launchable.expire
    return launchable


class RemoteKernelspecs:
    """The kernelspecs of this server that mirror the service's."""

    def __init__(
        self,
        remote: ServiceClient,
        store: KernelspecStore,
        *,
        every: float,
        log: logging.Logger,
    ) -> None:
        self.remote = remote
        self.store = store
        self.every = every
        self.log = log

    async def sync(self) -> list[str]:
        """Write the kernelspecs the service offers, remove the others; their names."""
        reply = await self.remote.request("GET", "kernelspecs")
        wanted = {}
        for spec in reply.get("kernelspecs", []):
            wanted[spec["name"]] = spec
            self.store.write(
                environment=spec["environment"],
                image=spec["image"],
                dataset_id=spec.get("dataset"),
                dataset_title=spec.get("dataset_title"),
                app_titles=spec.get("app_titles") or [],
                recipe=spec.get("recipe") or {},
                languages=spec.get("languages") or [],  # issue 18
            )
            # issue 18: the other languages' kernelspecs of the same pair are wanted too.
            for language in spec.get("languages") or []:
                name = language_kernelspec_name(spec["environment"], spec.get("dataset"), language)
                wanted[name] = spec
        for name in self.store.names():
            if name not in wanted:
                self.store.remove(name)
                self.log.info(
                    "StarDock: removed kernelspec %s: the service no longer offers it", name
                )
        return sorted(wanted)

    async def sync_soon(self) -> None:
        """Refresh now; a failure is logged, never raised (the next refresh tries again)."""
        try:
            await self.sync()
        except Exception as err:  # the service may be down, or come up later
            self.log.warning("StarDock: could not refresh kernelspecs from the service: %s", err)

    async def forever(self) -> None:
        while True:
            await self.sync_soon()
            await asyncio.sleep(self.every)
