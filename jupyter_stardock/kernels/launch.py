"""What a kernel container is: its settings, one kernel's launch, and the hardened spec made of them.

Plain data and one pure function (:func:`container_spec`): nothing here talks to
the engine or touches a folder, so the hardening can be read, and tested, in one
place. The in-container paths and ports are named here once; the connection file
(runtime.py) and the lifecycle (container.py) use these names.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._version import __version__
from ..core.datasets import Dataset
from ..core.gpus import GpuRequest, environment_wants_gpus
from ..core.languages import LANGUAGES, PYTHON
from ..core.leases import ServerIdentity, current_identity
from ..engine import BindMount, ContainerSpec
from ..labels import KernelLabels

__all__ = [
    "CONTAINER_PORTS",
    "IPC_PORTS",
    "KernelLaunch",
    "KernelSettings",
    "MountedDataset",
    "container_name",
    "container_spec",
    "container_uid",
    "container_user",
    "mounted_dataset",
]

#: The server-only folder with the connection file, read-only inside the container.
RUNTIME_MOUNT = "/run/stardock"
CONNECTION_FILE = "connection.json"
#: The mount point, inside RUNTIME_MOUNT, of the kernel's own ipc socket folder.
IPC_FOLDER = "ipc"
IPC_MOUNT = f"{RUNTIME_MOUNT}/{IPC_FOLDER}"
#: The sockets' base name in the ipc folder (zmq appends "-<port>").
IPC_SOCKET = "k"
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
#: issue 18: where the notebook's folder is mounted (kernels/workdir.py stages it).
WORK_MOUNT = "/work"
#: ipc "ports" only tell the socket files apart.
IPC_PORTS = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5}

#: ipykernel rewrites its connection file when what it binds differs from the file
#: (TCP, CurveZMQ keys), and the server's copy is read-only: the kernel starts from
#: a private copy in its own /tmp (a tmpfs nobody else sees).
_LAUNCH = (
    "import runpy, shutil, sys; "
    f"shutil.copyfile('{RUNTIME_MOUNT}/{CONNECTION_FILE}', '/tmp/stardock-connection.json'); "
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
    # issue 18: the operator's GPUs, for environments that opted in (None: no GPUs).
    gpus: GpuRequest | None = None

    @property
    def transport(self) -> str:
        """Without network the kernel has no TCP at all: its sockets are ipc files."""
        return "tcp" if self.allow_network else "ipc"


@dataclass(frozen=True)
class MountedDataset:
    """The dataset a container had, as the container itself says: its mount and its labels."""

    id: str
    title: str
    path: Path


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
    # issue 18: the notebook's folder (workdir.py's checked source), read-only at /work.
    work_source: Path | None = None
    # issue 18: the kernel's language (core/languages.py); Python's command is _LAUNCH.
    language: str = PYTHON
    # issue 14: set while the container is a warm pool's slot (labels it); "" once claimed.
    pool: str = ""

    @property
    def known_as(self) -> str:
        """The id its owner knows it by: in exit notes and archives (our own names the files)."""
        return self.client_id or self.kernel_id

    @property
    def state_dir(self) -> Path:
        """The server's state folder: the archives live in it, and so do leases and quota images."""
        return self.archive_dir.parent


def container_name(kernel_id: str) -> str:
    """One container per kernel id: a second start of the same id meets the first's name."""
    return f"stardock-kernel-{kernel_id}"


def container_user(uid: int, gid: int) -> str:
    return f"{uid}:{gid}"


def container_uid(user: str) -> int | None:
    """The uid of a container's ``User`` as :func:`container_user` wrote it; None if not numeric."""
    uid = user.split(":", 1)[0]
    return int(uid) if uid.isdigit() else None


def container_spec(
    settings: KernelSettings,
    launch: KernelLaunch,
    env: Mapping[str, str],
    ipc_dir: Path | None = None,
) -> ContainerSpec:
    """The container of one start: ``env`` is the server's (only allowlisted names pass)."""
    s, k = settings, launch
    mounts = [
        BindMount(str(k.outputs_dir), s.outputs_mount, read_only=False),
        BindMount(str(k.runtime_dir), RUNTIME_MOUNT, read_only=True),
    ]
    if ipc_dir is not None:
        mounts.append(BindMount(str(ipc_dir), IPC_MOUNT, read_only=False))
    if k.dataset is not None:
        mounts.insert(0, BindMount(str(k.dataset.path), s.data_mount, read_only=True))
    # issue 18: the notebook's folder, read-only, and the kernel's working folder.
    if k.work_source is not None:
        mounts.append(BindMount(str(k.work_source), WORK_MOUNT, read_only=True))
    # Whose it is: only a server of this lineage, once this instance's lease has
    # lapsed, may archive or adopt it (leases.py).
    identity = k.server or current_identity(k.state_dir)
    dataset_id = k.dataset.id if k.dataset else ""
    labels = KernelLabels(
        kernel_id=k.kernel_id,
        name=k.kernel_name,
        spec=k.spec_name,
        owner=k.owner,
        environment=k.environment,
        # What was mounted, for the manifest: never looked up again by id later.
        dataset=dataset_id,
        dataset_title=k.dataset.title if k.dataset else "",
        data_mount=s.data_mount,
        outputs=str(k.outputs_dir),
        outputs_view=str(k.outputs_view or ""),
        archives=str(k.archive_dir),
        started=k.started,
        runtime=str(k.runtime_dir),
        ipc=str(ipc_dir or ""),
        client_id=k.known_as,
        server=identity.server_labels,
        version=__version__,
        pool=k.pool,  # issue 14
    ).to_labels()
    environment = {
        **{name: env[name] for name in s.env_allowlist if name in env},
        "HOME": HOME,
        "STARDOCK_DATA": s.data_mount if k.dataset else "",
        "STARDOCK_OUTPUTS": s.outputs_mount,
        "STARDOCK_DATASET": dataset_id,
        "MPLCONFIGDIR": "/tmp/matplotlib",
    }
    return ContainerSpec(
        image=k.image,
        command=kernel_command(k.language),  # issue 18
        name=container_name(k.kernel_id),
        user=container_user(k.uid, k.gid),
        environment=environment,
        labels=labels,
        mounts=tuple(mounts),
        tmpfs={
            # /tmp is everyone's in the container (sticky); HOME only the kernel's uid.
            "/tmp": f"rw,nosuid,nodev,size={s.tmp_size},mode=1777",
            HOME: f"rw,nosuid,nodev,size={s.home_size},uid={k.uid},gid={k.gid},mode=0700",
        },
        working_dir=WORK_MOUNT if k.work_source is not None else s.outputs_mount,
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
        # issue 18: GPUs only for an environment that opted in, and only the operator's.
        **gpu_fields(s.gpus if environment_wants_gpus(k.recipe) else None),
    )


# issue 18
def kernel_command(language: str) -> list[str]:
    """The container's command for a kernel of ``language`` (Python's, or another's)."""
    if language == PYTHON:
        return [KERNEL_PYTHON, "-c", _LAUNCH]
    return LANGUAGES[language].command(
        f"{RUNTIME_MOUNT}/{CONNECTION_FILE}", IPC_MOUNT, IPC_SOCKET, IPC_PORTS.values()
    )


# issue 18
def gpu_fields(gpus: GpuRequest | None) -> dict[str, Any]:
    """The container spec's device request fields for ``gpus``."""
    if gpus is None:
        return {}
    return {
        "gpu_count": gpus.count if not gpus.device_ids else 0,
        "gpu_device_ids": gpus.device_ids,
    }


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
