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
from typing import Any, cast

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp

from .._version import __version__
from ..config import Mode, StarDockSettings
from ..core import safefs
from ..core.catalog import Catalog, default_catalog_dirs
from ..core.claims import EnvironmentClaims
from ..core.datasets import DatasetRegistry
from ..core.kernelspecs import KernelspecStore
from ..core.leases import Lease, ServerIdentity, hold_lease, unregister
from ..core.users import Viewer, local_groups, server_user
from ..engine import Engine
from ..errors import StarDockError
from ..hub.service_client import ServiceClient, hub_user_home, service_client_from_env
from ..kernels.host import KernelHost, register_host
from ..kernels.listing import OwnKernels
from ..kernels.pool import KernelPool
from ..kernels.pool_builds import PoolFeeder
from ..kernels.pool_start import make_pool
from ..kernels.provisioner import StarDockProvisioner
from ..kernels.reconcile import OrphanPolicy, OrphanReconciler
from ..kernels.service_ids import ServiceKernelIds
from ..services.builds import BuildManager
from ..services.environments import EnvironmentsService, Quotas
from ..services.hub_kernels import HubKernels, KernelManagers
from ..services.locks import LockStore  # issue 17
from ..services.registry import registry_service  # issue 16
from ..services.staging import StagingService  # issue 19
from ..services.status import EngineHealth
from . import contents_guard
from .kernelspecs import RemoteKernelspecs, launchable_kernelspecs
from .pause_handlers import wire_pauses, wire_remote_pauses  # issue 17
from .routes import routes
from .staging_wiring import make_staging  # issue 19

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
    pool: KernelPool | None = None  # issue 14
    pool_feeder: PoolFeeder | None = None  # issue 14
    environments: EnvironmentsService
    hub_kernels: HubKernels
    remote: ServiceClient | None = None
    #: Remote mode: the kernelspecs mirrored from the service.
    remote_kernelspecs: RemoteKernelspecs | None = None
    #: Hub service: which Hub user each kernel runs for, by the id their server knows.
    service_kernels: ServiceKernelIds
    claims: EnvironmentClaims
    catalog: Catalog
    kernelspecs: KernelspecStore
    reconciled: asyncio.Event
    #: This instance: its id and lineage label its kernels; its lease shows it lives.
    identity: ServerIdentity | None = None
    lease: Lease | None = None
    own_kernels: OwnKernels
    orphans: OrphanReconciler
    engine_health: EngineHealth
    #: issue 19: the data service (None without c.StarDockApp.archives).
    staging: StagingService | None = None

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
            quotas=Quotas(
                self.quota_builds,
                self.quota_image_bytes,
                self.quota_kernels,
                self.quota_gpu_kernels,  # issue 18
            ),
            locks=LockStore(self.engine, Path(self.state_dir) / "locks"),  # issue 17
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
        """StarDock kernel containers of this server instance (the viewer's own, when scoped)."""
        return await self.own_kernels.running(viewer)

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

    async def reconcile(self, at_start: bool = True) -> None:
        """Archive or adopt (orphan_policy) the kernels whose server is gone; prune kernelspecs.

        Run at start and then every lease_seconds, so a kernel whose server's lease
        lapses later is handled too (kernels/reconcile.py says which are orphans).
        """
        assert self.engine is not None and self.builds is not None
        try:
            found = await self.orphans.reconcile(at_start)
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
        self.lease = hold_lease(self.identity)

    def init_kernels(self) -> None:
        """This instance's kernel listing and orphan handling, on its engine and lease."""
        assert self.engine is not None and self.identity is not None and self.lease is not None
        service = self.mode == "service"
        root = Path(self.serverapp.root_dir) if self.serverapp is not None else None
        self.own_kernels = OwnKernels(
            self.engine,
            identity=self.identity,
            lease=self.lease,
            archive_dir=self.archive_dir,
            root_dir=root,
            home_of=hub_user_home if service else None,
        )
        self.orphans = OrphanReconciler(
            self.own_kernels,
            lease_seconds=self.lease_seconds,
            policy=cast(OrphanPolicy, self.orphan_policy),  # the Enum trait allows only these
            kernel_manager=self.serverapp.kernel_manager if self.serverapp is not None else None,
            service_ids=self.service_kernels if service else None,
            log=self.log,
        )

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        self.reconciled = asyncio.Event()
        if self.mode == "remote":
            if self.remote_kernelspecs is not None:
                self._sync_task = asyncio.ensure_future(self.remote_kernelspecs.forever())
            self.reconciled.set()
            return
        self._lease_task = asyncio.ensure_future(self._keep_lease())
        if self.staging is not None:  # issue 19: resume this lineage's stagings, sweep
            await self.staging.start()
        if self.pool is not None:  # issue 14: fills once reconcile cleared a crash's slots
            self.pool.start(after=self.reconciled)
            if self.pool_feeder is not None:  # and refills what was used before a restart
                restore = self.pool_feeder.restore(serverapp.kernel_manager)
                self._pool_restore = asyncio.ensure_future(restore)

    async def sync_kernelspecs_soon(self) -> None:
        """After a build or delete through the proxy: refresh now, not at the next tick."""
        if self.remote_kernelspecs is not None:
            await self.remote_kernelspecs.sync_soon()

    @property
    def kernel_aliases(self) -> dict[tuple[str, str], str]:
        """Hub service: (Hub user, the id their server uses) -> the service's kernel id."""
        return self.service_kernels.aliases

    def register_service_kernel(self, internal: str, owner: str, client_id: str) -> None:
        """Hub service: the kernel ``internal`` is ``owner``'s, known to their server as ``client_id``."""
        self.service_kernels.register(internal, owner, client_id)

    def forget_service_kernel(self, internal: str) -> None:
        self.service_kernels.forget(internal)

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
        # The provisioner's own setting (c.StarDockProvisioner.outputs_subdir), read
        # from the same config, without creating a provisioner.
        subdir = self.config.get("StarDockProvisioner", {}).get(
            "outputs_subdir", StarDockProvisioner.outputs_subdir.default_value
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
            if self.remote is not None:
                self.remote_kernelspecs = RemoteKernelspecs(
                    self.remote, self.kernelspecs, every=self.kernel_sync_seconds, log=self.log
                )
            wire_remote_pauses(self)  # issue 17: the culler leaves kernels paused in the service
            self.log.info(
                "StarDock %s in remote mode, using the service at %s", __version__, self.service_url
            )
            return
        self.secure_state_dir()
        self.claims = EnvironmentClaims(Path(self.state_dir) / "claims.json")
        self.init_lease()
        self.service_kernels = ServiceKernelIds()
        if self.mode == "local" and self.serverapp is not None:
            self.guard_outputs_browsing()
        self.engine = self.make_engine()
        self.dataset_registry = self.make_datasets()
        # Kernel starts under this server reuse its engine, datasets and settings.
        self.pool = make_pool(self, self.engine, self.mode)  # issue 14: the warm pool
        host = KernelHost(self, self.mode, self.engine, self._kernel_datasets, pool=self.pool)
        register_host(self.serverapp, host)
        self.catalog = self.load_catalog()
        self.builds = self.make_builds(self.engine)
        # issue 16: the site's registry (None without c.StarDockApp.registry)
        self.builds.registry = registry_service(
            self.engine, self.registry, self.registry_credentials
        )
        self.kernelspecs = self.make_kernelspecs()
        self.environments = self.make_environments(self.builds)
        if self.pool is not None and self.serverapp is not None:  # issue 14: builds feed it
            root = Path(self.serverapp.root_dir)
            self.pool_feeder = PoolFeeder(self.pool, host, self.serverapp.config, root)
            self.pool_feeder.attach(self.environments)
        if self.mode == "service":
            self.hub_kernels = HubKernels(self.environments, self, self._kernel_manager)
            if self.pool is not None:  # issue 14: a user's slots count against their quotas
                self.pool.owners, self.hub_kernels.on_viewer = self.hub_kernels, self.pool.refresh
        self.engine_health = EngineHealth(self.engine.address, self.log)
        self.init_kernels()
        # issue 19: the data service (init_lease made the identity its stagings carry)
        assert self.identity is not None
        self.staging = make_staging(self, self.identity, self.engine, self.dataset_registry)
        # issue 17: pause, suspend, pause_idle_after; the culler passes over paused kernels
        if self.serverapp is not None:
            wire_pauses(self)
        self.settings.update({"stardock": self, "stardock_engine": self.engine})
        if self.mode == "local" and self.serverapp is not None:
            self.settings["kernel_spec_manager"] = launchable_kernelspecs(
                self.serverapp.kernel_spec_manager,
                store=self.kernelspecs,
                datasets=self.dataset_registry,
                builds=self.builds,
                health=self.engine_health,
                ttl=self.kernelspec_cache_seconds,
                log=self.log,
            )
        self.log.info("StarDock %s uses the Docker Engine at %s", __version__, self.engine.address)

    def initialize_handlers(self) -> None:
        self.handlers.extend(routes(self.mode))

    async def stop_extension(self) -> None:
        # Remote mode's kernelspec refresh as well as the lease: neither outlives the server.
        for name in ("_lease_task", "_sync_task", "_idle_pause_task"):  # issue 17: the idle pauser
            task = getattr(self, name, None)
            if task is not None:
                task.cancel()
        if self.identity is not None:
            # The lease itself stays until the process exits (atexit): the server
            # shuts its kernels down after its extensions, and they are its until then.
            unregister(self.identity)
        if self.builds is not None:
            await self.builds.shutdown()
        if self.staging is not None:  # issue 19
            await self.staging.shutdown()
        if self.pool is not None:  # issue 14: unclaimed slots go with the server
            await self.pool.stop()
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
