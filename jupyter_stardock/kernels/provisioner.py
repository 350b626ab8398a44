"""StarDockProvisioner: jupyter_client's kernel provisioner for container kernels.

Registered in the ``jupyter_client.kernel_provisioners`` entry-point group as
``stardock-provisioner``; StarDock kernelspecs name it. A thin adapter: the
container lifecycle lives in container.py, the operator's settings in settings.py.

jupyter_client facts this relies on (see shared/PITFALLS.md):
- the same instance serves every restart of a kernel, and ``kill``/``terminate``
  are called with ``restart=False`` even while restarting, so the container is
  only removed in ``cleanup`` and the outputs archived only in
  ``cleanup(restart=False)``;
- the ``env`` handed to ``pre_launch`` is the server's whole environment: only
  an allowlist reaches the container;
- ``poll()`` drives the auto-restarter, so a transient engine error answers
  "alive".
"""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import time
from pathlib import Path
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase
from tornado import web
from traitlets import Unicode

from ..config import StarDockSettings
from ..core.datasets import Dataset
from ..core.languages import PYTHON, check_language
from ..core.outputs import link_outputs, make_outputs_dir
from ..core.users import local_groups, server_user
from ..engine import Engine
from ..errors import KernelStartError, StarDockError
from ..hub.service_client import hub_user_home, service_client_from_env
from ..hub.service_kernel import ServiceKernel
from ..labels import EnvironmentLabels, KernelLabels
from ..services.last_use import LastUse  # issue 17
from .container import ContainerKernel
from .host import KernelHost, host_for, standalone_host
from .launch import KernelLaunch, MountedDataset, container_name, mounted_dataset
from .notebooks import session_notebooks  # issue 17
from .pause import thaw  # issue 17
from .pool_claim import claimed_labels
from .pool_provisioner import PooledStarts
from .runtime import connection_key, folders_are_ours, ipc_parent, runtime_root
from .settings import ContainerSettings
from .workdir import (
    WorkFolder,
    release_work_folder,
    wants_work,
    work_folder_for,
    work_root,
)

__all__ = ["KernelStartHTTPError", "StarDockProvisioner"]


class KernelStartHTTPError(web.HTTPError):
    """A kernel start refused with a sentence for the user.

    jupyter_server answers ``POST /api/kernels`` with an HTTPError's message as
    is, and JupyterLab shows it in its "Error Starting Kernel" dialog; any other
    exception would reach the user as "Unhandled error".
    """

    def __init__(self, message: str) -> None:
        super().__init__(500, message, reason="Kernel start failed")
        self.message = message

    def __str__(self) -> str:
        return self.message


# KernelProvisionerMeta derives from both ABCMeta and traitlets' metaclass, so the mixin fits;
# mypy cannot see through jupyter_client's own "type: ignore" on that declaration.
class StarDockProvisioner(KernelProvisionerBase, ContainerSettings, PooledStarts):  # type: ignore[metaclass]
    """Runs ipykernel in a StarDock environment's container, beside a read-only dataset."""

    # -- from the kernelspec (per environment and dataset) ----------------

    image = Unicode(help="The environment's image, e.g. stardock/env:0123456789abcdef.")
    environment = Unicode(help="The environment id (the image's content hash prefix).")
    dataset = Unicode("", help="The id of the dataset mounted at /data; empty for none.")
    # issue 18
    language = Unicode(
        PYTHON, help="The kernel's language: python, or another the environment has (r)."
    )

    # -- state ------------------------------------------------------------

    _kernel: ContainerKernel | None = None
    _standalone: KernelHost | None = None
    _remote: ServiceKernel | None = None
    _adopt: dict[str, Any] | None = None
    # issue 18: the notebook's folder at /work, staged once for every restart.
    _work: WorkFolder | None = None

    def _host(self) -> KernelHost:
        """The running server's engine, datasets and settings; without one, the config files'.

        Inside a server the provisioner's own settings (c.StarDockProvisioner) came
        with the kernel manager's config already; a standalone tool reads them once
        with the rest, and a restart reuses what the first start read.
        """
        host = host_for(self.parent)
        if host is not None:
            return host
        if self._standalone is None:
            self._standalone, config = standalone_host(
                self.parent.config if self.parent is not None else None
            )
            self.update_config(config)
        return self._standalone

    def _root_dir(self) -> Path:
        # The MultiKernelManager (our parent's parent in jupyter_server) knows the
        # server's root directory; a standalone tool (nbconvert) uses its cwd.
        node: Any = self.parent
        while node is not None:
            root = getattr(node, "root_dir", None)
            if isinstance(root, str) and root:
                return Path(root).expanduser()
            node = getattr(node, "parent", None)
        return Path.cwd()

    def _uid_gid(self, owner: str | None = None) -> tuple[int, int]:
        if owner is not None and os.geteuid() == 0:
            try:
                # In the hub service, a user who exists here gets their own uid: the
                # outputs are theirs, and only they may enter the kernel's ipc folder.
                entry = pwd.getpwnam(owner)
                if entry.pw_uid != 0:
                    return entry.pw_uid, entry.pw_gid
            except KeyError:
                pass
        if os.geteuid() == 0:
            return self.root_kernel_uid, self.root_kernel_gid
        return os.getuid(), os.getgid()

    def _outputs_place(self, app: StarDockSettings, owner: str | None) -> tuple[Path, Path]:
        """Where this kernel's outputs folder is made, and the trusted folder above it."""
        if owner is None:
            root = self._root_dir()
            return root / self.outputs_subdir, root
        # In the hub service the folder lives in the service's own store, where the
        # user cannot rename or replace it (the engine mounts it by path); the user
        # sees it through a link in their home (see _outputs_view).
        store = Path(app.outputs_store)
        return store / owner, store

    def _outputs_view(self, app: StarDockSettings, owner: str) -> tuple[Path, Path]:
        """Hub service: the folder of the user's links to their outputs, and its trusted parent."""
        home = hub_user_home(owner) or Path(app.state_dir) / "users" / owner
        view = Path(app.user_outputs_dir.format(username=owner, home=home))
        if view.is_relative_to(home):
            return view, home
        return view, view.parent

    async def _make_remote(self, app: StarDockSettings, work: str | None) -> ServiceKernel:
        client = service_client_from_env(app.service_url)
        if client is None:
            raise KernelStartError(
                "This server is set up for a StarDock hub service but has no JupyterHub API token."
            )
        return ServiceKernel(
            client, self.kernel_id, self.environment, self.dataset or None, work, self.language
        )

    def _dataset(self, host: KernelHost, owner: str | None, groups: list[str] | None) -> Dataset:
        """The kernelspec's dataset, if this user may use it and its folder is there."""
        registry = host.datasets()
        try:
            if owner is not None:
                dataset = registry.for_user(self.dataset, owner, groups or [])
            else:
                dataset = registry.for_user(self.dataset, server_user(), local_groups())
        finally:
            if host.owns_datasets:
                registry.close()
        if not dataset.path.is_dir():
            raise KernelStartError(
                f"The folder of the dataset {dataset.title!r} ({dataset.path}) is missing. "
                "Ask the operator to restore it or to update c.StarDockApp.datasets."
            )
        return dataset

    async def _make_kernel(
        self,
        host: KernelHost,
        owner: str | None,
        groups: list[str] | None,
        adopt: bool = False,
        client_id: str | None = None,
        work: str | None = None,
        notebook: str | None = None,
        cold: bool = False,
    ) -> ContainerKernel:
        # The server's own engine and settings; a standalone tool's (nbconvert,
        # console) from the config files, read by the caller.
        app, engine = host.settings, host.engine
        assert engine is not None  # remote mode starts a ServiceKernel instead
        image = await engine.image(self.image)
        if image is None:
            raise KernelStartError(
                f"The environment of this kernel ({self.image}) no longer exists. Build it again from "
                "the StarDock panel, or choose another kernel."
            )
        state = Path(app.state_dir)
        orphan = await self._orphan(engine, state) if adopt else None
        if adopt and orphan is None:
            # A fresh start would take the container's name and so remove it unarchived;
            # failing leaves it to reconcile, which archives it.
            raise KernelStartError(
                f"The kernel container of {self.kernel_id} cannot be adopted (it stopped, or "
                "its connection file is gone); its outputs will be archived instead."
            )
        dataset: Dataset | MountedDataset | None = None
        if orphan is not None:
            # The running container keeps what it has mounted: taking it over grants
            # nothing new, and this server's configuration may now name that id elsewhere
            # (or, in the hub, not see the user's groups).
            dataset = mounted_dataset(orphan)
        elif self.dataset:
            dataset = self._dataset(host, owner, groups)
        uid, gid = self._uid_gid(owner)
        state_last_use = LastUse(state)
        # issue 18: the notebook's folder at /work, if asked for (checked and staged below).
        # (After _host: a standalone tool has only now read the setting from its files.)
        wanted = work is not None and wants_work(
            always=self.notebook_folder,
            per_notebook=self.notebook_folder_per_notebook,
            notebook=notebook,
            root=self._root_dir,
        )
        # issue 14: a warm slot, which is a Python kernel without /work (a slot has neither
        # another language's launcher nor the notebook's folder mounted).
        poolable = self.language == PYTHON and not wanted
        if orphan is None and host.pool is not None and not cold and poolable:
            pooled = self._from_pool(host, image, dataset, uid, gid, owner, groups, client_id)
            if pooled is not None:
                await engine.run(state_last_use.record, self.environment)  # issue 17: a use
                return pooled
        # issue 18: the notebook's folder at /work (checked and staged; refused with a sentence).
        # hubcover: before the outputs folder is made, so a refused start leaves none behind.
        if orphan is None and work is not None and wanted:
            self._work = await engine.run(
                work_folder_for, work, root=work_root(owner, self._root_dir), state=state
            )
        outputs_view = None
        if orphan is not None:
            # Adopting a kernel whose server died: keep its outputs, times, folders and key.
            kernel = KernelLabels.from_labels(orphan["Config"]["Labels"])
            assert kernel is not None  # _orphan found it by these labels
            outputs = Path(kernel.outputs)
            outputs_view = Path(kernel.outputs_view or outputs)
            started = kernel.started or time.time()
            runtime = Path(kernel.runtime)
            key = orphan["stardock_key"]
        else:
            started = time.time()
            key = secrets.token_hex(32)
            runtime = runtime_root(state) / secrets.token_hex(8)
            parent, trusted = self._outputs_place(app, owner)
            outputs = await engine.run(
                make_outputs_dir,
                parent,
                trusted=trusted,
                dataset=self.dataset or None,
                started=started,
                uid=uid,
                gid=gid,
            )
            if owner is not None:
                view, view_trusted = self._outputs_view(app, owner)
                outputs_view = await engine.run(
                    link_outputs, outputs, view, trusted=view_trusted, uid=uid, gid=gid
                )
        built = EnvironmentLabels.from_labels(image.labels)
        launch = KernelLaunch(
            kernel_id=self.kernel_id,
            kernel_name=self.kernel_spec.display_name if self.kernel_spec else "",
            spec_name=getattr(self.parent, "kernel_name", "") or "",
            image=self.image,
            environment=self.environment,
            dataset=dataset,
            outputs_dir=outputs,
            runtime_dir=runtime,
            archive_dir=app.archive_dir,
            uid=uid,
            gid=gid,
            started=started,
            key=key,
            recipe=dict(built.recipe) if built else {},
            dockerfile=built.dockerfile if built else "",
            image_id=image.id,
            owner=owner or server_user(),
            ipc_parent=ipc_parent(),
            outputs_view=outputs_view,
            client_id=client_id or self.kernel_id,
            work_source=self._work.source if self._work is not None else None,
            language=self.language,
        )
        self._adopt = orphan if orphan is not None else None
        settings = self.kernel_settings()
        # issue 18: a language without CurveZMQ cannot meet encrypted TCP sockets.
        check_language(self.language, settings.transport, settings.encrypt_tcp)
        await engine.run(state_last_use.record, self.environment)  # issue 17: a use
        return ContainerKernel(engine, settings, launch)

    async def _orphan(self, engine: Engine, state: Path) -> dict[str, Any] | None:
        """A running container of this very kernel id, left by a server that died.

        Asked for only by the server's reconcile (c.StarDockApp.orphan_policy =
        'adopt'); an ordinary start never spends an engine call on it. Its
        folders must be where this server makes them; its key is read from the
        connection file in the server-only folder.
        """
        data = await engine.run(engine.inspect_container_sync, container_name(self.kernel_id))
        if not data or not (data.get("State") or {}).get("Running"):
            return None
        kernel = KernelLabels.from_labels((data.get("Config") or {}).get("Labels"))
        if kernel is not None and kernel.pool:  # issue 14: a claimed slot, as its kernel's
            kernel, _ = claimed_labels(kernel, [data.get("Name")], state)
            if kernel is not None:
                data["Config"]["Labels"] = kernel.to_labels()
        if kernel is None or not folders_are_ours(kernel, state):
            return None
        key = connection_key(Path(kernel.runtime))
        if key is None:
            return None
        data["stardock_key"] = key
        ipc = kernel.ipc
        data["stardock_ipc"] = Path(ipc) if ipc else None
        return data

    # -- jupyter_client's provisioner API ---------------------------------

    @property
    def _target(self) -> ContainerKernel | ServiceKernel | None:
        return self._remote if self._remote is not None else self._kernel

    @property
    def has_process(self) -> bool:
        if self._remote is not None:
            return self._remote.started
        return self._kernel is not None and self._kernel.container_id is not None

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        kwargs = await super().pre_launch(**kwargs)
        # Set by the hub service's kernel API: whose kernel this is (from their token).
        owner = kwargs.pop("stardock_owner", None)
        groups = kwargs.pop("stardock_groups", None)
        # Set by the server's reconcile (orphan_policy 'adopt'): take over the running
        # container of this kernel id instead of starting one.
        adopt = bool(kwargs.pop("stardock_adopt", False))
        # Hub service: the id the user's server knows this kernel by (ours is our own).
        client_id = kwargs.pop("stardock_client_id", None)
        # issue 18: jupyter_server's cwd is the notebook's folder; the hub service gets the
        # user's server's as stardock_work. Mounted at /work only when the operator opted in.
        work = kwargs.pop("stardock_work", None) if owner is not None else kwargs.get("cwd")
        # issue 18: or per notebook, when the operator lets users opt in (local mode).
        notebook = (kwargs.get("env") or {}).get("JPY_SESSION_NAME") if owner is None else None
        if self._kernel is None and self._remote is None:
            # Restarts keep the same outputs, runtime folder and key.
            try:
                host = self._host()
                if host.mode == "remote":
                    self._remote = await self._make_remote(host.settings, work)
                else:
                    self._kernel = await self._make_kernel(
                        host, owner, groups, adopt, client_id, work, notebook
                    )
            except StarDockError as err:
                raise KernelStartHTTPError(str(err)) from err
            finally:
                # hubcover: a start refused after the notebook's folder was staged unmounts it
                # (jupyter_client never calls cleanup for a kernel that did not start).
                if self._kernel is None:
                    self._release_work()
        kwargs.pop("extra_arguments", None)
        kwargs["cmd"] = self.kernel_spec.argv if self.kernel_spec else []
        return kwargs

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        # The key is bytes: jupyter_client rejects a str key when reconciling.
        if self._remote is not None:
            try:
                self.connection_info = await self._remote.start()
            except StarDockError as err:
                raise KernelStartHTTPError(str(err)) from err
            return self.connection_info
        assert self._kernel is not None
        try:
            if self._adopt is not None:
                self.connection_info = await self._kernel.adopt(
                    self._adopt["Id"], self._adopt["stardock_ipc"]
                )
                self._adopt = None  # a later restart starts a new container
                # The dead server's connection file for this id holds the same info;
                # jupyter_client would then skip loading it into the manager.
                stale = getattr(self.parent, "connection_file", "")
                if stale and os.path.exists(stale):
                    os.remove(stale)
            elif self._slot is not None:  # issue 14: a warm slot becomes this kernel
                self.connection_info = await self._claim(kwargs.get("env") or {})
            else:
                with self._pool_quiet():
                    self.connection_info = await self._kernel.start(kwargs.get("env") or {})
        except StarDockError as err:
            if not self.connection_info:  # hubcover: a first start that failed, as above
                self._release_work()
            raise KernelStartHTTPError(str(err)) from err
        return self.connection_info

    async def poll(self) -> int | None:
        target = self._target
        return None if target is None else await target.poll()

    async def wait(self) -> int | None:
        while True:
            status = await self.poll()
            if status is not None:
                return status
            await asyncio.sleep(0.2)

    async def send_signal(self, signum: int) -> None:
        if self._target is not None:
            await self._target.signal(signum)

    async def kill(self, restart: bool = False) -> None:
        if self._target is not None:
            await self._target.stop(graceful=False)

    async def terminate(self, restart: bool = False) -> None:
        if self._target is not None:
            await self._target.stop(graceful=True)

    async def cleanup(self, restart: bool = False) -> None:
        if self._remote is not None:
            if not restart:
                await self._remote.shutdown()
            return
        if self._kernel is None:
            return
        await self._kernel.remove()
        if not restart:
            # issue 17: the notebooks of this kernel's sessions go into its archive
            await self._kernel.finish(session_notebooks(self.parent, self.kernel_id))
            # issue 18: the container that had it is gone: undo the staging mount.
            self._release_work()

    def _release_work(self) -> None:
        if self._work is not None:
            release_work_folder(self._work)
            self._work = None

    def get_shutdown_wait_time(self, recommended: float = 5.0) -> float:
        return max(recommended, float(self.stop_timeout))

    def get_stable_start_time(self, recommended: float = 10.0) -> float:
        return max(recommended, 30.0)

    async def get_provisioner_info(self) -> dict[str, Any]:
        info: dict[str, Any] = await super().get_provisioner_info()
        if self._kernel is not None:
            info["container_id"] = self._kernel.container_id
        return info

    async def load_provisioner_info(self, provisioner_info: dict[str, Any]) -> None:
        await super().load_provisioner_info(provisioner_info)

    # -- issue 17: pause and suspend reach the container through these ----

    @property
    def container(self) -> ContainerKernel | None:
        """This kernel's container (None in remote mode: the service holds it)."""
        return self._kernel

    async def shutdown_requested(self, restart: bool = False) -> None:
        # A paused kernel cannot read the shutdown request just sent: thawed, it ends
        # cleanly. (poll() needs nothing: the engine counts a paused container as running.)
        if self._kernel is not None:
            await thaw(self._kernel)
