"""What a place that runs kernels implements: one Docker Engine today; Swarm or Kubernetes later.

The kernel layer asks a backend for six things: is an image where kernels run
(and if not, make it so), start a kernel's workload from a :class:`ContainerSpec`,
tell its state, signal it, pause or resume it, and remove it after reading its
last log lines; plus listing the workloads that carry a label, from which
reconcile adopts or archives after a restart. Everything it passes and gets
back is a plain dataclass of ours, never a docker-py dictionary, so a backend
whose workloads are Swarm services or Kubernetes Pods answers in the same
terms. docs/kubernetes.md maps each field of the spec to a Pod.

:class:`EngineBackend` is the one-engine backend, over :class:`~.client.Engine`.
Today's kernel code still calls the Engine's ``*_sync`` methods itself; moving
it onto this Protocol is the first step of a second backend (docs/kubernetes.md,
"What a backend implements"), and changes no caller above the kernel layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .client import Engine
from .types import ContainerSpec, ImageInfo

__all__ = ["EngineBackend", "KernelBackend", "KernelState", "KernelSummary"]


@dataclass(frozen=True)
class KernelState:
    """A kernel's workload as a backend sees it (a container, a Swarm task, a Pod)."""

    exists: bool
    running: bool = False
    paused: bool = False
    #: None while it runs (or when it never ran).
    exit_code: int | None = None
    #: Stopped by the memory limit (a Pod's OOMKilled reason, a container's OOMKilled flag).
    oom_killed: bool = False
    #: Published kernel ports: container port -> (host address, host port).
    ports: Mapping[int, tuple[str, int]] = field(default_factory=dict)
    #: Where it runs (a node name); "" on one engine.
    node: str = ""

    @classmethod
    def from_inspect(cls, data: Mapping[str, Any] | None) -> KernelState:
        """The state of a container from the engine's inspect answer (None: no such container)."""
        if data is None:
            return cls(exists=False)
        state = data.get("State") or {}
        running = bool(state.get("Running") or state.get("Restarting"))
        ports: dict[int, tuple[str, int]] = {}
        for key, bindings in ((data.get("NetworkSettings") or {}).get("Ports") or {}).items():
            if bindings:
                ports[int(str(key).split("/", 1)[0])] = (
                    str(bindings[0].get("HostIp") or ""),
                    int(bindings[0].get("HostPort") or 0),
                )
        return cls(
            exists=True,
            running=running,
            paused=bool(state.get("Paused")),
            exit_code=None if running else int(state.get("ExitCode") or 0),
            oom_killed=bool(state.get("OOMKilled")),
            ports=ports,
        )


@dataclass(frozen=True)
class KernelSummary:
    """One workload in a listing by label (what reconcile reads after a restart)."""

    handle: str
    name: str
    labels: Mapping[str, str]
    running: bool


@runtime_checkable
class KernelBackend(Protocol):
    """Where kernels run. Every method is async and never blocks the event loop.

    ``handle`` is what :meth:`start` returned: a container id, a service id, a
    Pod's namespace/name. Failures are our errors (``errors.py``): a name taken
    is an EngineError with ``engine_status`` 409, a missing workload NotFound
    only where a method says so.
    """

    @property
    def address(self) -> str:
        """Where the backend is, for messages."""
        ...

    async def image(self, ref: str) -> ImageInfo | None:
        """The image where kernels run, or None (a cluster: None when no node may get it)."""
        ...

    async def start(self, spec: ContainerSpec) -> str:
        """Create and start the kernel's workload exactly as ``spec`` says; never pulls silently."""
        ...

    async def state(self, handle: str) -> KernelState:
        """Its state now (``exists`` False once it is gone)."""
        ...

    async def signal(self, handle: str, signal: int | str) -> None:
        """Send a signal to its init process (interrupt, kill); nothing when it is not running."""
        ...

    async def pause(self, handle: str) -> None:
        """Freeze it, keeping its memory."""
        ...

    async def resume(self, handle: str) -> None:
        """Thaw what :meth:`pause` froze."""
        ...

    async def logs(self, handle: str, tail: int = 100) -> str:
        """Its last log lines ("" when it is gone)."""
        ...

    async def remove(self, handle: str) -> None:
        """Remove it, running or not; nothing when it is gone already."""
        ...

    async def kernels(self, label: str) -> list[KernelSummary]:
        """Every workload carrying ``label`` (``key`` or ``key=value``), running or not."""
        ...


class EngineBackend:
    """The one-engine backend: each call is the Engine's, in its query threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def address(self) -> str:
        return self.engine.address

    async def image(self, ref: str) -> ImageInfo | None:
        return await self.engine.image(ref)

    async def start(self, spec: ContainerSpec) -> str:
        return await self.engine.run_long(self.engine.run_container_sync, spec)

    async def state(self, handle: str) -> KernelState:
        data = await self.engine.run(self.engine.inspect_container_sync, handle)
        return KernelState.from_inspect(data)

    async def signal(self, handle: str, signal: int | str) -> None:
        await self.engine.run(self.engine.kill_container_sync, handle, signal)

    async def pause(self, handle: str) -> None:
        await self.engine.run(self.engine.pause_container_sync, handle)

    async def resume(self, handle: str) -> None:
        await self.engine.run(self.engine.unpause_container_sync, handle)

    async def logs(self, handle: str, tail: int = 100) -> str:
        return await self.engine.run(self.engine.container_logs_sync, handle, tail)

    async def remove(self, handle: str) -> None:
        await self.engine.run(self.engine.remove_container_sync, handle)

    async def kernels(self, label: str) -> list[KernelSummary]:
        found = await self.engine.run(self.engine.containers_sync, label=label)
        return [
            KernelSummary(
                handle=str(c["Id"]),
                name=str((c.get("Names") or [""])[0]).lstrip("/"),
                labels=dict(c.get("Labels") or {}),
                running=c.get("State") == "running",
            )
            for c in found
        ]
