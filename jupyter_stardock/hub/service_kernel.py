"""A kernel the hub service runs for this server's user (remote mode's provisioner side)."""

from __future__ import annotations

from typing import Any

from ..errors import EngineUnavailable, ServiceError
from .service_client import ServiceClient

__all__ = ["ServiceKernel"]


class ServiceKernel:
    """A kernel the hub service runs for this server's user (remote mode's provisioner side)."""

    def __init__(
        self,
        client: ServiceClient,
        kernel_id: str,
        environment: str,
        dataset: str | None,
        work: str | None = None,
        language: str = "python",
    ) -> None:
        self.client = client
        # issue 18: the notebook's folder; the service mounts it only inside the user's home.
        self.work = work
        self.language = language  # issue 18: the kernelspec's language (R beside Python)
        self.kernel_id = kernel_id
        self.environment = environment
        self.dataset = dataset
        self.started = False

    def _path(self, action: str = "") -> str:
        return f"service/kernels/{self.kernel_id}" + (f"/{action}" if action else "")

    async def start(self) -> Any:
        """Start (or, the second time, restart) it; returns the connection info, key as bytes."""
        if not self.started:
            body = {
                "kernel_id": self.kernel_id,
                "environment": self.environment,
                "dataset": self.dataset,
                "work": self.work,
                "language": self.language,
            }
            reply = await self.client.request("POST", "service/kernels", body, timeout=300)
        else:
            reply = await self.client.request("POST", self._path("restart"), {}, timeout=300)
        self.started = True
        info = dict(reply["connection"])
        info["key"] = str(info["key"]).encode()
        return info

    async def poll(self) -> int | None:
        try:
            reply = await self.client.request("GET", self._path(), timeout=10)
        except ServiceError as err:
            if err.status_code == 404:
                return 0  # the service no longer has it
            return None  # a hiccup of the service is not a dead kernel
        except EngineUnavailable:
            return None  # nor is a service that is restarting
        return None if reply["alive"] else int(reply.get("exit_code") or 0)

    async def signal(self, signum: int) -> None:
        await self.client.request("POST", self._path("signal"), {"signum": signum})

    async def stop(self, graceful: bool) -> None:
        await self.client.request("POST", self._path("stop"), {"graceful": graceful}, timeout=60)

    async def shutdown(self) -> None:
        try:
            await self.client.request("DELETE", self._path(), timeout=300)
        except ServiceError as err:
            if err.status_code != 404:
                raise
        self.started = False
