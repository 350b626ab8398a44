"""A Jupyter kernel in a hardened container beside a dataset: the lifecycle, without jupyter_client.

The provisioner (provisioner.py) maps jupyter_client's calls onto
:class:`ContainerKernel`; reconcile uses :func:`archive_orphans`. Everything
here that talks to the engine goes through engine.py, off the event loop.

Transport: by default the container has no network at all, and the kernel's
ZeroMQ sockets are ``ipc`` files in a per-kernel folder bind-mounted into the
container, which the server connects to from the host side.

Folders shared with the kernel: the kernel can change anything in a folder it
can write, so the server writes nothing there. The connection file (the key)
is written in a folder only the server can change and mounted read-only at
/run/stardock; the ipc sockets go in a folder with a random name, made anew
at each start, which the server only ever removes (see safefs). With network
allowed (or an engine on another host), the kernel listens on fixed ports in
the container that the engine publishes on a host address with ports it picks,
so concurrent starts never race for a port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
from jupyter_client.connect import KernelConnectionInfo
from jupyter_core.paths import jupyter_runtime_dir

from .._version import __version__
from ..core import safefs
from ..core.datasets import Dataset
from ..core.exits import record_exit
from ..core.leases import ServerIdentity, current_identity
from ..core.outputs import ArchiveStore, checksum_listing
from ..core.outputs_mounts import protect_outputs, release_outputs
from ..engine.client import BindMount, ContainerSpec, Engine
from ..errors import EngineError, KernelStartError, StarDockError
from ..labels import EnvironmentLabels, KernelLabels

__all__ = [
    "ContainerKernel",
    "KernelLaunch",
    "KernelSettings",
    "MountedDataset",
    "archive_orphans",
    "mounted_dataset",
]

log = logging.getLogger(__name__)

RUNTIME_MOUNT = "/run/stardock"
IPC_MOUNT = f"{RUNTIME_MOUNT}/ipc"
KERNEL_PYTHON = "/opt/stardock/venv/bin/python"
HOME = "/home/stardock"
#: Fixed in-container ports for the TCP transport; the engine picks the host side.
CONTAINER_PORTS = {
    "shell_port": 50001,
    "iopub_port": 50002,
    "stdin_port": 50003,
    "control_port": 50004,
    "hb_port": 50005,
}
IPC_PORTS = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5}


#: ipykernel rewrites its connection file when what it binds differs from the file
#: (TCP, CurveZMQ keys), and the server's copy is read-only: the kernel starts from
#: a private copy in its own /tmp (a tmpfs nobody else sees).
_LAUNCH = (
    "import runpy, shutil, sys; "
    f"shutil.copyfile('{RUNTIME_MOUNT}/connection.json', '/tmp/stardock-connection.json'); "
    "sys.argv = ['ipykernel_launcher', '-f', '/tmp/stardock-connection.json']; "
    "runpy.run_module('ipykernel_launcher', run_name='__main__', alter_sys=True)"
)


@dataclass(frozen=True)
class KernelSettings:
    """The hardening and resource settings of kernel containers (operator traitlets)."""

    mem_limit: str | None = "4g"
    cpus: float | None = 2.0
    pids_limit: int | None = 512
    read_only_root: bool = True
    drop_capabilities: bool = True
    no_new_privileges: bool = True
    allow_network: bool = False
    network: str = "bridge"
    host_address: str = "127.0.0.1"
    tmp_size: str = "1g"
    home_size: str = "256m"
    env_allowlist: tuple[str, ...] = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "JPY_SESSION_NAME")
    data_mount: str = "/data"
    outputs_mount: str = "/outputs"
    log_max_size: str = "1m"
    log_max_files: int = 2
    stop_timeout: int = 5
    #: CurveZMQ on the TCP transport (ipc never leaves the host).
    encrypt_tcp: bool = True
    #: Bytes a kernel may write to /outputs (None: no limit); needs a root server.
    outputs_quota: int | None = None


@dataclass
class KernelLaunch:
    """One kernel's identity and places; kept across restarts of that kernel."""

    kernel_id: str
    #: The display name ("StarDock · Astropy · Messier 51").
    kernel_name: str
    image: str
    environment: str
    #: The dataset at /data; for an adopted kernel, as its container has it mounted.
    dataset: Dataset | MountedDataset | None
    outputs_dir: Path
    #: Only the server can change it: holds the connection file; read-only at /run/stardock.
    runtime_dir: Path
    archive_dir: Path
    uid: int
    gid: int
    started: float = field(default_factory=time.time)
    key: str = field(default_factory=lambda: secrets.token_hex(32))
    recipe: Mapping[str, Any] = field(default_factory=dict)
    dockerfile: str = ""
    image_id: str = ""
    #: The kernelspec's name (stardock-<env>-<dataset>).
    spec_name: str = ""
    #: A per-kernel CurveZMQ keypair (z85 text), set for encrypted TCP kernels.
    curve: tuple[str, str] | None = None
    #: Whose kernel: the server's account, or the Hub user in the hub service.
    owner: str = ""
    #: Where a fresh folder for the ipc sockets is made at each start (ipc transport).
    ipc_parent: Path | None = None
    #: Where the user sees the outputs folder when it is not outputs_dir itself (hub).
    outputs_view: Path | None = None
    #: The id the owner's server knows this kernel by (the hub service's may differ).
    client_id: str = ""
    #: The server instance that starts it (labels its container; reconcile reads them).
    #: None: the one this process runs for the launch's state folder (leases.current_identity).
    server: ServerIdentity | None = None


class ContainerKernel:
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
        return "tcp" if self.settings.allow_network else "ipc"

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
        base: dict[str, Any] = {
            "key": self.launch.key,
            "signature_scheme": "hmac-sha256",
            "kernel_name": self.launch.spec_name,
        }
        if self.transport == "ipc":
            return {**base, "transport": "ipc", "ip": f"{IPC_MOUNT}/k", **IPC_PORTS}
        if self.curve is not None:
            # jupyter_client's model: one keypair per kernel, in the connection file of
            # both ends; the kernel's sockets are CURVE servers with it.
            base["curve_publickey"], base["curve_secretkey"] = self.curve
        return {**base, "transport": "tcp", "ip": "0.0.0.0", **CONTAINER_PORTS}

    @property
    def _root(self) -> bool:
        return os.geteuid() == 0

    def _prepare_runtime(self) -> None:
        """The connection file (server-only folder) and a fresh ipc folder for this start."""
        k = self.launch
        uid, gid = (k.uid, k.gid) if self._root else (-1, -1)
        parent = k.runtime_dir.parent
        safefs.ensure_owned_dir(parent, mode=0o700)
        fd = safefs.open_dir(k.runtime_dir, trusted=parent, create=True, mode=0o711)
        try:
            # 0711: inside the container this folder is /run/stardock and the kernel's
            # uid must pass through it; on the host its parent is the server's alone.
            os.fchmod(fd, 0o711)
            try:
                os.mkdir("ipc", 0o755, dir_fd=fd)  # the mount point of the socket folder
            except FileExistsError:
                pass
            safefs.write_private_file(
                fd,
                "connection.json",
                json.dumps(self._container_connection()).encode(),
                mode=0o400,
                uid=uid,
                gid=gid,
            )
        finally:
            os.close(fd)
        if self.transport == "ipc":
            self._fresh_ipc_dir(uid, gid)

    def _fresh_ipc_dir(self, uid: int, gid: int) -> None:
        """An empty socket folder, at the same path at every start of this kernel.

        The path stays (jupyter_server reconnects to a restarted kernel by
        address), the folder does not: what the kernel left or planted in the
        last one is moved aside and removed unread, and a new folder is made.
        Both happen in ipc_parent, which only the server can change.
        """
        k = self.launch
        if k.ipc_parent is None:
            raise KernelStartError("No folder is set up for the kernel's ipc sockets.")
        safefs.ensure_owned_dir(k.ipc_parent, mode=0o711)
        fd = os.open(k.ipc_parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            if self.ipc_dir is None:
                # The kernel creates its sockets here: the folder is its uid's, and only
                # its uid (the Hub user, whose server connects) may enter it.
                name = safefs.make_unique_dir(fd, "", mode=0o700, uid=uid, gid=gid)
                self.ipc_dir = k.ipc_parent / name
                return
            name = self.ipc_dir.name
            old = f".old-{secrets.token_hex(6)}"
            with contextlib.suppress(FileNotFoundError):
                os.rename(name, old, src_dir_fd=fd, dst_dir_fd=fd)
            safefs.remove_tree(k.ipc_parent / old)
            os.mkdir(name, 0o700, dir_fd=fd)
            new = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            try:
                if uid != -1:
                    os.fchown(new, uid, gid)
                os.fchmod(new, 0o700)
            finally:
                os.close(new)
        finally:
            os.close(fd)

    def _drop_ipc_dir(self) -> None:
        if self.ipc_dir is not None:
            safefs.remove_tree(self.ipc_dir)
            self.ipc_dir = None

    def container_spec(self, env: Mapping[str, str]) -> ContainerSpec:
        s, k = self.settings, self.launch
        mounts = [
            BindMount(str(k.outputs_dir), s.outputs_mount, read_only=False),
            BindMount(str(k.runtime_dir), RUNTIME_MOUNT, read_only=True),
        ]
        if self.ipc_dir is not None:
            mounts.append(BindMount(str(self.ipc_dir), IPC_MOUNT, read_only=False))
        if k.dataset is not None:
            mounts.insert(0, BindMount(str(k.dataset.path), s.data_mount, read_only=True))
        # Whose it is: only a server of this lineage, once this instance's lease has
        # lapsed, may archive or adopt it (leases.py).
        identity = k.server or current_identity(k.archive_dir.parent)
        labels = KernelLabels(
            kernel_id=k.kernel_id,
            name=k.kernel_name,
            spec=k.spec_name,
            owner=k.owner,
            environment=k.environment,
            # What was mounted, for the manifest: never looked up again by id later.
            dataset=k.dataset.id if k.dataset else "",
            dataset_title=k.dataset.title if k.dataset else "",
            data_mount=s.data_mount,
            outputs=str(k.outputs_dir),
            outputs_view=str(k.outputs_view or ""),
            archives=str(k.archive_dir),
            started=k.started,
            runtime=str(k.runtime_dir),
            ipc=str(self.ipc_dir or ""),
            client_id=k.client_id or k.kernel_id,
            server=identity.server_labels,
            version=__version__,
        ).to_labels()
        environment = {
            **{name: env[name] for name in s.env_allowlist if name in env},
            "HOME": HOME,
            "STARDOCK_DATA": s.data_mount if k.dataset else "",
            "STARDOCK_OUTPUTS": s.outputs_mount,
            "STARDOCK_DATASET": k.dataset.id if k.dataset else "",
            "MPLCONFIGDIR": "/tmp/matplotlib",
        }
        mode = "1777"
        return ContainerSpec(
            image=k.image,
            command=[KERNEL_PYTHON, "-c", _LAUNCH],
            name=f"stardock-kernel-{k.kernel_id}",
            user=f"{k.uid}:{k.gid}",
            environment=environment,
            labels=labels,
            mounts=tuple(mounts),
            tmpfs={
                "/tmp": f"rw,nosuid,nodev,size={s.tmp_size},mode={mode}",
                HOME: f"rw,nosuid,nodev,size={s.home_size},uid={k.uid},gid={k.gid},mode=0700",
            },
            working_dir=s.outputs_mount,
            network_mode=s.network if s.allow_network else "none",
            ports={port: s.host_address for port in CONTAINER_PORTS.values()}
            if s.allow_network
            else {},
            read_only=s.read_only_root,
            cap_drop=("ALL",) if s.drop_capabilities else (),
            security_opt=("no-new-privileges",) if s.no_new_privileges else (),
            mem_limit=s.mem_limit,
            nano_cpus=int(s.cpus * 1e9) if s.cpus else None,
            pids_limit=s.pids_limit,
            init=True,
            log_max_size=s.log_max_size,
            log_max_files=s.log_max_files,
        )

    @property
    def _quota_images(self) -> Path:
        return self.launch.archive_dir.parent / "quota-images"

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
                self.container_id = await self.engine.run(self.engine.run_container_sync, spec)
            except EngineError as err:
                if "Conflict" not in str(err):
                    raise
                # A container of an earlier run of this kernel id was left (a start that
                # died half-way): it goes, and the start is tried once more.
                await self.engine.run(self.engine.remove_container_sync, spec.name or "")
                self.container_id = await self.engine.run(self.engine.run_container_sync, spec)
        except StarDockError as err:
            raise KernelStartError(f"The kernel's container could not start: {err}") from err
        return await self._host_connection()

    async def adopt(self, container_id: str, ipc_dir: Path | None) -> KernelConnectionInfo:
        """Take over a running container of this kernel id (after a server crash)."""
        self.container_id = container_id
        self.ipc_dir = ipc_dir
        return await self._host_connection()

    async def _host_connection(self) -> KernelConnectionInfo:
        if self.transport == "ipc":
            assert self.ipc_dir is not None
            address, ports = str(self.ipc_dir / "k"), dict(IPC_PORTS)
        else:
            address, ports = self.settings.host_address, await self._published_ports()
        info: KernelConnectionInfo = {
            "transport": self.transport,
            "ip": address,
            # bytes, although the TypedDict says str: a str key fails reconciliation.
            "key": self.launch.key.encode(),  # type: ignore[typeddict-item]
            "signature_scheme": "hmac-sha256",
            "kernel_name": self.launch.spec_name,
            "shell_port": ports["shell_port"],
            "iopub_port": ports["iopub_port"],
            "stdin_port": ports["stdin_port"],
            "control_port": ports["control_port"],
            "hb_port": ports["hb_port"],
        }
        if self.curve is not None:
            info["curve_publickey"], info["curve_secretkey"] = self.curve
        return info

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
            k.client_id or k.kernel_id,
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
                self.engine.container_logs_sync, self.container_id, 200
            )
        except StarDockError:
            self.last_logs = ""
        await self.engine.run(self.engine.remove_container_sync, self.container_id)
        self.container_id = None

    def drop_runtime(self) -> None:
        """Remove the connection file's folder and the ipc folder (blocking)."""
        self._drop_ipc_dir()
        safefs.remove_tree(self.launch.runtime_dir)

    async def finish(self) -> Path:
        """After the last stop: archive the outputs and drop the runtime folder."""
        k = self.launch
        manifest = await self.engine.run_long(
            build_manifest,
            # The id its owner knows it by; the archive's file is named by our own.
            kernel_id=k.client_id or k.kernel_id,
            kernel_name=k.kernel_name,
            image=k.image,
            image_id=k.image_id,
            environment=k.environment,
            recipe=k.recipe,
            dockerfile=k.dockerfile,
            dataset=k.dataset,
            outputs=k.outputs_dir,
            started=k.started,
            last_logs=self.last_logs,
            owner=k.owner,
        )
        archive = await self.engine.run_long(
            ArchiveStore(k.archive_dir).create,
            k.kernel_id,
            k.outputs_dir,
            manifest,
            owners={k.uid} if self._root else None,
        )
        await self.engine.run(self.drop_runtime)
        await self.engine.run_long(release_outputs, k.outputs_dir, images=self._quota_images)
        log.info("StarDock: archived the outputs of kernel %s to %s", k.kernel_id, archive.path)
        return archive.path


@dataclass(frozen=True)
class MountedDataset:
    """The dataset a container had, as the container itself says: its mount and its labels."""

    id: str
    title: str
    path: Path


def mounted_dataset(inspect: Mapping[str, Any]) -> MountedDataset | None:
    """What a container (``docker inspect``) has at its data mount; None when nothing is."""
    kernel = KernelLabels.from_labels((inspect.get("Config") or {}).get("Labels"))
    destination = (kernel.data_mount if kernel else "") or KernelSettings.data_mount
    for mount in inspect.get("Mounts") or ():
        if mount.get("Destination") == destination and mount.get("Source"):
            dataset_id = kernel.dataset if kernel else ""
            return MountedDataset(
                id=dataset_id,
                title=(kernel.dataset_title if kernel else "") or dataset_id,
                path=Path(mount["Source"]),
            )
    return None


def build_manifest(
    *,
    kernel_id: str,
    kernel_name: str,
    image: str,
    image_id: str,
    environment: str,
    recipe: Mapping[str, Any],
    dockerfile: str,
    dataset: Dataset | MountedDataset | None,
    outputs: Path,
    started: float,
    last_logs: str,
    stopped: float | None = None,
    note: str | None = None,
    owner: str = "",
) -> dict[str, Any]:
    """What an archive says about the run that made it (blocking: checksums the dataset).

    ``dataset`` is what the container had mounted: the launch's own dataset, or
    :func:`mounted_dataset` of the container, never a lookup by id in the
    configuration of the server that happens to write the archive.
    """
    manifest: dict[str, Any] = {
        "format": "jupyter-stardock archive 1",
        "stardock_version": __version__,
        "kernel_id": kernel_id,
        "owner": owner,
        "kernel_name": kernel_name,
        "environment": environment,
        "image": image,
        "image_id": image_id,
        "recipe": dict(recipe),
        "dockerfile": dockerfile,
        "dataset": None,
        "outputs_folder": str(outputs),
        "started": started,
        "stopped": stopped or time.time(),
        "container_log_tail": last_logs[-20000:],
    }
    if note:
        manifest["note"] = note
    if dataset is not None:
        manifest["dataset"] = {
            "id": dataset.id,
            "title": dataset.title,
            "path": str(dataset.path),
            "checksums": checksum_listing(dataset.path),
        }
    return manifest


async def archive_orphans(
    engine: Engine,
    containers: Sequence[Mapping[str, Any]],
    *,
    note: str = "Archived by a later server of the same user and folders: the server had "
    "stopped without shutting this kernel down.",
) -> list[str]:
    """Archive, then remove, kernel containers whose server is gone (``containers_sync`` entries).

    Which ones are orphans is the caller's decision (StarDockApp.reconcile, from
    the server leases): this never looks at anything else. Each archive goes
    where its container's labels say, with the dataset it had mounted. Returns
    the kernel ids handled.
    """
    handled = []
    for summary in containers:
        kernel = KernelLabels.from_labels(summary.get("Labels"))
        if kernel is None or not kernel.archives:
            continue
        kernel_id, archive_dir = kernel.kernel_id, kernel.archives
        container_id = summary["Id"]
        await engine.run_long(engine.stop_container_sync, container_id, 5)
        logs = await engine.run(engine.container_logs_sync, container_id, 200)
        data = await engine.run(engine.inspect_container_sync, container_id) or {}
        image = await engine.image(summary.get("ImageID") or summary.get("Image", ""))
        outputs = Path(kernel.outputs)
        built = EnvironmentLabels.from_labels(image.labels) if image is not None else None
        manifest = await engine.run_long(
            build_manifest,
            kernel_id=kernel.client_id,
            kernel_name=kernel.name,
            image=summary.get("Image", ""),
            image_id=image.id if image else "",
            environment=kernel.environment,
            recipe=dict(built.recipe) if built else {},
            dockerfile=built.dockerfile if built else "",
            dataset=mounted_dataset(data),
            outputs=outputs,
            started=kernel.started,
            last_logs=logs,
            note=note,
            owner=kernel.owner,
        )
        store = ArchiveStore(Path(archive_dir))
        if outputs.is_dir() and not store.exists(kernel_id):
            await engine.run_long(
                store.create, kernel_id, outputs, manifest, owners=_kernel_uids(data)
            )
        await engine.run(engine.remove_container_sync, container_id)
        await engine.run_long(_drop_orphan_folders, kernel, Path(archive_dir).parent)
        handled.append(kernel_id)
        log.warning("StarDock: archived and removed the orphaned kernel container of %s", kernel_id)
    return handled


def _drop_orphan_folders(kernel: KernelLabels, state: Path) -> None:
    """After an orphan's archive: its outputs mount, connection file and ipc folder go.

    The paths come from the container's labels; each is used only where this
    server makes such folders.
    """
    if kernel.outputs:
        release_outputs(Path(kernel.outputs), images=state / "quota-images")
    runtime = Path(kernel.runtime or "/nonexistent")
    if runtime.parent == state / "runtime":
        safefs.remove_tree(runtime)
    if kernel.ipc and Path(kernel.ipc).parent == ipc_parent():
        safefs.remove_tree(Path(kernel.ipc))


def ipc_parent() -> Path:
    """Where kernels' ipc socket folders go: short (socket paths are limited to ~107 bytes),
    the server's own, and passable for a Hub user whose server connects to their kernel."""
    if os.geteuid() == 0:
        return Path("/run/stardock-kernels")
    runtime = Path(jupyter_runtime_dir()) / "stardock-ipc"
    if len(str(runtime)) <= 70:
        return runtime
    return Path("/tmp") / f"stardock-kernels-{os.getuid()}"


def _kernel_uids(inspect: Mapping[str, Any]) -> set[int] | None:
    """As finish() does: a root server archives only files of the kernel's own uid."""
    if os.geteuid() != 0:
        return None
    user = str((inspect.get("Config") or {}).get("User") or "")
    uid = user.split(":", 1)[0]
    return {int(uid)} if uid.isdigit() else set()  # unknown: no file rather than a host's
