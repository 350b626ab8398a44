"""Kernelspecs for built environments, so every Jupyter tool can start them.

Each (environment, dataset) pair a user built gets ``stardock-<env>-<dataset>``
in Jupyter's data directory: the Launcher, ``jupyter kernelspec list``,
``nbconvert --execute`` and ``jupyter console`` all see it. The spec names the
``stardock-provisioner`` and carries the image and the dataset *id*; the host
path is looked up in the operator's configuration at every start.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import NoSuchKernel
from jupyter_core.utils import ensure_async

from .languages import Language, languages_of

__all__ = [
    "KernelspecStore",
    "LaunchableKernelSpecs",
    "kernelspec_name",
    "language_kernelspec_name",
]

PROVISIONER = "stardock-provisioner"
PREFIX = "stardock-"
_SAFE = re.compile(r"[^a-z0-9_.-]+")


def kernelspec_name(environment: str, dataset: str | None) -> str:
    """Kernelspec names are lower case; dataset ids may not be, so fold them safely."""
    name = f"{PREFIX}{environment}"
    if dataset:
        name += "-" + _SAFE.sub("-", dataset.lower())
    return name


# issue 18: one kernelspec per language of the environment.
def language_kernelspec_name(environment: str, dataset: str | None, language: str) -> str:
    """The kernelspec of ``language`` beside the Python one: ``stardock-<env>.r-<dataset>``.

    Environment ids are hex, so the dot after one cannot be part of another
    environment's or a dataset's kernelspec name.
    """
    return kernelspec_name(f"{environment}.{language}", dataset)


def display_name(app_titles: Iterable[str], dataset_title: str | None) -> str:
    apps = ", ".join(app_titles) or "base"
    parts = ["StarDock", apps]
    if dataset_title:
        parts.append(dataset_title)
    return " · ".join(parts)


class KernelspecStore:
    """Writes and removes StarDock kernelspecs in one ``kernels`` folder."""

    def __init__(self, kernels_dir: Path) -> None:
        self.kernels_dir = kernels_dir
        #: Called with the environment of each kernelspec written (the server's listing
        #: learns of a new environment at once).
        self.on_write: Callable[[str], None] | None = None

    def write(
        self,
        *,
        environment: str,
        image: str,
        dataset_id: str | None,
        dataset_title: str | None,
        app_titles: Iterable[str],
        recipe: Mapping[str, Any],
        languages: Iterable[str] = (),
    ) -> str:
        """Write the environment's Python kernelspec (its name is returned) and one for each
        of its other ``languages`` (issue 18: catalog apps' ``kernel`` ids)."""
        name = kernelspec_name(environment, dataset_id)
        titles = list(app_titles)
        extra = languages_of(languages)
        python = display_name(titles, dataset_title)
        self._write_one(
            name,
            self._spec(
                environment, image, dataset_id, python + (" · Python" if extra else ""), recipe
            ),
        )
        for language in extra:
            self._write_one(
                language_kernelspec_name(environment, dataset_id, language.id),
                self._spec(
                    environment,
                    image,
                    dataset_id,
                    f"{python} · {language.title}",
                    recipe,
                    language,
                ),
            )
        if self.on_write is not None:
            self.on_write(environment)
        return name

    def _write_one(self, name: str, spec: Mapping[str, Any]) -> None:
        folder = self.kernels_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "kernel.json.tmp"
        tmp.write_text(json.dumps(spec, indent=1))
        tmp.replace(folder / "kernel.json")

    @staticmethod
    def _spec(
        environment: str,
        image: str,
        dataset_id: str | None,
        title: str,
        recipe: Mapping[str, Any],
        language: Language | None = None,
    ) -> dict[str, Any]:
        config = {"image": image, "environment": environment, "dataset": dataset_id or ""}
        spec = {
            # The provisioner composes the container's own command; argv documents it.
            "argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": title,
            "language": "python",
            "interrupt_mode": "message",
            "metadata": {
                "kernel_provisioner": {
                    "provisioner_name": PROVISIONER,
                    "config": config,
                },
                "stardock": {
                    "environment": environment,
                    "dataset": dataset_id,
                    "recipe": dict(recipe),
                },
                "debugger": False,
            },
        }
        if language is not None:
            # Same container, mounts and hardening; the provisioner runs this language's kernel.
            config["language"] = language.id
            spec.update(
                argv=list(language.argv),
                language=language.language,
                interrupt_mode=language.interrupt_mode,
            )
        return spec

    def names(self) -> list[str]:
        if not self.kernels_dir.is_dir():
            return []
        return sorted(
            p.name
            for p in self.kernels_dir.iterdir()
            if p.name.startswith(PREFIX) and (p / "kernel.json").is_file()
        )

    def read(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(json.loads((self.kernels_dir / name / "kernel.json").read_text()))
        except (OSError, ValueError):
            return None

    def environment_of(self, name: str) -> str | None:
        spec = self.read(name) or {}
        return ((spec.get("metadata") or {}).get("stardock") or {}).get("environment")

    def remove(self, name: str) -> None:
        if name.startswith(PREFIX):
            shutil.rmtree(self.kernels_dir / name, ignore_errors=True)

    def remove_environment(self, environment: str) -> list[str]:
        removed = []
        for name in self.names():
            if self.environment_of(name) == environment:
                shutil.rmtree(self.kernels_dir / name, ignore_errors=True)
                removed.append(name)
        return removed

    def prune(self, existing_environments: set[str]) -> list[str]:
        """Remove kernelspecs whose environment image is gone."""
        removed = []
        for name in self.names():
            environment = self.environment_of(name)
            if environment is not None and environment not in existing_environments:
                shutil.rmtree(self.kernels_dir / name, ignore_errors=True)
                removed.append(name)
        return removed


def stardock_meta(spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """The StarDock part of a kernelspec (as a dict), or None for any other kernel."""
    metadata = spec.get("metadata") or {}
    provisioner = (metadata.get("kernel_provisioner") or {}).get("provisioner_name")
    if provisioner != PROVISIONER:
        return None
    return dict(metadata.get("stardock") or {})


class LaunchableKernelSpecs:
    """A server's kernel spec manager as its REST API (and so the Launcher) sees it.

    StarDock kernelspecs are files in the unix user's Jupyter data folder, which
    every server of that user reads, whatever its datasets or engine. A server
    lists one only when it can start it: its dataset is one of this server's,
    visible to its user, and its environment exists on this server's engine. The
    engine's answer is kept for ``ttl`` seconds, so listing kernelspecs does not
    call the engine each time; with the engine down, no StarDock kernel is offered.

    Everything else is the wrapped manager's: other kernels, starting kernels (the
    kernel manager holds the wrapped one), and tools without a server (nbconvert,
    ``jupyter console``), which read the files as they are.
    """

    def __init__(
        self,
        wrapped: Any,
        *,
        datasets: Callable[[], set[str]],
        environments: Callable[[], Awaitable[set[str]]],
        ttl: float,
        on_error: Callable[[Exception], None] = lambda err: None,
    ) -> None:
        self._wrapped = wrapped
        self._datasets = datasets
        self._fetch_environments = environments
        self._ttl = ttl
        self._on_error = on_error
        self._environments: set[str] = set()
        self._fetched = float("-inf")
        self._pending: asyncio.Future[set[str]] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)

    async def environments(self) -> set[str]:
        """The engine's environments, at most ``ttl`` seconds old; one engine call at a time."""
        if time.monotonic() - self._fetched < self._ttl:
            return self._environments
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._refresh())
        return await asyncio.shield(self._pending)

    async def _refresh(self) -> set[str]:
        try:
            self._environments = set(await self._fetch_environments())
        except Exception as err:  # an engine outage: offer no StarDock kernel until it is back
            self._environments = set()
            self._on_error(err)
        finally:
            self._fetched = time.monotonic()
            self._pending = None
        return self._environments

    def expire(self) -> None:
        """Ask the engine again at the next listing (it has just come back)."""
        self._fetched = float("-inf")

    def add_environment(self, environment: str) -> None:
        """A build just made it: offer its kernels now, not after the cache expires."""
        self._environments.add(environment)

    def launchable(self, spec: Mapping[str, Any], environments: set[str]) -> bool:
        meta = stardock_meta(spec)
        if meta is None:
            return True
        dataset = meta.get("dataset")
        if dataset and dataset not in self._datasets():
            return False
        return meta.get("environment") in environments

    async def get_all_specs(self) -> dict[str, Any]:
        specs = await ensure_async(self._wrapped.get_all_specs())
        if not any(stardock_meta(s.get("spec") or {}) is not None for s in specs.values()):
            return dict(specs)  # no StarDock kernelspec: no reason to ask the engine
        environments = await self.environments()
        return {
            name: s
            for name, s in specs.items()
            if self.launchable(s.get("spec") or {}, environments)
        }

    async def get_kernel_spec(self, kernel_name: str) -> Any:
        spec = await ensure_async(self._wrapped.get_kernel_spec(kernel_name))
        as_dict = spec.to_dict() if hasattr(spec, "to_dict") else dict(spec)
        if stardock_meta(as_dict) is not None and not self.launchable(
            as_dict, await self.environments()
        ):
            raise NoSuchKernel(kernel_name)
        return spec
