"""The one place a build request is taken, and an environment removed.

A request is composed once (one base image lookup, one Dockerfile), its quotas
are checked on that composition, the user's claim is recorded, and the build is
submitted or the existing environment answered. Kernelspecs are published here
only: for an environment that exists at once, for a new one when its build
succeeds (before its log closes, so the stream's ``end`` event names a
kernelspec that exists).

It never imports tornado: handlers parse and authorize, then call one method.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..core.buildlog import BuildLog
from ..core.catalog import Catalog
from ..core.claims import EnvironmentClaims
from ..core.datasets import DatasetRegistry
from ..core.kernelspecs import KernelspecStore, kernelspec_name
from ..core.lock import Lock
from ..core.quotas import check_build_quotas
from ..core.recipe import Recipe
from ..core.users import Viewer, server_user
from ..engine import Engine, ImageInfo
from ..errors import Forbidden, InUse, NotFound, RecipeError, StarDockError
from ..labels import EnvironmentLabels
from .build_records import BuildRecord, environment_json
from .builds import BuildManager
from .last_use import LastUse
from .locks import LockStore

__all__ = ["BuildRequest", "EnvironmentsService", "Quotas", "Site"]

log = logging.getLogger(__name__)


class Site(Protocol):
    """What the service asks of the server it runs in (the StarDockApp)."""

    @property
    def mode(self) -> str: ...
    def may_use_environment(self, viewer: Viewer, environment: str) -> bool: ...
    async def environment_in_use(self, environment: str) -> bool: ...


@dataclass(frozen=True)
class Quotas:
    """The hub service's per-user limits (None: no limit), as c.StarDockApp.quota_* set them."""

    builds: int | None = None
    image_bytes: int | None = None
    kernels: int | None = None
    gpu_kernels: int | None = None  # issue 18


@dataclass(frozen=True)
class BuildRequest:
    """What a build request came to: a build to follow, or the environment that exists."""

    build: BuildRecord | None
    #: The existing environment as ``GET /environments`` lists it, plus its ``kernelspec``.
    environment: dict[str, Any] | None


class EnvironmentsService:
    """Build requests, the builds and environments a viewer sees, and their kernelspecs."""

    def __init__(
        self,
        builds: BuildManager,
        *,
        engine: Engine,
        catalog: Catalog,
        datasets: DatasetRegistry,
        claims: EnvironmentClaims,
        kernelspecs: KernelspecStore,
        site: Site,
        quotas: Quotas = Quotas(),
        locks: LockStore | None = None,  # issue 17
    ) -> None:
        self.builds = builds
        self.engine = engine
        self.catalog = catalog
        self.datasets = datasets
        self.claims = claims
        self.kernelspecs = kernelspecs
        self.site = site
        self.quotas = quotas
        builds.on_built = self._built
        # issue 17: locks, kept by image id (None: environments are shown without one).
        self.locks = locks
        builds.locks = locks
        # issue 17: kernel starts and build hits, for envs and prune --days
        self.last_use = LastUse(builds.state_dir.parent) if locks is not None else None
        # issue 14: told of each kernelspec a build published (name, environment, image,
        # dataset) and of each environment about to be removed (its pre-started kernels hold
        # the image); the server wires its warm kernel pool in.
        self.on_published: Callable[[str, str, str, str | None], None] | None = None
        self.on_removing: Callable[[str], Awaitable[None]] | None = None

    # What check_build_quotas reads (core.quotas.BuildQuotaContext).
    @property
    def quota_builds(self) -> int | None:
        return self.quotas.builds

    @property
    def quota_image_bytes(self) -> int | None:
        return self.quotas.image_bytes

    # -- requests ---------------------------------------------------------

    def recipe_for(self, viewer: Viewer, body: Mapping[str, Any]) -> Recipe:
        """A recipe whose dataset, if any, exists and may be used by the viewer (else 400 / 403)."""
        recipe = Recipe.from_json(body)
        if recipe.dataset is not None:
            try:
                self.datasets.for_user(
                    recipe.dataset, viewer.name, viewer.groups, admin=viewer.admin
                )
            except NotFound as err:
                raise RecipeError(str(err), item="dataset") from err
        return recipe

    async def preview(self, recipe: Recipe) -> dict[str, Any]:
        """The Dockerfile a recipe would build, and whether its environment exists already."""
        spec = await self.builds.compose(recipe)
        existing = await self.engine.image(spec.tag)
        return {
            "dockerfile": spec.dockerfile,
            "content_hash": spec.content_hash,
            "environment_id": spec.content_hash[:16],
            "tag": spec.tag,
            "apps": list(spec.apps),
            "added_dependencies": {
                k: list(v) for k, v in self.catalog.added_dependencies(recipe.apps).items()
            },
            "exists": existing is not None,
        }

    async def request_build(self, viewer: Viewer, recipe: Recipe) -> BuildRequest:
        """Build the recipe's environment for the viewer (or join its build, or find it built)."""
        spec = await self.builds.compose(recipe)
        await check_build_quotas(self, viewer, recipe, spec)
        record, image = await self.builds.submit(spec, viewer.name)
        # The tag names the environment by its hash, so a found image has this id too.
        self.claims.add(spec.content_hash[:16], viewer.name, recipe.dataset)
        if image is None:
            return BuildRequest(record, None)
        environment = environment_json(image)
        if self.locks is not None:  # issue 17: a build hit answers with the lock too
            environment["lock"] = await self.locks.for_build(image, log.info)
        if self.last_use is not None:  # issue 17: and counts as a use, as the listing says
            environment["last_used"] = await self.engine.run(
                self.last_use.record, environment["id"]
            )
        # The environment exists; this recipe's dataset still needs its kernelspec.
        environment["kernelspec"] = self.publish_kernelspec(
            recipe.to_json(), environment["id"], image.tags[0] if image.tags else image.id
        )
        return BuildRequest(None, environment)

    # -- builds as a viewer sees them -------------------------------------

    def build_view(self, record: BuildRecord, viewer: Viewer) -> dict[str, Any]:
        """A build as this viewer may see it: who else asked for it is never shown.

        A follower (who asked for an identical recipe while it was building) sees
        the build as their own request: their dataset, no owner, ``following``.
        Once it succeeded, ``environment`` carries the environment and the
        kernelspec of the viewer's own dataset with it.
        """
        data = record.to_json()
        data["following"] = False
        dataset = record.recipe.get("dataset") or None
        if viewer.scoped and not viewer.admin:
            data.pop("followers", None)
            data.pop("follower_datasets", None)
            if record.owner != viewer.name:
                data.pop("owner", None)
                dataset = record.follower_datasets.get(viewer.name)
                data["recipe"] = {**data["recipe"], "dataset": dataset}
                data["following"] = True
        if record.environment is not None:
            data["environment"] = {
                **record.environment,
                "kernelspec": kernelspec_name(record.environment_id, dataset),
            }
        return data

    def build_views(self, viewer: Viewer) -> list[dict[str, Any]]:
        return [self.build_view(r, viewer) for r in self.builds.records(viewer.owner_filter)]

    def build(self, viewer: Viewer, build_id: str) -> dict[str, Any]:
        """The viewer's build (404 for someone else's)."""
        return self.build_view(self.builds.get(build_id, viewer.owner_filter), viewer)

    async def cancel(self, viewer: Viewer, build_id: str) -> dict[str, Any]:
        return self.build_view(await self.builds.cancel(build_id, viewer.owner_filter), viewer)

    def build_log(self, viewer: Viewer, build_id: str) -> BuildLog:
        """The log of the viewer's build (404 for someone else's)."""
        self.builds.get(build_id, viewer.owner_filter)
        return self.builds.log(build_id)

    def log_page(self, viewer: Viewer, build_id: str, offset: int, limit: int) -> dict[str, Any]:
        """Up to ``limit`` lines of the viewer's build log from ``offset``, with its state."""
        buildlog = self.build_log(viewer, build_id)
        page = buildlog.read(offset, limit)
        record = self.builds.get(build_id)
        return {
            "offset": page.offset,
            "next": page.next,
            "lines": page.lines,
            "dropped": page.dropped,
            "complete": page.closed and page.next >= buildlog.count,
            "state": record.state.value,
            "progress": record.progress,
        }

    # -- environments -----------------------------------------------------

    async def listed(self, viewer: Viewer) -> list[dict[str, Any]]:
        """The environments in the viewer's lists: those they built and the shared ones."""
        used = await self.engine.run(self.last_use.read) if self.last_use else {}
        return [
            # issue 17: the lock where it was taken (a listing never runs a container), last use
            {
                **e,
                "lock": lock.to_json() if (lock := self._cached_lock(e["image_id"])) else None,
                "last_used": used.get(e["id"]),
            }
            for e in await self.builds.environments()
            if self.site.may_use_environment(viewer, e["id"])
        ]

    async def environment_for(self, viewer: Viewer, env_id: str) -> ImageInfo:
        """The environment's image, if this viewer has it (404 otherwise)."""
        image = await self.builds.environment(env_id)
        # Another user's private environment answers exactly as an unknown one, also
        # in local mode where other unix users' servers share the engine.
        if not self.site.may_use_environment(viewer, env_id):
            raise NotFound(f"There is no environment {env_id!r}.")
        return image

    async def describe(self, viewer: Viewer, env_id: str) -> dict[str, Any]:
        image = await self.environment_for(viewer, env_id)
        # issue 17: the environment's lock, taken now if it never was
        lock = await self.locks.for_build(image, log.info) if self.locks else None
        described = {**environment_json(image), "lock": lock}
        if self.last_use is not None:
            described["last_used"] = (await self.engine.run(self.last_use.read)).get(env_id)
        return described

    def _cached_lock(self, image_id: str) -> Lock | None:
        return self.locks.cached(image_id) if self.locks else None

    async def dockerfile(self, viewer: Viewer, env_id: str) -> str:
        built = EnvironmentLabels.from_labels((await self.environment_for(viewer, env_id)).labels)
        return built.dockerfile if built else ""

    async def remove(self, viewer: Viewer, env_id: str) -> None:
        """Remove the viewer's environment; only their claim when others use it too."""
        await self.environment_for(viewer, env_id)  # 404 first
        if viewer.owner_filter is not None and self.claims.users(env_id) - {viewer.name}:
            # Others use the same image: only this user's claim goes.
            self.claims.remove(env_id, viewer.name)
            return
        if await self.site.environment_in_use(env_id):
            raise InUse(
                "A running kernel uses this environment; stop the kernel first, then delete it."
            )
        if self.on_removing is not None:  # issue 14
            await self.on_removing(env_id)
        await self.builds.remove_environment(env_id)
        self.claims.remove(env_id)
        self.kernelspecs.remove_environment(env_id)

    # -- kernelspecs ------------------------------------------------------

    def publish_kernelspec(self, recipe: Mapping[str, Any], environment: str, image: str) -> str:
        """Make (or refresh) the kernelspec of an environment with the recipe's dataset."""
        dataset_id = recipe.get("dataset") or None
        title = None
        if dataset_id is not None:
            try:
                title = self.datasets.get(dataset_id).title
            except StarDockError:
                title = dataset_id
        wanted = set(recipe.get("apps") or ())
        apps = [a.title for a in self.catalog.apps.values() if a.id in wanted]
        return self.kernelspecs.write(
            environment=environment,
            image=image,
            dataset_id=dataset_id,
            dataset_title=title,
            app_titles=apps,
            recipe=recipe,
            languages=self._languages(wanted),  # issue 18
        )

    # issue 18: the kernel languages an environment's apps bring (R with IRkernel).
    def _languages(self, app_ids: set[str]) -> list[str]:
        return [a.kernel for a in self.catalog.apps.values() if a.id in app_ids and a.kernel]

    def _built(self, record: BuildRecord) -> None:
        if self.last_use is not None and record.environment is not None:
            # issue 17: a build is a use; its environment says when, as the listing will.
            record.environment["last_used"] = self.last_use.record(record.environment_id)
        # Identical requests share one build but may name different datasets: every
        # dataset asked for with this environment gets its kernelspec. In the hub
        # service users' servers publish their own from their claims.
        datasets = {record.recipe.get("dataset") or ""}
        if self.site.mode == "local":
            datasets.update(self.claims.of(server_user()).get(record.environment_id, []))
        for dataset in sorted(datasets):
            recipe = {**record.recipe, "dataset": dataset or None}
            name = self.publish_kernelspec(recipe, record.environment_id, record.tag)
            if self.on_published is not None:  # issue 14
                self.on_published(name, record.environment_id, record.tag, dataset or None)

    async def kernelspecs_of(self, viewer: Viewer) -> list[dict[str, Any]]:
        """Hub service: the viewer's environment + dataset pairs, for their server to publish."""
        existing = {e["id"]: e for e in await self.builds.environments()}
        specs = []
        for environment, datasets in self.claims.of(viewer.name).items():
            env = existing.get(environment)
            if env is None:
                continue
            titles = [a.title for a in self.catalog.apps.values() if a.id in set(env["apps"])]
            for dataset in datasets:
                title = None
                if dataset:
                    try:
                        title = self.datasets.for_user(
                            dataset, viewer.name, viewer.groups, admin=viewer.admin
                        ).title
                    except (NotFound, Forbidden):
                        continue  # access withdrawn since
                specs.append(
                    {
                        "name": kernelspec_name(environment, dataset or None),
                        "environment": environment,
                        "image": env["tags"][0] if env["tags"] else env["image_id"],
                        "dataset": dataset or None,
                        "dataset_title": title,
                        "app_titles": titles,
                        "recipe": {**env["recipe"], "dataset": dataset or None},
                        "languages": self._languages(set(env["apps"])),  # issue 18
                    }
                )
        return specs
