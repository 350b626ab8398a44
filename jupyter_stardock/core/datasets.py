"""The dataset registry: what an operator configured, who may mount what, and how big it is.

Requests name datasets by id only; a host path never comes from a request. The
size scan runs off the event loop, is cached, and never follows a symlink out
of the dataset's root.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Forbidden, NotFound

__all__ = ["Dataset", "DatasetRegistry", "DatasetSize", "scan"]

DATASET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_KNOWN_KEYS = {"path", "title", "description", "allowed_users", "allowed_groups"}


@dataclass(frozen=True)
class Dataset:
    id: str
    path: Path
    title: str
    description: str = ""
    #: None means everyone; an empty tuple means nobody (unless a group allows).
    allowed_users: tuple[str, ...] | None = None
    allowed_groups: tuple[str, ...] | None = None

    def may_use(self, user: str | None, groups: Iterable[str] = (), *, admin: bool = False) -> bool:
        if admin or (self.allowed_users is None and self.allowed_groups is None):
            return True
        if user is not None and user in (self.allowed_users or ()):
            return True
        return bool(set(groups) & set(self.allowed_groups or ()))


@dataclass(frozen=True)
class DatasetSize:
    files: int
    bytes: int
    exists: bool
    problem: str | None = None
    scanned_at: float = field(default_factory=time.time)


def scan(root: Path) -> DatasetSize:
    """Count regular files and bytes below ``root`` (blocking).

    Symlinks are counted only when they resolve to a regular file inside the
    root; symlinked directories are never entered (no escapes, no loops).
    """
    try:
        real_root = root.resolve(strict=True)
    except (OSError, RuntimeError):
        return DatasetSize(0, 0, exists=False, problem=f"The folder {root} does not exist.")
    if not real_root.is_dir():
        return DatasetSize(0, 0, exists=False, problem=f"{root} is not a folder.")
    files = total = 0
    for dirpath, _dirnames, filenames in os.walk(
        real_root, followlinks=False, onerror=lambda e: None
    ):
        for name in filenames:
            full = os.path.join(dirpath, name)
            try:
                st = os.lstat(full)
                if os.path.islink(full):
                    target = Path(full).resolve(strict=True)
                    if not target.is_relative_to(real_root) or not target.is_file():
                        continue
                    st = os.stat(target)
                elif not os.path.isfile(full):
                    continue
            except (OSError, RuntimeError):
                continue
            files += 1
            total += st.st_size
    return DatasetSize(files, total, exists=True)


class DatasetRegistry:
    """Datasets from ``c.StarDockApp.datasets``; malformed entries are reported, not fatal."""

    def __init__(self, specs: Mapping[str, Any], *, cache_seconds: float = 300.0) -> None:
        self.cache_seconds = cache_seconds
        self.problems: list[str] = []
        self._datasets: dict[str, Dataset] = {}
        self._sizes: dict[str, DatasetSize] = {}
        self._pending: dict[str, asyncio.Future[DatasetSize]] = {}
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="stardock-scan")
        # issue 19: datasets staged from archives join the configured ones (add_source).
        self._sources: list[Callable[[], Iterable[Dataset]]] = []
        for key, spec in specs.items():
            try:
                self._datasets[key] = self._parse(key, spec)
            except ValueError as err:
                self.problems.append(f"Dataset {key!r} is ignored: {err}")

    @staticmethod
    def _parse(key: str, spec: Any) -> Dataset:
        if not isinstance(key, str) or not DATASET_ID.fullmatch(key):
            raise ValueError(
                "a dataset id is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        if isinstance(spec, str):
            spec = {"path": spec}
        if not isinstance(spec, Mapping) or not spec.get("path"):
            raise ValueError("it needs at least a 'path'")
        unknown = set(spec) - _KNOWN_KEYS
        if unknown:
            raise ValueError(
                f"unknown keys {sorted(unknown)}; known keys are {sorted(_KNOWN_KEYS)}"
            )

        def names(value: Any, what: str) -> tuple[str, ...] | None:
            if value is None:
                return None
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"'{what}' must be a list of names")
            return tuple(value)

        path = Path(str(spec["path"])).expanduser()
        if not path.is_absolute():
            raise ValueError(f"its path {str(path)!r} must be absolute")
        return Dataset(
            id=key,
            path=path,
            title=str(spec.get("title") or key),
            description=str(spec.get("description") or ""),
            allowed_users=names(spec.get("allowed_users"), "allowed_users"),
            allowed_groups=names(spec.get("allowed_groups"), "allowed_groups"),
        )

    # issue 19: staged datasets (read-only, their owner's) are listed and mounted like any other.
    def add_source(self, source: Callable[[], Iterable[Dataset]]) -> None:
        """More datasets, asked for at each lookup; a configured id wins over a staged one."""
        self._sources.append(source)

    def _all(self) -> dict[str, Dataset]:
        if not self._sources:
            return self._datasets
        found = {d.id: d for source in self._sources for d in source()}
        return {**found, **self._datasets}

    def __iter__(self) -> Iterator[Dataset]:
        return iter(self._all().values())

    def __len__(self) -> int:
        return len(self._all())

    def get(self, dataset_id: str) -> Dataset:
        datasets = self._all()
        try:
            return datasets[dataset_id]
        except KeyError:
            known = ", ".join(sorted(datasets)) or "none are configured"
            raise NotFound(f"There is no dataset {dataset_id!r} (known: {known}).") from None

    def for_user(
        self, dataset_id: str, user: str | None, groups: Iterable[str] = (), *, admin: bool = False
    ) -> Dataset:
        """The dataset, if this user may mount it: NotFound or Forbidden otherwise."""
        # hubcover: another user's staged dataset answers as an unknown one, and the
        # sentence lists only what this user may use (in a hub, staged datasets are private).
        groups = list(groups)
        dataset = self._all().get(dataset_id)
        if dataset is None or (
            dataset.id not in self._datasets and not dataset.may_use(user, groups, admin=admin)
        ):
            visible = self.visible_to(user, groups, admin=admin)
            known = ", ".join(sorted(d.id for d in visible)) or "none are open to you"
            raise NotFound(f"There is no dataset {dataset_id!r} (known: {known}).")
        if not dataset.may_use(user, groups, admin=admin):
            raise Forbidden(
                f"You may not use the dataset {dataset.title!r} ({dataset.id}). "
                "Ask the operator of this server to grant you access."
            )
        return dataset

    def visible_to(
        self, user: str | None, groups: Iterable[str] = (), *, admin: bool = False
    ) -> list[Dataset]:
        groups = list(groups)
        return [d for d in self._all().values() if d.may_use(user, groups, admin=admin)]

    async def size(self, dataset: Dataset) -> DatasetSize:
        """Cached size; concurrent callers share one scan."""
        cached = self._sizes.get(dataset.id)
        if cached is not None and time.time() - cached.scanned_at < self.cache_seconds:
            return cached
        pending = self._pending.get(dataset.id)
        if pending is None:
            loop = asyncio.get_running_loop()
            pending = asyncio.ensure_future(
                loop.run_in_executor(self._executor, scan, dataset.path)
            )
            self._pending[dataset.id] = pending
            pending.add_done_callback(lambda _f: self._pending.pop(dataset.id, None))
        result = await asyncio.shield(pending)
        self._sizes[dataset.id] = result
        return result

    async def describe(self, dataset: Dataset) -> dict[str, Any]:
        size = await self.size(dataset)
        return {
            "id": dataset.id,
            "title": dataset.title,
            "description": dataset.description,
            "staged": dataset.id not in self._datasets,  # issue 19
            "files": size.files,
            "bytes": size.bytes,
            "exists": size.exists,
            "problem": size.problem,
        }

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
