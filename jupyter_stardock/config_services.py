"""The settings of StarDock's optional services, mixed into StarDockSettings (config.py).

Each is a ``c.StarDockApp.<name>`` like every other setting (traitlets applies the
StarDockApp section to every trait of the class, inherited ones included); they are
grouped here by the service that reads them so config.py keeps the core ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from traitlets import Bool, Dict, Float, Int, List, Unicode, default
from traitlets.config import LoggingConfigurable

__all__ = ["DataServiceSettings", "PauseSettings", "RegistrySettings", "WarmPoolSettings"]


class DataServiceSettings(LoggingConfigurable):
    """The data service (issue 19): archives to stage from, the staging area and its limits."""

    if TYPE_CHECKING:
        state_dir: str  # StarDockSettings'

    archives = Dict(
        config=True,
        help=(
            "Archives users may stage files from, by name: a folder tree on a slow tier "
            "({'tape': {'root': '/tape/odi', 'access': 'all', 'bandwidth': 50e6}}) or an HTTP(S) "
            "file service with a URL template ({'ppa': {'url': 'https://ppa.example.org/files/{id}', "
            "'access': {'groups': ['odi'], 'files': 'proprietary/*'}}}). 'access' is 'all', a "
            "mapping (or list of mappings; the first whose 'files' glob matches decides) of "
            "'users' and 'groups', or a callable (user, groups, archive, file_id) -> True or a "
            "sentence saying why not. 'bandwidth' caps reads in bytes per second; 'link': true "
            "says a folder archive's files never change, so they may be hard-linked."
        ),
    )
    staging_dir = Unicode(
        config=True,
        help=(
            "The fast-tier folder files are staged into (a content store and the datasets "
            "made of it), e.g. '/scratch/stardock'. Several servers may share it; each "
            "expires only the datasets it staged. Default: 'staging' in state_dir."
        ),
    )

    @default("staging_dir")
    def _default_staging_dir(self) -> str:
        return str(Path(self.state_dir) / "staging")

    staging_quota_bytes = Int(
        None,
        allow_none=True,
        config=True,
        help="Bytes of staged datasets (and stagings under way) one user may have, e.g. 500e9. None: no limit.",
    )
    staging_lifetime_seconds = Float(
        7 * 86400.0,
        config=True,
        help=(
            "Seconds a staged dataset stays after its last use (a kernel mounting it counts "
            "as use); then the sweep removes it. A dataset a kernel mounts is never removed."
        ),
    )
    staging_pinned = List(
        Unicode(),
        config=True,
        help="Staged datasets (by id) that never expire, e.g. ['odi-survey-2024'].",
    )
    staging_sweep_seconds = Float(
        600.0,
        config=True,
        help="How often expired staged datasets and unlinked store files are looked for, in seconds.",
    )
    staging_workers = Int(
        2,
        config=True,
        help="Staging requests that run at once (each in its own thread, reading one file at a time).",
    )


class RegistrySettings(LoggingConfigurable):
    """The site's private image registry (issue 16, docs/registry.md)."""

    registry = Unicode(
        "",
        config=True,
        help=(
            "The site's private image registry as host[:port]/prefix, e.g. "
            "registry.example.org:5000/stardock. Each environment is pushed there after its "
            "build (as PREFIX/env:<environment id>), an identical recipe is pulled from there "
            "instead of built, `jupyter stardock base` pushes the base image (PREFIX/base) and "
            "removing an environment deletes its manifest. Empty (the default): no registry. "
            "A registry outside 127.0.0.0/8 needs TLS: its CA in "
            "/etc/docker/certs.d/HOST:PORT/ca.crt, as the Docker Engine wants it."
        ),
    )
    registry_credentials = Unicode(
        "",
        config=True,
        help=(
            "A file with the registry's user name and password, in the format of docker's "
            'config.json: {"auths": {"HOST:PORT": {"auth": "<base64 of user:password>"}}}. It '
            "must be readable by its owner only (chmod 600). The credentials are handed to "
            "the engine for each push and pull only, never to a build or a kernel. Empty: "
            "the registry needs none."
        ),
    )


class WarmPoolSettings(LoggingConfigurable):
    """The warm pool of pre-started kernels (issue 14, kernels/pool.py, docs/pool.md)."""

    pool_size = Int(
        1,
        config=True,
        help=(
            "Pre-started kernels kept ready for each environment, dataset and user that started "
            "a kernel recently, so the next start skips the engine's container start. 0 turns "
            "the warm pool off."
        ),
    )
    pool_recent_hours = Float(
        24.0,
        config=True,
        help="Keep warm kernels only for kernelspecs a kernel was started from in the last this many hours.",
    )
    pool_max_total = Int(
        4,
        config=True,
        help="Most pre-started kernels the server keeps ready at once, all kinds together.",
    )
    pool_ttl = Float(
        3600.0,
        config=True,
        help="Seconds an unused pre-started kernel is kept before it is replaced with a fresh one.",
    )
    pool_memory = Unicode(
        "512m",
        config=True,
        help=(
            "Memory the warm pool may take, e.g. '512m' (an idle kernel takes about 56 MiB with "
            "its engine shim); it caps the pre-started kernels together with pool_max_total."
        ),
    )
    pool_hub_users = Bool(
        False,
        config=True,
        help=(
            "In the hub service: keep warm kernels for Hub users too, each user's own "
            "(pool_size per kernelspec they started recently, within pool_max_total and "
            "pool_memory), counted against their quota_kernels. Off by default: a slot holds "
            "a container as the user, beside their dataset, before they ask for it."
        ),
    )


class PauseSettings(LoggingConfigurable):
    """Pausing kernels (issue 17, docs/pause-suspend.md)."""

    pause_idle_after = Float(
        0.0,
        config=True,
        help=(
            "Seconds a StarDock kernel may stay idle, with no client connected, before it is "
            "paused: its memory is kept and it uses no CPU until someone resumes it (panel, "
            "`%stardock resume`, POST /stardock/api/kernels/ID/resume). Paused kernels are "
            "never culled, so a value below ServerApp's MappingKernelManager.cull_idle_timeout "
            "pauses idle kernels instead of shutting them down. 0 (the default) never pauses, "
            "e.g. 1800 pauses kernels left idle for half an hour."
        ),
    )
