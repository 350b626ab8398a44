"""Build jobs: a queue with global and per-user limits, coalescing, timeouts, history.

The core of the build service; it never imports tornado. Engine calls run in
the engine's own threads (see engine.py), so a ten-minute build never blocks
the server. Identical recipes (same content hash) share one engine build;
a recipe whose image exists is answered at once without the builder.

Build records persist as one JSON file each under ``state_dir``, with the
build's log beside it, so history survives a restart. A build that was running
when the server died is marked failed ("interrupted by a server restart") when
the manager starts again. Records and logs are the owner's business alone:
0600 files in a 0700 folder, whatever the umask.

A build that succeeds keeps the environment it made in its record, and the
``on_built`` hook (the environments service's) publishes its kernelspec before
the log closes, so a viewer's final stream event already names both.
Why a step failed is written by :mod:`.build_failures`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import labels
from ..core.buildlog import BuildLog, StepOutput, clean_line, open_private
from ..core.catalog import Catalog
from ..core.recipe import BuildSpec, Recipe, compose
from ..engine import BuildResult, Engine, ImageInfo
from ..errors import BaseImageError, BuildFailed, Forbidden, NotFound, StarDockError
from ..labels import EnvironmentLabels
from .build_failures import describe_failure, timeout_sentence
from .build_records import BuildRecord, BuildState, environment_json, private_folder
from .locks import LockStore
from .registry import RegistryCopy, RegistryService

__all__ = ["INTERRUPTED", "BuildManager"]

log = logging.getLogger(__name__)

INTERRUPTED = "The build was interrupted by a server restart; start it again."


class BuildManager:
    """Queues, runs, coalesces and remembers builds."""

    def __init__(
        self,
        engine: Engine,
        *,
        catalog: Callable[[], Catalog],
        base_ref: str,
        state_dir: Path,
        max_concurrent: int = 2,
        max_per_user: int = 1,
        timeout: float = 3600.0,
        log_memory_bytes: int = 4 << 20,
        log_file_bytes: int = 64 << 20,
        repository: str = "stardock/env",
    ) -> None:
        self.engine = engine
        self._catalog = catalog
        self.base_ref = base_ref
        self.state_dir = state_dir
        self.max_concurrent = max_concurrent
        self.max_per_user = max_per_user
        self.timeout = timeout
        self.log_memory_bytes = log_memory_bytes
        self.log_file_bytes = log_file_bytes
        self.repository = repository
        self._records: dict[str, BuildRecord] = {}
        self._logs: dict[str, BuildLog] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._by_hash: dict[str, str] = {}  # content hash -> id of its active build
        self._running = 0
        self._running_by_user: dict[str, int] = {}
        self._slot_freed: asyncio.Condition | None = None
        self._submit_lock: asyncio.Lock | None = None
        self.engine_builds = 0  # engine builds started, for tests and benchmarks
        #: Called with each record that built successfully, before its log closes (the
        #: environments service publishes its kernelspecs there).
        self.on_built: Callable[[BuildRecord], None] | None = None
        # issue 17: takes each built image's lock (set by the environments service).
        self.locks: LockStore | None = None
        # issue 16: the site's registry (pull instead of build, push after, delete on removal).
        self.registry: RegistryService | None = None
        private_folder(self.state_dir)
        self._load()

    # -- persistence ------------------------------------------------------

    def _record_path(self, build_id: str) -> Path:
        return self.state_dir / f"{build_id}.json"

    def _log_path(self, build_id: str) -> Path:
        return self.state_dir / f"{build_id}.log"

    def _save(self, record: BuildRecord) -> None:
        path = self._record_path(record.id)
        tmp = path.with_suffix(".json.tmp")
        with open_private(tmp) as f:
            f.write(json.dumps(record.to_json(), indent=1))
        os.replace(tmp, path)  # atomic: a crash never leaves half a record

    def _load(self) -> None:
        for path in sorted(self.state_dir.glob("*.json")):
            try:
                record = BuildRecord.from_json(json.loads(path.read_text()))
            except (OSError, ValueError, TypeError, KeyError) as err:
                log.warning("StarDock: ignoring the unreadable build record %s: %s", path, err)
                continue
            if not record.state.finished:
                record.state = BuildState.FAILED
                record.error = INTERRUPTED
                record.finished = record.finished or time.time()
                self._save(record)
            self._records[record.id] = record

    # -- queries ----------------------------------------------------------

    def get(self, build_id: str, owner: str | None = None) -> BuildRecord:
        """The build; NotFound also when ``owner`` is given and is neither its owner nor a follower."""
        record = self._records.get(build_id)
        if record is None or (
            owner is not None and owner != record.owner and owner not in record.followers
        ):
            raise NotFound(f"There is no build {build_id!r}.")
        return record

    def records(self, owner: str | None = None) -> list[BuildRecord]:
        records = [
            r
            for r in self._records.values()
            if owner is None or owner == r.owner or owner in r.followers
        ]
        return sorted(records, key=lambda r: r.created, reverse=True)

    def active(self, content_hash: str) -> BuildRecord | None:
        """The queued or running build of this content hash, if any."""
        build_id = self._by_hash.get(content_hash)
        return self._records[build_id] if build_id is not None else None

    def log(self, build_id: str) -> BuildLog:
        """The live log, or one read back from its file for a build of an earlier run."""
        if build_id not in self._records:
            raise NotFound(f"There is no build {build_id!r}.")
        buildlog = self._logs.get(build_id)
        if buildlog is None:
            buildlog = BuildLog(None, max_memory_bytes=self.log_memory_bytes)
            with contextlib.suppress(OSError):
                with self._log_path(build_id).open(encoding="utf-8", errors="replace") as f:
                    for line in f:
                        buildlog.append(line.rstrip("\n"))
            buildlog.close()
        return buildlog

    async def base_image(self) -> ImageInfo:
        image = await self.engine.image(self.base_ref)
        if image is None and self.registry is not None:  # issue 16: the site's base, pulled
            fetched = await self.registry.fetch(self.base_ref, log.info)
            image = fetched[0] if fetched else None
        if image is None:
            raise BaseImageError(
                f"There is no base image {self.base_ref} yet. Ask the operator to run "
                "`jupyter stardock base` (or `jupyter stardock base --bootstrap` on a site "
                "with no image registry)."
            )
        return image

    async def compose(self, recipe: Recipe) -> BuildSpec:
        """The exact Dockerfile a recipe would build, with its hash (raises RecipeError)."""
        base = await self.base_image()
        if self.locks is not None and (recipe.apt_pins or recipe.pip_pins):
            recipe = await self.locks.without_held_pins(recipe, base)  # issue 17
        return compose(recipe, self._catalog(), base.id, repository=self.repository)

    async def environments(self) -> list[dict[str, Any]]:
        """This server's environments: images tagged in its repository, newest first."""
        images = [
            image
            for image in await self.engine.images(labels.ENVIRONMENT)
            if any(tag.startswith(f"{self.repository}:") for tag in image.tags)
        ]
        return sorted(
            (environment_json(i) for i in images), key=lambda e: e["created"], reverse=True
        )

    async def environment(self, env_id: str) -> ImageInfo:
        if not env_id or not all(c in "0123456789abcdef" for c in env_id):
            raise NotFound(f"There is no environment {env_id!r}.")
        image = await self.engine.image(f"{self.repository}:{env_id}")
        if image is None or EnvironmentLabels.from_labels(image.labels) is None:
            raise NotFound(f"There is no environment {env_id!r}.")
        return image

    async def remove_environment(self, env_id: str) -> None:
        image = await self.environment(env_id)
        await self.engine.remove_image(f"{self.repository}:{env_id}")
        if self.registry is not None:  # issue 16: and its manifest in the registry
            await self.registry.forget(f"{self.repository}:{env_id}")
        # Other tags of the same image (another repository) keep it alive; that is fine.
        log.info("StarDock: removed environment %s (%s)", env_id, image.id)

    # -- submitting -------------------------------------------------------

    async def submit(
        self, spec: BuildSpec, owner: str
    ) -> tuple[BuildRecord | None, ImageInfo | None]:
        """Start (or join) the build of ``spec`` (as :meth:`compose` made it).

        Returns ``(None, image)`` when the environment exists already, else
        ``(record, None)`` for a new or coalesced build.
        """
        # Between "is it built or building?" and "start it" there is an await (the
        # image lookup); without the lock, identical requests arriving together
        # would each start an engine build.
        if self._submit_lock is None:
            self._submit_lock = asyncio.Lock()
        async with self._submit_lock:
            active = self._by_hash.get(spec.content_hash)
            if active is not None:
                record = self._records[active]
                if owner != record.owner and owner not in record.followers:
                    record.followers.append(owner)
                    record.follower_datasets[owner] = spec.recipe.dataset
                    self._save(record)
                return record, None
            existing = await self.engine.image(spec.tag)
            if existing is not None:
                return None, existing
            record = self._start(spec, owner)
        return record, None

    def _start(self, spec: BuildSpec, owner: str) -> BuildRecord:
        record = BuildRecord(
            id=uuid.uuid4().hex[:12],
            owner=owner,
            recipe=spec.recipe.to_json(),
            content_hash=spec.content_hash,
            tag=spec.tag,
        )
        self._records[record.id] = record
        self._by_hash[spec.content_hash] = record.id
        self._logs[record.id] = BuildLog(
            self._log_path(record.id),
            max_memory_bytes=self.log_memory_bytes,
            max_file_bytes=self.log_file_bytes,
        )
        self._save(record)
        self._tasks[record.id] = asyncio.create_task(
            self._run(record, spec), name=f"stardock-build-{record.id}"
        )
        return record

    async def cancel(self, build_id: str, owner: str | None = None) -> BuildRecord:
        """Cancel a build; ``owner`` (None: an admin) must have started it, not only followed it."""
        record = self.get(build_id, owner)
        if owner is not None and owner != record.owner:
            # A follower joined someone else's build: cancelling it would take it
            # from its owner, who still wants it.
            raise Forbidden(
                "This build was already running for an identical recipe when you asked for "
                "it: you follow it, and only whoever started it can cancel it. It goes on, and "
                "your environment is ready when it ends; just stop watching it if you no "
                "longer need it."
            )
        task = self._tasks.get(build_id)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        return record

    async def wait(self, build_id: str) -> BuildRecord:
        task = self._tasks.get(build_id)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
        return self._records[build_id]

    async def shutdown(self) -> None:
        """Stop running builds; they are recorded as interrupted."""
        for build_id, task in list(self._tasks.items()):
            if not task.done():
                self._records[build_id].error = INTERRUPTED
                task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- running ----------------------------------------------------------

    # issue 16: an identical recipe built on another node is pulled, not built.
    async def _pull_or_build(
        self,
        spec: BuildSpec,
        labels: dict[str, str],
        on_lines: Callable[[list[str]], None],
        buildlog: BuildLog,
    ) -> tuple[BuildResult, RegistryCopy | None]:
        if self.registry is not None:
            fetched = await self.registry.fetch(spec.tag, buildlog.append)
            if fetched is not None:
                return BuildResult(image_id=fetched[0].id), fetched[1]
        self.engine_builds += 1
        result = await self.engine.build(
            spec.dockerfile, spec.context, labels=labels, on_lines=on_lines
        )
        return result, None

    def _may_start(self, owner: str) -> bool:
        return (
            self._running < self.max_concurrent
            and self._running_by_user.get(owner, 0) < self.max_per_user
        )

    async def _acquire(self, owner: str) -> None:
        if self._slot_freed is None:
            self._slot_freed = asyncio.Condition()
        async with self._slot_freed:
            await self._slot_freed.wait_for(lambda: self._may_start(owner))
            self._running += 1
            self._running_by_user[owner] = self._running_by_user.get(owner, 0) + 1

    async def _release(self, owner: str) -> None:
        assert self._slot_freed is not None
        async with self._slot_freed:
            self._running -= 1
            self._running_by_user[owner] -= 1
            self._slot_freed.notify_all()

    async def _run(self, record: BuildRecord, spec: BuildSpec) -> None:
        buildlog = self._logs[record.id]
        output = StepOutput()
        acquired = False
        try:
            buildlog.append(
                f"Queued: {len(spec.apps)} app(s), content hash {spec.content_hash[:16]}."
            )
            await self._acquire(record.owner)
            acquired = True
            record.state = BuildState.RUNNING
            record.started = time.time()
            self._save(record)

            def on_lines(lines: list[str]) -> None:
                # Stored as a terminal shows them, so quoting a failed step needs no cleaning.
                clean = [line for line in map(clean_line, lines) if line.strip()]
                buildlog.extend(clean)
                for line in clean:
                    step = output.add(line)
                    if step is not None:
                        record.step, record.steps = step

            labels = {**spec.labels, **EnvironmentLabels.build_labels(spec.dockerfile, record.id)}
            try:
                result, copy = await asyncio.wait_for(
                    self._pull_or_build(spec, labels, on_lines, buildlog),  # issue 16
                    timeout=self.timeout,
                )
            except TimeoutError:
                raise BuildFailed(timeout_sentence(spec, output, self.timeout)) from None
            except BuildFailed as err:
                described = describe_failure(spec, output, str(err))
                if described is None:
                    raise
                record.failure = described[1]
                raise BuildFailed(described[0]) from err
            # Tag only the finished image: nothing half-made is ever tagged.
            await self.engine.tag(result.image_id, spec.tag)
            image = await self.engine.image(spec.tag)
            if image is None:
                raise BuildFailed(
                    f"The image {spec.tag} was removed as soon as it was built; build again."
                )
            record.image_id = result.image_id
            record.environment = environment_json(image)
            if self.locks is not None:  # issue 17: the image's exact versions, kept with it
                record.environment["lock"] = await self.locks.for_build(image, buildlog.append)
            if self.registry is not None:  # issue 16: pushed, with its digest kept
                copy = copy or await self.registry.publish(spec.tag, buildlog.append)
                record.environment["registry"] = copy.to_json()
            record.state = BuildState.SUCCEEDED
            if self.on_built is not None:
                self.on_built(record)
            buildlog.append(f"Built environment {record.environment_id} ({spec.tag}).")
        except asyncio.CancelledError:
            record.state = (
                BuildState.FAILED if record.error == INTERRUPTED else BuildState.CANCELLED
            )
            record.error = record.error or "The build was cancelled."
            buildlog.append(f"ERROR: {record.error}")
        except StarDockError as err:
            record.state = BuildState.FAILED
            record.error = str(err)
            if isinstance(err, BuildFailed):
                buildlog.append(f"Build failed: {err}")
            else:
                buildlog.append(f"ERROR: {err}")
        except Exception as err:  # a bug: record it rather than lose the build silently
            log.exception("StarDock: build %s crashed", record.id)
            record.state = BuildState.FAILED
            record.error = (
                f"The build crashed inside jupyter-stardock: {err!r}. Please report this."
            )
        finally:
            if acquired:
                await self._release(record.owner)
            record.finished = time.time()
            self._by_hash.pop(record.content_hash, None)
            self._tasks.pop(record.id, None)
            self._save(record)
            buildlog.close()
