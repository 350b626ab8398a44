"""Where a recipe and its lock come from: an archive, a notebook, a lock file, an environment.

Shared by ``rebuild`` and ``diff``. Only the archive's ``manifest.json`` is read
(nothing is unpacked), files are read up to a bound, and every lock is checked
entry by entry (:meth:`Lock.from_json`) before it is used.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..client.api import StarDockClient
from ..core.lock import LOCK_FORMAT, Lock
from ..errors import StarDockError

__all__ = ["Source", "read_source"]

_MAX_BYTES = 64 << 20  # bigger than any manifest or notebook StarDock writes
_NOTEBOOK_KEY = "stardock"


@dataclass(frozen=True)
class Source:
    """What was read: a name for sentences, the recipe (if any) and the lock (if any)."""

    what: str
    recipe: Mapping[str, Any] | None
    lock: Lock | None

    def need_lock(self) -> Lock:
        if self.lock is None:
            raise StarDockError(
                f"{self.what} carries no lock (it was made before StarDock recorded exact"
                " versions, or by hand), so there is nothing to pin or compare; rebuild its"
                " recipe with `jupyter stardock build` instead."
            )
        return self.lock

    def need_recipe(self) -> Mapping[str, Any]:
        if not self.recipe:
            raise StarDockError(
                f"{self.what} has no StarDock recipe: a notebook records one in its metadata"
                f' ("{_NOTEBOOK_KEY}") only when it was opened on a StarDock environment from the'
                " panel, and an archive in its manifest. Give an archive or such a notebook."
            )
        return self.recipe


def _read_json(path: Path, what: str) -> Any:
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_BYTES + 1)
    except OSError as err:
        raise StarDockError(f"{what} cannot be read: {err.strerror or err}.") from err
    if len(data) > _MAX_BYTES:
        raise StarDockError(f"{what} is over {_MAX_BYTES >> 20} MiB: not a notebook or lock.")
    try:
        return json.loads(data)
    except ValueError:
        return None


def _manifest(path: Path, what: str) -> Mapping[str, Any]:
    try:
        with tarfile.open(path, "r:gz") as tar:
            member = tar.getmember("manifest.json")
            f = tar.extractfile(member) if member.isfile() else None
            raw = f.read(_MAX_BYTES + 1) if f is not None else b""
        manifest = json.loads(raw)
    except (KeyError, OSError, tarfile.TarError, ValueError) as err:
        raise StarDockError(
            f"{what} is a tar archive but not a StarDock outputs archive (no readable"
            f" manifest.json in it: {err})."
        ) from err
    if not isinstance(manifest, Mapping):
        raise StarDockError(f"{what}'s manifest.json is not a JSON object.")
    return manifest


def _lock_of(raw: Any, what: str) -> Lock | None:
    return None if raw is None else Lock.from_json(raw, where=f"the lock in {what}")


def read_source(ref: str, client: Callable[[], StarDockClient] | None = None) -> Source:
    """Read ``ref``: an archive, a notebook, a lock file, or (given a client) an environment id."""
    path = Path(ref).expanduser()
    if not path.exists():
        if client is None:
            raise StarDockError(f"There is no file {ref!r}; give an archive or a notebook.")
        api = client()
        env = api.environment(api.resolve_environment(ref)["id"])
        what = f"the environment {env['id']}"
        return Source(what, env.get("recipe"), _lock_of(env.get("lock"), what))
    if path.is_dir():
        raise StarDockError(f"{ref} is a folder; give an archive, a notebook or a lock file.")
    if tarfile.is_tarfile(path):
        what = f"the archive {path.name}"
        manifest = _manifest(path, what)
        return Source(what, manifest.get("recipe"), _lock_of(manifest.get("lock"), what))
    data = _read_json(path, ref)
    if isinstance(data, Mapping) and data.get("format") == LOCK_FORMAT:
        what = f"the lock file {path.name}"
        return Source(what, None, _lock_of(data, what))
    if isinstance(data, Mapping) and isinstance(data.get("cells"), list):
        what = f"the notebook {path.name}"
        meta = (data.get("metadata") or {}).get(_NOTEBOOK_KEY)
        if not isinstance(meta, Mapping):
            meta = {}
        recipe = meta.get("recipe") if isinstance(meta.get("recipe"), Mapping) else None
        return Source(what, recipe, _lock_of(meta.get("lock"), what))
    raise StarDockError(
        f"{ref} is neither a StarDock outputs archive (.tar.gz with a manifest.json), nor a"
        " notebook, nor a lock file; give one of those."
    )
