"""Taking an image's lock, and keeping it by image id.

The lock is read from the finished image, not written by a step of its build:
a container of the image runs ``dpkg-query``, the kernel venv's ``pip freeze``
and R's ``installed.packages()``, hardened as a kernel is (no network, read-only
root, every capability dropped, no new privileges, unprivileged uid, memory and
process limits) and removed afterwards. Why not a final build step: it would
change every environment's Dockerfile, and so its content hash (every image
already built would be built again), and an image built before locks existed
would have none. An image never changes, so its lock is a function of its id:
taken once, it is kept under the server's state folder (0600 files in a 0700
folder) and read back from there, by the build, the environment's JSON and
the archive at a kernel's end alike.

The output is the image's own (a user's commands could replace dpkg-query), so
it is parsed strictly as data and bounded; the worst a hostile image can do is
lie about itself.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..core.buildlog import open_private
from ..core.lock import Lock, parse_lock_output, pins_for
from ..core.recipe import Recipe
from ..engine import ContainerSpec, Engine, ImageInfo
from ..errors import EngineError, StarDockError
from ..labels import EnvironmentLabels
from .build_records import private_folder

__all__ = ["LOCK_SCRIPT", "LockStore"]

log = logging.getLogger(__name__)

#: Printed as ``kind<TAB>name<TAB>version`` lines; anything else on the output is ignored.
LOCK_SCRIPT = r"""
dpkg-query -W -f='${db:Status-Status}\t${Package}\t${Version}\n' 2>/dev/null \
  | sed -n 's/^installed\t/debian\t/p'
py="${STARDOCK_PYTHON:-/opt/stardock/venv/bin/python}"
if [ -x "$py" ]; then
  "$py" -m pip --disable-pip-version-check --no-cache-dir freeze --local --all 2>/dev/null \
    | sed -n 's/^\([A-Za-z0-9._-]*\)==\(.*\)$/python\t\1\t\2/p'
fi
if command -v Rscript >/dev/null 2>&1; then
  Rscript -e 'ip <- installed.packages(); for (i in seq_len(nrow(ip)))
    cat("r\t", ip[i, "Package"], "\t", ip[i, "Version"], "\n", sep = "")' 2>/dev/null
fi
exit 0
"""

#: How long the lock container may take (R's start is the slowest part).
LOCK_TIMEOUT = 120.0
_LOG_LINES = 200_000


class LockStore:
    """Locks by image id: read from the folder, or taken from the image once."""

    def __init__(self, engine: Engine, folder: Path) -> None:
        self.engine = engine
        self.folder = folder

    def _path(self, image_id: str) -> Path:
        return self.folder / f"{image_id.removeprefix('sha256:')}.json"

    def cached(self, image_id: str) -> Lock | None:
        """The kept lock of this image, or None (never runs a container)."""
        if not image_id:
            return None
        try:
            data = json.loads(self._path(image_id).read_text())
            return Lock.from_json(data)
        except (OSError, ValueError):
            return None

    def _keep(self, lock: Lock) -> None:
        private_folder(self.folder)
        path = self._path(lock.image_id)
        tmp = path.with_suffix(".tmp")
        with open_private(tmp) as f:
            f.write(json.dumps(lock.to_json()))
        tmp.replace(path)

    async def lock_of(self, image: ImageInfo, base_image: str = "") -> Lock:
        """The image's lock, taken now when it was never taken (raises StarDockError)."""
        kept = self.cached(image.id)
        if kept is not None:
            return kept
        text = await self.engine.run_long(self._run_lock_container, image.id)
        lock = parse_lock_output(text, base_image=base_image, image_id=image.id)
        if not lock.debian:
            raise StarDockError(
                f"The image {image.id[:19]} listed no Debian packages; its lock was not taken."
            )
        await self.engine.run(self._keep, lock)
        return lock

    async def for_build(
        self, image: ImageInfo, say: Callable[[str], None]
    ) -> dict[str, Any] | None:
        """The lock JSON of a just-built environment, said in its log; None when not taken.

        A lock that cannot be taken does not fail a good build: it is taken again
        when the environment's lock is next asked for.
        """
        built = EnvironmentLabels.from_labels(image.labels)
        try:
            lock = await self.lock_of(image, built.base_image if built else "")
        except StarDockError as err:
            say(f"The lock of the environment was not taken: {err}")
            return None
        say(f"Locked: {lock.summary()}.")
        return lock.to_json()

    async def without_held_pins(self, recipe: Recipe, base: ImageInfo) -> Recipe:
        """The recipe pinning only what the base image does not already hold at that version."""
        held = await self.lock_of(base)
        wanted = Lock(debian=dict(recipe.apt_pins), python=dict(recipe.pip_pins))
        pins = pins_for(wanted, held)
        return replace(
            recipe, apt_pins=tuple(pins["apt"].items()), pip_pins=tuple(pins["pip"].items())
        )

    def _run_lock_container(self, image_id: str) -> str:
        engine = self.engine
        spec = ContainerSpec(
            image=image_id,
            command=["/bin/sh", "-c", LOCK_SCRIPT],
            user="65534:65534",
            environment={"HOME": "/tmp"},
            tmpfs={"/tmp": "rw,nosuid,nodev,noexec,size=16m"},
            network_mode="none",
            mem_limit="512m",
            nano_cpus=1_000_000_000,
            pids_limit=64,
            init=True,
            log_max_size="32m",
            log_max_files=1,
        )
        container = engine.run_container_sync(spec)
        try:
            deadline = time.monotonic() + LOCK_TIMEOUT
            while True:
                data = engine.inspect_container_sync(container) or {}
                if not (data.get("State") or {}).get("Running"):
                    break
                if time.monotonic() > deadline:
                    raise EngineError(
                        f"Taking the lock of {image_id[:19]} took over {LOCK_TIMEOUT:.0f} s;"
                        " it was stopped."
                    )
                time.sleep(0.2)
            return engine.container_logs_sync(container, _LOG_LINES)
        finally:
            try:
                engine.remove_container_sync(container)
            except StarDockError as err:
                log.warning("StarDock: the lock container %s was not removed: %s", container, err)
