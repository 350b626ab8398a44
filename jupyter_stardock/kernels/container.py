"""A Jupyter kernel in a hardened container beside a dataset: the lifecycle, without jupyter_client.

The provisioner (provisioner.py) maps jupyter_client's calls onto
:class:`ContainerKernel`; reconcile uses :func:`archive_orphans`. Everything
here that talks to the engine goes through engine/, off the event loop.

Transport: by default the container has no network at all, and the kernel's
ZeroMQ sockets are ``ipc`` files in a per-kernel folder bind-mounted into the
container, which the server connects to from the host side (runtime.py says
which folders the kernel shares). With network allowed (or an engine on
another host), the kernel listens on fixed ports in the container that the
engine publishes on a host address with ports it picks, so concurrent starts
never race for a port.

What the container is made of is launch.py; its folders are runtime.py; its
archive is archive.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

import zmq
from jupyter_client.connect import KernelConnectionInfo

from ..core.exits import record_exit
from ..core.outputs_mounts import protect_outputs, release_outputs
from ..engine import ContainerSpec, Engine
from ..errors import EngineError, KernelStartError, StarDockError
from .archive import LOG_TAIL, archive_launch
from .launch import (
    CONTAINER_PORTS,
    IPC_MOUNT,
    IPC_PORTS,
    IPC_SOCKET,
    KernelLaunch,
    KernelSettings,
    container_spec,
)
from .notebooks import SessionNotebooks  # issue 17
from .runtime import connection_info, drop_runtime, prepare_runtime, quota_images

__all__ = ["ContainerKernel"]

log = logging.getLogger(__name__)


class ContainerKernel:
    """One kernel's container across its restarts: start or adopt, poll, signal, stop, archive."""

    def __init__(self, engine: Engine, settings: KernelSettings, launch: KernelLaunch) -> None:
        self.engine = engine
        self.settings = settings
        self.launch = launch
        self.container_id: str | None = None
        self.last_logs = ""
        #: This start's ipc socket folder (the kernel can write it).
        self.ipc_dir: Path | None = None

    # -- starting ---------------------------------------------------------

    @property
    def transport(self) -> str:
        return self.settings.transport

    @property
    def curve(self) -> tuple[str, str] | None:
        """The kernel's CurveZMQ keypair when its TCP traffic is encrypted, made once per kernel."""
        if self.transport != "tcp" or not self.settings.encrypt_tcp:
            return None
        if self.launch.curve is None:
            public, secret = zmq.curve_keypair()
            self.launch.curve = (public.decode("ascii"), secret.decode("ascii"))
        return self.launch.curve

    def _container_connection(self) -> dict[str, Any]:
        """The kernel's side: what it binds inside the container, the key as text."""
        ipc = self.transport == "ipc"
        return connection_info(
            transport=self.transport,
            ip=f"{IPC_MOUNT}/{IPC_SOCKET}" if ipc else "0.0.0.0",
            ports=IPC_PORTS if ipc else CONTAINER_PORTS,
            key=self.launch.key,
            kernel_name=self.launch.spec_name,
            curve=self.curve,
        )

    def _prepare_runtime(self) -> None:
        """The connection file (server-only folder) and a fresh ipc folder for this start."""
        self.ipc_dir = prepare_runtime(
            self.launch,
            self._container_connection(),
            self.ipc_dir,
            ipc=self.transport == "ipc",
        )

    def container_spec(self, env: Mapping[str, str]) -> ContainerSpec:
        return container_spec(self.settings, self.launch, env, self.ipc_dir)

    @property
    def _quota_images(self) -> Path:
        return quota_images(self.launch.state_dir)

    async def start(self, env: Mapping[str, str]) -> KernelConnectionInfo:
        """Start the container; returns the host side's connection info (key as bytes)."""
        await self.engine.run(self._prepare_runtime)
        try:
            await self.engine.run_long(
                protect_outputs,
                self.launch.outputs_dir,
                images=self._quota_images,
                quota_bytes=self.settings.outputs_quota,
                uid=self.launch.uid,
                gid=self.launch.gid,
            )
        except StarDockError as err:
            raise KernelStartError(
                f"The kernel's outputs folder could not be set up: {err}"
            ) from err
        spec = self.container_spec(env)
        try:
            try:
                # On the long pool: the server's status calls share the quick one and must
                # not queue behind kernel starts (the engine gives them their own timeout).
                self.container_id = await self.engine.run_long(self.engine.run_container_sync, spec)
            except EngineError as err:
                # Told by the engine's status, never by its words: 409 is the name taken.
                if err.engine_status != HTTPStatus.CONFLICT:
                    raise
                # A container of an earlier run of this kernel id was left (a start that
                # died half-way): it goes, and the start is tried once more.
                await self.engine.run(self.engine.remove_container_sync, spec.name or "")
                self.container_id = await self.engine.run_long(self.engine.run_container_sync, spec)
        except StarDockError as err:
            if not self._ever_started:
                # jupyter_client calls no cleanup after a failed first start: without this, the
                # folder's nosuid mount and the connection file (its key) would stay behind.
                await self._undo_first_start()
            raise KernelStartError(f"The kernel's container could not start: {err}") from err
        self._ever_started = True
        return await self._host_connection()

    #: A container of this kernel ran once (a later failed restart keeps its outputs for finish()).
    _ever_started = False

    async def _undo_first_start(self) -> None:
        """A first start that failed: drop the runtime folders and the outputs folder's mount."""
        try:
            await self.engine.run(self.drop_runtime)
            await self.engine.run_long(
                release_outputs, self.launch.outputs_dir, images=self._quota_images
            )
        except (OSError, StarDockError) as err:  # the start's own error is the one to show
            log.warning("StarDock: cleaning up after a failed kernel start: %s", err)

    async def adopt(self, container_id: str, ipc_dir: Path | None) -> KernelConnectionInfo:
        """Take over a running container of this kernel id (after a server crash)."""
        self.container_id = container_id
        self.ipc_dir = ipc_dir
        self._ever_started = True
        return await self._host_connection()

    async def _host_connection(self) -> KernelConnectionInfo:
        """The server's side: where the host reaches the kernel's sockets."""
        if self.transport == "ipc":
            assert self.ipc_dir is not None
            address, ports = str(self.ipc_dir / IPC_SOCKET), dict(IPC_PORTS)
        else:
            address, ports = self.settings.host_address, await self._published_ports()
        # The key as bytes, although the TypedDict says str: a str key fails reconciliation.
        return cast(
            KernelConnectionInfo,
            connection_info(
                transport=self.transport,
                ip=address,
                ports=ports,
                key=self.launch.key.encode(),
                kernel_name=self.launch.spec_name,
                curve=self.curve,
            ),
        )

    async def _published_ports(self) -> dict[str, int]:
        for _ in range(50):
            data = await self.engine.run(
                self.engine.inspect_container_sync, self.container_id or ""
            )
            published = ((data or {}).get("NetworkSettings") or {}).get("Ports") or {}
            ports = {}
            for name, port in CONTAINER_PORTS.items():
                bindings = published.get(f"{port}/tcp") or []
                if bindings:
                    ports[name] = int(bindings[0]["HostPort"])
            if len(ports) == len(CONTAINER_PORTS):
                return ports
            await asyncio.sleep(0.05)
        raise KernelStartError("The engine did not publish the kernel's ports.")

    # -- running ----------------------------------------------------------

    #: Since the engine last failed to answer: a container found stopped afterwards went with it.
    _engine_lost = False
    #: The container whose end is already in exits.exit_records (noted once, not per poll).
    _exit_noted: str | None = None

    async def poll(self) -> int | None:
        """None while running. A transient engine error also answers None: never kill a healthy kernel.

        One inspect per call (jupyter_client's restarter calls it every few seconds);
        when the container has stopped, why is noted once for the user (exits.py).
        """
        container = self.container_id
        if container is None:
            return 0
        try:
            data = await self.engine.run(self.engine.inspect_container_sync, container)
        except StarDockError as err:
            if not self._engine_lost:  # once per outage, not at every poll
                log.warning(
                    "StarDock: could not ask the engine about kernel %s: %s",
                    self.launch.kernel_id,
                    err,
                )
            self._engine_lost = True
            return None
        if data is None:
            await self._note_exit(container, None)
            return 0  # gone
        state = data.get("State") or {}
        if state.get("Running") or state.get("Restarting"):
            if self._engine_lost:
                log.info(
                    "StarDock: the engine answers again about kernel %s", self.launch.kernel_id
                )
            self._engine_lost = False
            return None
        await self._note_exit(container, data)
        return int(state.get("ExitCode") or 0)

    async def _note_exit(self, container: str, data: Mapping[str, Any] | None) -> None:
        if self._exit_noted == container:
            return
        self._exit_noted = container
        state = (data or {}).get("State") or {}
        tail = ""
        if data is not None and state.get("ExitCode") and not state.get("OOMKilled"):
            try:
                # Only once per death: whether it hit the pids limit shows in its last words.
                tail = await self.engine.run(self.engine.container_logs_sync, container, 50)
            except StarDockError:
                tail = ""
        k = self.launch
        record = record_exit(
            k.known_as,
            k.owner,
            data,
            container=container,
            log_tail=tail,
            engine_lost=self._engine_lost,
        )
        if record.reason != "exit" or record.exit_code:
            log.warning("StarDock: kernel %s: %s", k.kernel_id, record.message)

    async def signal(self, signum: int) -> None:
        # PID 1 is the engine's init process, which forwards the signal to ipykernel.
        if self.container_id:
            await self.engine.run(self.engine.kill_container_sync, self.container_id, signum)

    async def stop(self, graceful: bool) -> None:
        if not self.container_id:
            return
        if graceful:
            await self.engine.run_long(
                self.engine.stop_container_sync, self.container_id, self.settings.stop_timeout
            )
        else:
            await self.engine.run(self.engine.kill_container_sync, self.container_id, "SIGKILL")

    async def remove(self) -> None:
        """Keep the last log lines, then remove the container."""
        if not self.container_id:
            return
        try:
            self.last_logs = await self.engine.run(
                self.engine.container_logs_sync, self.container_id, LOG_TAIL
            )
        except StarDockError:
            self.last_logs = ""
        await self.engine.run(self.engine.remove_container_sync, self.container_id)
        self.container_id = None

    def drop_runtime(self) -> None:
        """Remove the connection file's folder and the ipc folder (blocking)."""
        drop_runtime(self.launch.runtime_dir, self.ipc_dir)
        self.ipc_dir = None

    async def finish(self, sessions: SessionNotebooks | None = None) -> Path:
        """After the last stop: archive the outputs (and ``sessions``' notebooks), drop the runtime."""
        k = self.launch
        archive = await archive_launch(self.engine, k, self.last_logs, sessions)  # issue 17
        await self.engine.run(self.drop_runtime)
        await self.engine.run_long(release_outputs, k.outputs_dir, images=self._quota_images)
        log.info("StarDock: archived the outputs of kernel %s to %s", k.kernel_id, archive.path)
        return archive.path
