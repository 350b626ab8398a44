"""The operator's settings, and reading them outside the server process.

Every setting is a traitlet an operator sets in ``jupyter_server_config.py`` as
``c.StarDockApp.<name>``. They are declared here, in StarDockSettings, which the
server extension (server/app.py) inherits: a StarDock kernel started by any
jupyter_client tool (``jupyter nbconvert --execute``, ``jupyter console``) and the
``jupyter stardock`` command must honour what the operator wrote for the server,
so they read the same ``jupyter_server_config`` files into the same settings,
without loading the server.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any, Literal

from jupyter_core.paths import jupyter_config_path, jupyter_data_dir
from traitlets import Bool, Dict, Enum, Float, Int, List, Unicode, default, validate
from traitlets.config import Config, LoggingConfigurable
from traitlets.config.loader import ConfigFileNotFound, JSONFileConfigLoader, PyFileConfigLoader

__all__ = ["Mode", "StarDockSettings", "load_server_config", "settings_from_config"]

#: Where a StarDock server runs: 'local' (it holds the engine), 'service' (the hub
#: service, the one holder of the engine in a hub) or 'remote' (a hub user's server).
Mode = Literal["local", "service", "remote"]

CONFIG_NAME = "jupyter_server_config"


def load_server_config(extra: Config | None = None) -> Config:
    """The merged server configuration, lowest priority first, with ``extra`` on top."""
    merged = Config()
    # jupyter_config_path() lists the user's folder first; it must win, so go backwards.
    for folder in reversed(jupyter_config_path()):
        base = Path(folder)
        drop_in = base / f"{CONFIG_NAME}.d"
        if drop_in.is_dir():
            for path in sorted(drop_in.glob("*.json")):
                merged.merge(_load(JSONFileConfigLoader, path))
        for loader, suffix in ((JSONFileConfigLoader, ".json"), (PyFileConfigLoader, ".py")):
            path = base / f"{CONFIG_NAME}{suffix}"
            if path.is_file():
                merged.merge(_load(loader, path))
    if extra is not None:
        merged.merge(extra)
    return merged


def _load(loader_class: type, path: Path) -> Config:
    try:
        config: Config = loader_class(path.name, path=str(path.parent)).load_config()
        return config
    except ConfigFileNotFound:
        return Config()


class StarDockSettings(LoggingConfigurable):
    """Every operator setting of StarDock, read from the ``StarDockApp`` config section."""

    # -- the engine -------------------------------------------------------

    docker_host = Unicode(
        None,
        allow_none=True,
        config=True,
        help=(
            "Address of the Docker Engine, for example 'unix:///var/run/docker.sock' or "
            "'tcp://engine.example.org:2376'. When unset, docker-py's conventions apply: "
            "DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, else the local socket. "
            "A Podman socket with the Docker-compatible API works too."
        ),
    )

    engine_timeout = Float(
        2.0,
        config=True,
        help=(
            "Seconds to wait for the engine to answer a quick request (status, inspect) "
            "before telling the user it is unreachable. Builds are not limited by this."
        ),
    )

    engine_workers = Int(
        8,
        config=True,
        help=(
            "Threads that run long engine calls (builds, imports). Each running build "
            "holds one for its whole duration, so this caps concurrent engine builds."
        ),
    )

    # -- the base image ---------------------------------------------------

    base_repository = Unicode(
        "stardock/base",
        config=True,
        help=(
            "Repository of the base image every environment is built FROM. "
            "`jupyter stardock base` tags it '<repository>:<content hash>' and "
            "'<repository>:latest'; the server uses the latter."
        ),
    )

    base_upstream = Unicode(
        "debian:bookworm-slim",
        config=True,
        help=(
            "Upstream image the base image starts from when a registry is reachable, "
            "for example 'debian:bookworm-slim' or a mirror such as "
            "'registry.example.org/debian:bookworm-slim'. Must be Debian bookworm or "
            "compatible, since the app catalog installs Debian packages."
        ),
    )

    bootstrap_suite = Unicode(
        "bookworm",
        config=True,
        help="Debian suite that `jupyter stardock base --bootstrap` installs with debootstrap.",
    )

    bootstrap_mirror = Unicode(
        None,
        allow_none=True,
        config=True,
        help=(
            "Debian mirror for `jupyter stardock base --bootstrap`, for example "
            "'http://mirror.example.org/debian'. When unset, the mirror in this host's "
            "apt sources is used."
        ),
    )

    extra_ca_certs = List(
        Unicode(),
        config=True,
        help=(
            "PEM files of extra certificate authorities to trust inside every image, "
            "for sites whose network intercepts TLS (a proxy) or runs its own CA; without "
            "them `pip install` inside a build fails with CERTIFICATE_VERIFY_FAILED. "
            "Glob patterns are expanded, e.g. ['/usr/local/share/ca-certificates/*.crt']."
        ),
    )

    @validate("extra_ca_certs")
    def _expand_ca_globs(self, proposal: dict[str, Any]) -> list[str]:
        expanded: list[str] = []
        for item in proposal["value"]:
            if not glob.has_magic(item):
                expanded.append(item)  # a named file must exist: a missing one is an error later
                continue
            matches = sorted(glob.glob(str(Path(item).expanduser())))
            if not matches:
                # A pattern is "whatever CAs this machine has", which may be none.
                self.log.info("StarDock: no extra CA certificates match %s", item)
            expanded.extend(matches)
        return expanded

    # -- datasets ---------------------------------------------------------

    datasets = Dict(
        config=True,
        help=(
            "The datasets users may mount read-only into their kernels, by id. Only 'path' "
            "is required: {'m51': {'path': '/srv/data/m51', 'title': 'Messier 51', "
            "'description': 'HST ACS mosaic', 'allowed_users': ['ana'], "
            "'allowed_groups': ['astro']}}. Without allowed_users and allowed_groups "
            "everyone may use it. A path that does not exist is reported, not fatal."
        ),
    )

    dataset_scan_seconds = Float(
        300.0,
        config=True,
        help="Seconds a dataset's file count and size stay cached before the folder is scanned again.",
    )

    # -- the app catalog --------------------------------------------------

    catalog_dirs = List(
        Unicode(),
        config=True,
        help=(
            "Extra folders of app catalog entries (one TOML file per app), read after the "
            "catalog shipped in images/apps; an entry with the same id replaces the shipped "
            "one. A broken entry is logged with its file and reason and left out; it never "
            "stops the server. Example: ['/etc/jupyter/stardock/apps']."
        ),
    )

    # -- builds -----------------------------------------------------------

    environment_repository = Unicode(
        "stardock/env",
        config=True,
        help="Repository that built environments are tagged in, as '<repository>:<content hash>'.",
    )

    shared_environments = List(
        Unicode(),
        config=True,
        help=(
            "Environments every user of this server sees in their lists (the panel, the "
            "REST API, `jupyter stardock envs`) besides the ones they built themselves, by "
            "environment id, e.g. ['1806e153c361bb43']; ['*'] shares every environment on "
            "the engine. Others' environments stay out of a user's lists otherwise, even "
            "when several servers or unix users share one engine."
        ),
    )

    kernelspec_cache_seconds = Float(
        30.0,
        config=True,
        help=(
            "Seconds this server keeps the engine's list of environments when it decides "
            "which StarDock kernelspecs to offer (the Launcher shows only kernels whose "
            "environment exists and whose dataset is this server's); a build here updates "
            "it at once."
        ),
    )

    max_concurrent_builds = Int(
        2,
        config=True,
        help=(
            "How many engine builds run at once on this server; further builds wait in the "
            "queue. Builds are heavy on CPU and disk: about one per two cores is sensible."
        ),
    )

    max_builds_per_user = Int(
        1,
        config=True,
        help="How many builds one user may have running at once; the rest of theirs wait in the queue.",
    )

    build_timeout = Float(
        3600.0,
        config=True,
        help=(
            "Seconds a build may run before it is stopped and marked failed; the engine's "
            "build container is removed and nothing is tagged."
        ),
    )

    build_log_memory_bytes = Int(
        4 << 20,
        config=True,
        help=(
            "Bytes of each build's log kept in memory for live viewers; older lines are "
            "dropped and replaced by a marker, so a chatty build cannot exhaust memory."
        ),
    )

    build_log_file_bytes = Int(
        64 << 20,
        config=True,
        help="Size cap of each build's full log file; past it the file ends with a marker line.",
    )

    max_request_bytes = Int(
        256 << 10,
        config=True,
        help="Largest request body the StarDock API accepts; larger ones get 413.",
    )

    state_dir = Unicode(
        config=True,
        help=(
            "Folder for StarDock's records (build history, logs, kernel archives). "
            "Default: 'stardock' in Jupyter's data directory."
        ),
    )

    @default("state_dir")
    def _default_state_dir(self) -> str:
        return str(Path(jupyter_data_dir()) / "stardock")

    orphan_policy = Enum(
        ["archive", "adopt"],
        "archive",
        config=True,
        help=(
            "What the server does at start with kernel containers it finds running without "
            "a kernel (the server was killed): 'archive' archives their outputs and removes "
            "them; 'adopt' takes them over as running kernels of this server, with their "
            "variables intact (falling back to 'archive' when that fails)."
        ),
    )

    lease_seconds = Float(
        60.0,
        config=True,
        help=(
            "Seconds a server's lease on its kernels lasts; the server renews it every third "
            "of that and looks for orphans every lease_seconds. A kernel container is an "
            "orphan (archived or adopted, see orphan_policy) only for a server of the same "
            "unix user, state folder and root folder, and only once its own server's lease "
            "has lapsed: at once when that server's process on this host is gone, after "
            "lease_seconds without renewal when it ran on another host."
        ),
    )

    # -- hub deployments --------------------------------------------------

    service_url = Unicode(
        None,
        allow_none=True,
        config=True,
        help=(
            "URL of the StarDock hub service, e.g. 'http://127.0.0.1:10101/services/stardock/'. "
            "When set, this server runs in remote mode: it holds no engine socket and sends "
            "every StarDock request (and kernel start) to the service with its JupyterHub "
            "API token. Default: the STARDOCK_SERVICE_URL environment variable."
        ),
    )

    @default("service_url")
    def _default_service_url(self) -> str | None:
        return os.environ.get("STARDOCK_SERVICE_URL") or None

    quota_builds = Int(
        None,
        allow_none=True,
        config=True,
        help="In the hub service: builds one user may have queued or running at once (more get 429). None: no limit.",
    )
    quota_kernels = Int(
        None,
        allow_none=True,
        config=True,
        help="In the hub service: kernels one user may have running at once (more get 429). None: no limit.",
    )
    quota_image_bytes = Int(
        None,
        allow_none=True,
        config=True,
        help=(
            "In the hub service: total size in bytes of the environments one user has, past "
            "which new builds get 429 (shared images count for everyone using them). None: no limit."
        ),
    )
    user_outputs_dir = Unicode(
        "{home}/stardock-outputs",
        config=True,
        help=(
            "In the hub service: where each user sees their kernels' outputs folders (one link "
            "per kernel into outputs_store), with {username} and {home} filled in, e.g. "
            "'/srv/outputs/{username}'. Kernels run as the user's own uid when the user exists "
            "on this host, so the files are theirs."
        ),
    )
    outputs_store = Unicode(
        config=True,
        help=(
            "In the hub service: the folder that holds users' outputs folders "
            "(<outputs_store>/<username>/<folder>), e.g. '/srv/stardock/outputs'. Only the "
            "service may change it and the folders above it: the engine mounts an outputs "
            "folder by its path, so a user must not be able to rename or replace it. "
            "Default: 'outputs' in state_dir."
        ),
    )

    @property
    def archive_dir(self) -> Path:
        """Where kernels' output archives go: in state_dir, the server's own."""
        return Path(self.state_dir) / "archives"

    @default("outputs_store")
    def _default_outputs_store(self) -> str:
        return str(Path(self.state_dir) / "outputs")

    kernel_sync_seconds = Float(
        15.0,
        config=True,
        help="In remote mode: how often this server refreshes the user's StarDock kernelspecs from the service.",
    )

    # -- issue 19: the data service (archives, staging area, limits) ------

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

    # issue 18: the per-user GPU quota of the hub service.
    quota_gpu_kernels = Int(
        None,
        allow_none=True,
        config=True,
        help=(
            "In the hub service: kernels with GPUs (of environments that opted in, while "
            "c.StarDockProvisioner.gpus is set) one user may have running at once (more get "
            "429). None: no limit beyond quota_kernels."
        ),
    )

    # issue 17: pause idle kernels instead of letting them be culled
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

    # issue 16: the site's private image registry (docs/registry.md)
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

    # issue 14: the warm pool of pre-started kernels (kernels/pool.py)
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
    # issue 14 (hub mode): warm kernels for Hub users, in the hub service
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


def settings_from_config(config: Config) -> StarDockSettings:
    """The settings an operator wrote as ``c.StarDockApp.*`` in ``config``, without the server.

    traitlets applies a config section to the classes of that name; outside the server
    there is no StarDockApp, so the section is handed to StarDockSettings as its own.
    """
    section = Config()
    section.StarDockSettings = Config(config.get("StarDockSettings", {}))
    section.StarDockSettings.merge(config.get("StarDockApp", Config()))
    return StarDockSettings(config=section)
