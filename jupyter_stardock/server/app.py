"""StarDockApp: the jupyter_server extension and its lifecycle.

Its operator settings (``c.StarDockApp.<name>``) are declared in config.py's
StarDockSettings, which this class inherits, so that a kernel started outside a
server and the ``jupyter stardock`` command read the same ones without loading it.
"""

from __future__ import annotations

import asyncio
import atexit
import os
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp

from .. import labels
from .._version import __version__
from ..config import Mode, StarDockSettings
from ..core import safefs
from ..core.catalog import Catalog, default_catalog_dirs
from ..core.claims import EnvironmentClaims
from ..core.datasets import DatasetRegistry
from ..core.exits import exit_records
from ..core.kernelspecs import KernelspecStore, LaunchableKernelSpecs
from ..core.leases import (
    Lease,
    ServerIdentity,
    lapsed,
    lineage_lock,
    live_adoptions,
    register,
    unregister,
)
from ..core.leases import prune as prune_leases
from ..core.users import Viewer, local_groups, server_user
from ..engine.client import Engine
from ..errors import EngineUnavailable, StarDockError
from ..hub.service_client import ServiceClient, hub_user_home, service_client_from_env
from ..kernels.container import archive_orphans
from ..kernels.host import KernelHost, register_host
from ..labels import KernelLabels, ServerLabels
from ..services.builds import BuildManager
from ..services.environments import EnvironmentsService, Quotas
from ..services.hub_kernels import HubKernels, KernelManagers
from ..services.status import EngineHealth
from . import contents_guard
from .routes import routes

__all__ = ["StarDockApp"]


class StarDockApp(ExtensionApp, StarDockSettings):
    """Build a scientist's environment into a container and run kernels in it beside the data."""

    name = "jupyter_stardock"
    extension_url = "/lab"
    load_other_extensions = True
    app_version = __version__
    description = __doc__ or ""

    @property
    def mode(self) -> Mode:
        """'local' (this server holds the engine), 'service' (the hub service) or 'remote'."""
        from ..hub.app import StarDockServiceApp

        if isinstance(self.serverapp, StarDockServiceApp):
            return "service"
        if self.service_url:
            return "remote"
        return "local"

    def viewer(self, handler: Any) -> Viewer:
        """Who a request comes from: the token's Hub user in the service, else the server's account."""
        if self.mode == "service":
            user = handler.current_user
            return Viewer(
                name=user.username,
                groups=tuple(getattr(user, "groups", ()) or ()),
                admin=bool(getattr(user, "admin", False)),
                scoped=True,
            )
        return Viewer(name=server_user(), groups=tuple(local_groups()))

    # -- lifecycle --------------------------------------------------------

    engine: Engine | None = None
    dataset_registry: DatasetRegistry | None = None
    builds: BuildManager | None = None
    environments: EnvironmentsService
    hub_kernels: HubKernels
    remote: ServiceClient | None = None
    #: Hub service: the service's kernel id -> the Hub user it was started for.
    kernel_owners: dict[str, str]
    #: Hub service: (Hub user, the id their server uses) -> the service's kernel id.
    kernel_aliases: dict[tuple[str, str], str]
    claims: EnvironmentClaims
    catalog: Catalog
    kernelspecs: KernelspecStore
    reconciled: asyncio.Event
    #: This instance: its id and lineage label its kernels; its lease shows it lives.
    identity: ServerIdentity | None = None
    lease: Lease | None = None
    _unowned_logged: set[str]
    engine_health: EngineHealth

    def make_engine(self) -> Engine:
        return Engine(
            self.docker_host, timeout=self.engine_timeout, max_workers=self.engine_workers
        )

    @property
    def base_alias(self) -> str:
        return f"{self.base_repository}:latest"

    def _kernel_datasets(self) -> DatasetRegistry:
        assert self.dataset_registry is not None
        return self.dataset_registry

    def make_datasets(self) -> DatasetRegistry:
        registry = DatasetRegistry(self.datasets, cache_seconds=self.dataset_scan_seconds)
        for problem in registry.problems:
            self.log.warning("StarDock: %s", problem)
        for dataset in registry:
            if not dataset.path.is_dir():
                self.log.warning(
                    "StarDock: dataset %r: the folder %s does not exist.", dataset.id, dataset.path
                )
        return registry

    def load_catalog(self) -> Catalog:
        catalog = Catalog.load([*default_catalog_dirs(), *(Path(d) for d in self.catalog_dirs)])
        for problem in catalog.problems:
            self.log.warning("StarDock catalog: %s", problem)
        return catalog

    def make_builds(self, engine: Engine) -> BuildManager:
        return BuildManager(
            engine,
            catalog=lambda: self.catalog,
            base_ref=self.base_alias,
            state_dir=Path(self.state_dir) / "builds",
            max_concurrent=self.max_concurrent_builds,
            max_per_user=self.max_builds_per_user,
            timeout=self.build_timeout,
            log_memory_bytes=self.build_log_memory_bytes,
            log_file_bytes=self.build_log_file_bytes,
            repository=self.environment_repository,
        )

    def make_environments(self, builds: BuildManager) -> EnvironmentsService:
        """The one place build requests are taken and kernelspecs published."""
        assert self.engine is not None and self.dataset_registry is not None
        return EnvironmentsService(
            builds,
            engine=self.engine,
            catalog=self.catalog,
            datasets=self.dataset_registry,
            claims=self.claims,
            kernelspecs=self.kernelspecs,
            site=self,
            quotas=Quotas(self.quota_builds, self.quota_image_bytes, self.quota_kernels),
        )

    def _kernel_manager(self) -> KernelManagers:
        assert self.serverapp is not None
        managers: KernelManagers = self.serverapp.kernel_manager
        return managers

    # -- kernels ----------------------------------------------------------

    @property
    def archive_dir(self) -> Path:
        return Path(self.state_dir) / "archives"

    def make_kernelspecs(self) -> KernelspecStore:
        return KernelspecStore(Path(jupyter_data_dir()) / "kernels")

    async def running_kernels(self, viewer: Viewer | None = None) -> list[dict[str, Any]]:
        """StarDock kernel containers of this server instance (the viewer's own, when scoped).

        Another server's kernels are not listed, even on the same engine with the
        same state folder: they are not this server's to show or stop.
        """
        assert self.engine is not None
        containers = await self.engine.run(self.engine.containers_sync, label=labels.KERNEL)
        root = Path(self.serverapp.root_dir).expanduser().resolve() if self.serverapp else None
        kernels = []
        for c in containers:
            kernel = KernelLabels.from_labels(c.get("Labels"))
            if kernel is None or not self._is_mine(c):
                continue
            owner = kernel.owner or None
            if viewer is not None and not viewer.may_see(owner):
                continue
            # In the hub service, the user's server shows it relative to the user's home.
            base = hub_user_home(owner) if self.mode == "service" and owner else root
            outputs = Path(kernel.outputs_view or kernel.outputs)
            relative = None
            if base is not None and outputs.is_relative_to(base):
                relative = outputs.relative_to(base).as_posix()
            # The id the owner's server knows it by (the hub service's own may differ).
            kernel_id = kernel.client_id
            last_exit = exit_records.last(kernel_id, owner)
            kernels.append(
                {
                    "id": kernel_id,
                    "name": kernel.name,
                    "environment": kernel.environment,
                    "dataset": kernel.dataset or None,
                    "outputs": relative,
                    "started": kernel.started,
                    "state": c.get("State", ""),
                    "container": c["Id"][:12],
                    "owner": owner,
                    "last_exit": last_exit.to_json() if last_exit else None,
                }
            )
        return kernels

    def _is_mine(self, container: dict[str, Any]) -> bool:
        """Whether a kernel container belongs to this server instance (started or adopted here)."""
        kernel = KernelLabels.from_labels(container.get("Labels"))
        if kernel is None:
            return False
        if kernel.server is None:
            # Started by a StarDock without leases: shown where it was shown before.
            return kernel.archives == str(self.archive_dir)
        if self.identity is None or self.lease is None:
            return False
        return kernel.server.instance == self.identity.instance or (
            container.get("Id") in self.lease.adopted
        )

    def visible_environments(
        self, viewer: Viewer, environments: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The environments in a user's lists: those they built (claims) and the shared ones.

        The engine holds every environment that any server on it built; another
        user's private environment is theirs to see, not this user's.
        """
        return [e for e in environments if self.may_use_environment(viewer, e["id"])]

    def may_use_environment(self, viewer: Viewer, environment: str) -> bool:
        """Whether the environment is in the viewer's lists (so by id, too: else 404)."""
        if viewer.admin or "*" in self.shared_environments:
            return True
        return environment in self.shared_environments or self.claims.has(environment, viewer.name)

    async def environment_in_use(self, environment: str) -> bool:
        return any(k["environment"] == environment for k in await self.running_kernels())

    async def find_orphans(self) -> list[tuple[dict[str, Any], str]]:
        """Kernel containers of this lineage whose server's lease has lapsed, with why.

        Never one of a live server (whatever its user, state or root folder), never
        one this instance runs or adopted, and never one of a StarDock without
        leases (logged once, left alone).
        """
        assert self.engine is not None and self.identity is not None and self.lease is not None
        me, state_dir = self.identity, self.identity.state_dir
        containers = await self.engine.run(self.engine.containers_sync, label=labels.KERNEL)
        known = set(self.serverapp.kernel_manager.list_kernel_ids()) if self.serverapp else set()
        claimed = live_adoptions(state_dir, self.lease_seconds) | self.lease.adopted
        orphans = []
        for c in containers:
            kernel = KernelLabels.from_labels(c.get("Labels"))
            if kernel is None:
                continue
            if kernel.server is None:
                if kernel.archives == str(self.archive_dir) and c["Id"] not in self._unowned_logged:
                    self._unowned_logged.add(c["Id"])
                    self.log.warning(
                        "StarDock: kernel container %s was started by an older StarDock that "
                        "did not record its server; it is left alone. Stop it with "
                        "'docker stop %s' once no server uses it.",
                        c["Id"][:12],
                        c["Id"][:12],
                    )
                continue
            instance = kernel.server.instance
            if (
                kernel.server.lineage != me.lineage
                or instance == me.instance
                or kernel.kernel_id in known
                or c["Id"] in claimed
            ):
                continue
            why = lapsed(state_dir, instance, self.lease_seconds)
            if why is not None:
                orphans.append((c, why))
        return orphans

    async def reconcile(self, at_start: bool = True) -> None:
        """Archive or adopt (orphan_policy) the kernels whose server is gone; prune kernelspecs.

        Run at start and then every lease_seconds, so a kernel whose server's lease
        lapses later is handled too. Servers of one lineage take turns (a lock file).
        """
        assert (
            self.engine is not None
            and self.builds is not None
            and self.identity is not None
            and self.lease is not None
        )
        try:
            found = None
            for _ in range(50 if at_start else 1):
                with lineage_lock(self.identity, blocking=False) as locked:
                    if locked:
                        found = await self._reconcile_orphans()
                        break
                await asyncio.sleep(0.2)  # another server of this lineage is reconciling
            if at_start:
                self.log.info(
                    "StarDock: reconciled kernel containers at start: %s",
                    "busy, next time" if found is None else f"{found} orphan(s) of this server",
                )
                environments = {e["id"] for e in await self.builds.environments()}
                removed = await self.engine.run(self.kernelspecs.prune, environments)
                for name in removed:
                    self.log.info("StarDock: removed kernelspec %s (its environment is gone)", name)
        except (StarDockError, OSError) as err:
            self.log.warning("StarDock: could not reconcile kernel containers: %s", err)
        finally:
            self.reconciled.set()

    async def _reconcile_orphans(self) -> int:
        assert self.engine is not None and self.identity is not None and self.lease is not None
        orphans = await self.find_orphans()
        for c, why in orphans:
            self.log.warning(
                "StarDock: kernel %s is an orphan (%s); policy %r",
                (c.get("Labels") or {}).get(labels.KERNEL),
                why,
                self.orphan_policy,
            )
        adopted = await self.adopt_orphans([c for c, _ in orphans])
        rest = [c for c, _ in orphans if c["Id"] not in adopted]
        handled = await archive_orphans(self.engine, rest)
        if handled:
            self.log.warning(
                "StarDock: archived %d orphaned kernel(s): %s", len(handled), ", ".join(handled)
            )
        keep = {self.identity.instance} | {
            server.instance
            for c in await self.engine.run(self.engine.containers_sync, label=labels.KERNEL)
            if (server := ServerLabels.from_labels(c.get("Labels"))) is not None
        }
        prune_leases(self.identity.state_dir, self.lease_seconds, keep)
        return len(orphans)

    async def adopt_orphans(self, orphans: list[dict[str, Any]]) -> set[str]:
        """With orphan_policy 'adopt': take over running orphans; returns their container ids.

        The adopted container keeps its labels (a running container's cannot
        change), so this instance's lease claims it by container id.
        """
        assert self.engine is not None and self.serverapp is not None and self.lease is not None
        adopted: set[str] = set()
        if self.orphan_policy != "adopt":
            return adopted
        for c in orphans:
            kernel = KernelLabels.from_labels(c.get("Labels"))
            if c.get("State") != "running" or kernel is None or not kernel.spec:
                continue
            kernel_id, spec, owner = kernel.kernel_id, kernel.spec, kernel.owner or None
            extra: dict[str, Any] = {"stardock_adopt": True}
            if self.mode == "service" and owner:
                # The kernel stays its Hub user's: same uid, folders, visibility, and the
                # id their server knows it by.
                client_id = kernel.client_id
                extra.update(stardock_owner=owner, stardock_groups=[], stardock_client_id=client_id)
                self.register_service_kernel(kernel_id, owner, client_id)
            # Claimed before the kernel manager sees it: no other server may take it meanwhile.
            self.lease.adopt(c["Id"])
            try:
                # The provisioner sees the running container of this id and adopts it.
                await self.serverapp.kernel_manager.start_kernel(
                    kernel_id=kernel_id, kernel_name=spec, **extra
                )
            except Exception as err:
                self.forget_service_kernel(kernel_id)
                self.lease.adopted.discard(c["Id"])
                self.lease.renew()
                self.log.warning(
                    "StarDock: could not adopt kernel %s (%s); archiving it instead", kernel_id, err
                )
                continue
            adopted.add(c["Id"])
            self.log.warning(
                "StarDock: adopted the running kernel %s left by an earlier server", kernel_id
            )
        return adopted

    async def _keep_lease(self) -> None:
        """Renew the lease every third of lease_seconds; reconcile every lease_seconds."""
        assert self.lease is not None
        await self.reconcile(at_start=True)
        beats = 0
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                self.lease.renew()
            except OSError as err:
                self.log.warning("StarDock: could not renew the lease %s: %s", self.lease.path, err)
            beats += 1
            if beats % 3 == 0:
                try:
                    await self.reconcile(at_start=False)
                except Exception:  # the lease must go on being renewed whatever happens
                    self.log.exception("StarDock: looking for orphaned kernels failed")

    def init_lease(self) -> None:
        """This instance's identity (labelled on its kernels) and its lease, before any kernel starts."""
        root = self.serverapp.root_dir if self.serverapp is not None else os.getcwd()
        self.identity = ServerIdentity.new(self.state_dir, root)
        self.lease = Lease(self.identity)
        self.lease.renew()
        atexit.register(self.lease.release)  # after the kernels' shutdown, which follows ours
        register(self.identity, self.lease)
        self._unowned_logged = set()

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        self.reconciled = asyncio.Event()
        if self.mode == "remote":
            self._sync_task = asyncio.ensure_future(self._sync_kernelspecs_forever())
            self.reconciled.set()
            return
        self._lease_task = asyncio.ensure_future(self._keep_lease())

    async def sync_kernelspecs(self) -> list[str]:
        """Remote mode: mirror the user's StarDock kernelspecs from the service."""
        if self.remote is None:
            return []
        reply = await self.remote.request("GET", "kernelspecs")
        wanted = {}
        for spec in reply.get("kernelspecs", []):
            wanted[spec["name"]] = spec
            self.kernelspecs.write(
                environment=spec["environment"],
                image=spec["image"],
                dataset_id=spec.get("dataset"),
                dataset_title=spec.get("dataset_title"),
                app_titles=spec.get("app_titles") or [],
                recipe=spec.get("recipe") or {},
            )
        for name in self.kernelspecs.names():
            if name not in wanted:
                self.kernelspecs.remove(name)
                self.log.info(
                    "StarDock: removed kernelspec %s: the service no longer offers it", name
                )
        return sorted(wanted)

    async def sync_kernelspecs_soon(self) -> None:
        """After a build or delete through the proxy: refresh now, not at the next tick."""
        try:
            await self.sync_kernelspecs()
        except Exception as err:
            self.log.warning("StarDock: could not refresh kernelspecs from the service: %s", err)

    async def _sync_kernelspecs_forever(self) -> None:
        while True:
            try:
                await self.sync_kernelspecs()
            except Exception as err:  # keep syncing: the service may come up later
                self.log.warning(
                    "StarDock: could not refresh kernelspecs from the service: %s", err
                )
            await asyncio.sleep(self.kernel_sync_seconds)

    def register_service_kernel(self, internal: str, owner: str, client_id: str) -> None:
        """Hub service: the kernel ``internal`` is ``owner``'s, known to their server as ``client_id``."""
        self.kernel_owners[internal] = owner
        self.kernel_aliases[(owner, client_id)] = internal

    def forget_service_kernel(self, internal: str) -> None:
        self.kernel_owners.pop(internal, None)
        for alias in [a for a, i in self.kernel_aliases.items() if i == internal]:
            del self.kernel_aliases[alias]

    def secure_state_dir(self) -> None:
        """The state folder is the server's alone (records, logs, archives, connection files).

        In the hub service users must still pass through it to their outputs
        folders in the default outputs_store: 0711 lets them pass, never list.
        """
        state = Path(self.state_dir)
        mode = 0o711 if self.mode == "service" else 0o700
        safefs.ensure_owned_dir(state, mode=mode)

    def guard_outputs_browsing(self) -> None:
        """The file browser serves no link a kernel planted in its outputs folder."""
        assert self.serverapp is not None
        subdir = self.config.get("StarDockProvisioner", {}).get(
            "outputs_subdir", "stardock-outputs"
        )
        root = Path(self.serverapp.root_dir).expanduser()
        if not contents_guard.guard_outputs(self.serverapp.contents_manager, root / subdir):
            self.log.warning(
                "StarDock: the contents manager %s has no path check to wrap; links planted in "
                "outputs folders are not refused by the file browser.",
                type(self.serverapp.contents_manager).__name__,
            )

    def initialize_settings(self) -> None:
        if self.mode == "remote":
            # No engine here: everything goes to the hub service.
            self.remote = service_client_from_env(self.service_url)
            # Kernels start in the service; here they need only the settings.
            register_host(
                self.serverapp,
                KernelHost(self, "remote", None, self.make_datasets, owns_datasets=True),
            )
            self.kernelspecs = self.make_kernelspecs()
            self.settings.update({"stardock": self})
            self.log.info(
                "StarDock %s in remote mode, using the service at %s", __version__, self.service_url
            )
            return
        self.secure_state_dir()
        self.claims = EnvironmentClaims(Path(self.state_dir) / "claims.json")
        self.init_lease()
        self.kernel_owners = {}
        self.kernel_aliases = {}
        if self.mode == "local" and self.serverapp is not None:
            self.guard_outputs_browsing()
        self.engine = self.make_engine()
        self.dataset_registry = self.make_datasets()
        # Kernel starts under this server reuse its engine, datasets and settings.
        register_host(
            self.serverapp, KernelHost(self, self.mode, self.engine, self._kernel_datasets)
        )
        self.catalog = self.load_catalog()
        self.builds = self.make_builds(self.engine)
        self.kernelspecs = self.make_kernelspecs()
        self.environments = self.make_environments(self.builds)
        if self.mode == "service":
            self.hub_kernels = HubKernels(self.environments, self, self._kernel_manager)
        self.engine_health = EngineHealth(self.engine.address, self.log)
        self.settings.update({"stardock": self, "stardock_engine": self.engine})
        if self.mode == "local" and self.serverapp is not None:
            self.settings["kernel_spec_manager"] = self.launchable_kernelspecs(
                self.serverapp.kernel_spec_manager
            )
        self.log.info("StarDock %s uses the Docker Engine at %s", __version__, self.engine.address)

    def launchable_kernelspecs(self, wrapped: Any) -> LaunchableKernelSpecs:
        """The kernel spec manager the REST API uses: only kernels this server can start."""
        launchable = LaunchableKernelSpecs(
            wrapped,
            datasets=self._own_dataset_ids,
            environments=self._engine_environment_ids,
            ttl=self.kernelspec_cache_seconds,
            on_error=self._kernelspec_listing_failed,
        )
        self.kernelspecs.on_write = launchable.add_environment
        self.engine_health.on_recovered = launchable.expire
        return launchable

    def _own_dataset_ids(self) -> set[str]:
        if self.dataset_registry is None:
            return set()
        visible = self.dataset_registry.visible_to(server_user(), local_groups())
        return {d.id for d in visible}

    async def _engine_environment_ids(self) -> set[str]:
        assert self.builds is not None
        try:
            environments = await self.builds.environments()
        except EngineUnavailable as err:
            self.engine_health.failed(str(err))
            raise
        self.engine_health.answered()
        return {e["id"] for e in environments}

    def _kernelspec_listing_failed(self, err: Exception) -> None:
        if not isinstance(err, EngineUnavailable):  # an outage is logged once, by engine_health
            self.log.warning("StarDock: could not list environments for the kernelspecs: %s", err)

    def initialize_handlers(self) -> None:
        self.handlers.extend(routes(self.mode))

    async def stop_extension(self) -> None:
        task = getattr(self, "_lease_task", None)
        if task is not None:
            task.cancel()
        if self.identity is not None:
            # The lease itself stays until the process exits (atexit): the server
            # shuts its kernels down after its extensions, and they are its until then.
            unregister(self.identity)
        if self.builds is not None:
            await self.builds.shutdown()
        if self.serverapp is not None:
            register_host(self.serverapp, None)
        if self.engine is not None:
            if self.serverapp is not None and self.serverapp.kernel_manager.list_kernel_ids():
                # The server shuts its kernels down after its extensions, and they archive
                # through this engine: it closes with the process.
                atexit.register(self.engine.close)
            else:
                self.engine.close()
        if self.dataset_registry is not None:
            self.dataset_registry.close()
