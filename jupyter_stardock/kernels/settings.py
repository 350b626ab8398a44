"""The operator's settings of kernel containers (``c.StarDockProvisioner.*``).

Declared on a mixin of StarDockProvisioner, so the provisioner module holds only
jupyter_client's side; traitlets reads them from the ``StarDockProvisioner``
config section, as before.
"""

from __future__ import annotations

import os

from traitlets import Bool, Float, Int, List, Unicode, Union
from traitlets.config import LoggingConfigurable

from ..core.gpus import GpuRequest, parse_gpus
from ..core.outputs_mounts import parse_size
from ..errors import KernelStartError, RecipeError
from .launch import KernelSettings

__all__ = ["ContainerSettings"]


class ContainerSettings(LoggingConfigurable):
    """Hardening and resources of every kernel container."""

    mem_limit = Unicode(
        "4g",
        allow_none=True,
        config=True,
        help="Memory limit of each kernel container (docker syntax, e.g. '4g'); None for no limit. Swap beyond it is not allowed.",
    )
    cpu_limit = Float(
        2.0,
        allow_none=True,
        config=True,
        help="CPUs each kernel container may use (e.g. 1.5); None for no limit.",
    )
    pids_limit = Int(
        512,
        allow_none=True,
        config=True,
        help="Most processes and threads a kernel container may run; stops fork bombs.",
    )
    read_only_root = Bool(
        True,
        config=True,
        help="Mount the container's root filesystem read-only; /tmp and the home folder are tmpfs, /outputs is writable.",
    )
    drop_capabilities = Bool(
        True, config=True, help="Drop all Linux capabilities from kernel containers."
    )
    no_new_privileges = Bool(
        True, config=True, help="Forbid privilege gain (setuid binaries) inside kernel containers."
    )
    allow_network = Bool(
        False,
        config=True,
        help=(
            "Give kernel containers a network (and talk to them over TCP on published ports). "
            "Off by default: the kernel reaches the server over ipc sockets and nothing else."
        ),
    )
    network = Unicode(
        "bridge", config=True, help="Docker network for kernel containers when allow_network is on."
    )
    host_address = Unicode(
        "127.0.0.1",
        config=True,
        help="Host address kernel ports are published on with allow_network (the engine host's address for a remote engine). Never 0.0.0.0.",
    )
    encrypt_tcp = Bool(
        True,
        config=True,
        help=(
            "Encrypt and authenticate kernel traffic with per-kernel CurveZMQ keys when kernels "
            "use TCP (allow_network, a remote engine, hub service mode). ipc never leaves the host."
        ),
    )
    tmp_size = Unicode(
        "1g", config=True, help="Size of the tmpfs mounted at /tmp in kernel containers."
    )
    home_size = Unicode(
        "256m", config=True, help="Size of the tmpfs home folder of kernel containers."
    )
    env_allowlist = List(
        Unicode(),
        ["LANG", "LC_ALL", "LC_CTYPE", "TZ", "JPY_SESSION_NAME"],
        config=True,
        help="Names of the server's environment variables passed into kernel containers; nothing else is (no tokens, no secrets).",
    )
    data_mount = Unicode(
        "/data", config=True, help="Where the dataset is mounted (read-only) in the container."
    )
    outputs_mount = Unicode(
        "/outputs", config=True, help="Where the kernel's read/write outputs folder is mounted."
    )
    outputs_subdir = Unicode(
        "stardock-outputs",
        config=True,
        help="Folder below the server's root directory that holds each kernel's outputs folder (shown in the file browser).",
    )
    root_kernel_uid = Int(
        1000,
        config=True,
        help="When the server itself runs as root, the unprivileged uid kernels run as (kernels never run as root).",
    )
    root_kernel_gid = Int(1000, config=True, help="The gid that goes with root_kernel_uid.")
    outputs_quota = Unicode(
        None,
        allow_none=True,
        config=True,
        help=(
            "Most bytes one kernel may write to its outputs folder, e.g. '2g'; a write past "
            "it fails in the kernel with 'No space left on device' and what was written "
            "stays. Needs the server (or the hub service) to run as root: the folder "
            "becomes a file system of that size while the kernel runs. None: no limit."
        ),
    )
    log_max_size = Unicode(
        "1m", config=True, help="Cap of each kernel container's engine log file."
    )
    stop_timeout = Int(
        5, config=True, help="Seconds a kernel container gets to stop before it is killed."
    )

    # issue 18: what a kernel can reach (the notebook's folder).
    notebook_folder = Bool(
        False,
        config=True,
        help=(
            "Mount the folder of the notebook a kernel is started for, read-only, at /work "
            "and make it the kernel's working folder (open('catalog.csv') beside the notebook "
            "works). Only folders inside the server's root (a hub user's own home) are "
            "mounted, never through a symlink; others are refused with a sentence."
        ),
    )
    notebook_folder_per_notebook = Bool(
        False,
        config=True,
        help=(
            "Let each user choose, per notebook, to mount its folder read-only at /work (the "
            "StarDock panel's 'Mount this notebook's folder at /work', kept in the notebook's "
            "metadata), with the same checks as notebook_folder. Local mode."
        ),
    )

    # issue 18: GPUs for kernels of environments that opted in ("gpus": true in the recipe).
    gpus = Union(
        [Unicode(), Int(), List(Unicode())],
        default_value=None,
        allow_none=True,
        config=True,
        help=(
            'GPUs each kernel of an environment that opted in ("gpus": true in its recipe) '
            "gets: 'all', a number (e.g. 1), or device ids or UUIDs ('0,1'). None (the "
            "default): no GPUs. The engine needs a GPU runtime (the NVIDIA Container Toolkit)."
        ),
    )

    def kernel_settings(self) -> KernelSettings:
        """These settings as the container kernel takes them; a setting that cannot work says so."""
        if self.host_address in ("0.0.0.0", "::", ""):
            raise KernelStartError(
                "c.StarDockProvisioner.host_address must not bind all interfaces; use 127.0.0.1 or one address."
            )
        return KernelSettings(
            mem_limit=self.mem_limit,
            cpus=self.cpu_limit,
            pids_limit=self.pids_limit,
            read_only_root=self.read_only_root,
            drop_capabilities=self.drop_capabilities,
            no_new_privileges=self.no_new_privileges,
            allow_network=self.allow_network,
            network=self.network,
            host_address=self.host_address,
            tmp_size=self.tmp_size,
            home_size=self.home_size,
            env_allowlist=tuple(self.env_allowlist),
            data_mount=self.data_mount,
            outputs_mount=self.outputs_mount,
            log_max_size=self.log_max_size,
            stop_timeout=self.stop_timeout,
            encrypt_tcp=self.encrypt_tcp,
            outputs_quota=self._outputs_quota_bytes(),
            gpus=self._gpu_request(),  # issue 18
        )

    # issue 18
    def _gpu_request(self) -> GpuRequest | None:
        try:
            return parse_gpus(self.gpus)
        except RecipeError as err:
            raise KernelStartError(str(err)) from err

    def _outputs_quota_bytes(self) -> int | None:
        if self.outputs_quota is None:
            return None
        if os.geteuid() != 0:
            raise KernelStartError(
                "c.StarDockProvisioner.outputs_quota needs the server to run as root (it "
                "mounts a file system of that size); unset it or run the hub service."
            )
        return parse_size(self.outputs_quota)
