"""Kernelspecs for built environments, so every Jupyter tool can start them.

Each (environment, dataset) pair a user built gets ``stardock-<env>-<dataset>``
in Jupyter's data directory: the Launcher, ``jupyter kernelspec list``,
``nbconvert --execute`` and ``jupyter console`` all see it. The spec names the
``stardock-provisioner`` and carries the image and the dataset *id*; the host
path is looked up in the operator's configuration at every start.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["KernelspecStore", "kernelspec_name"]

PROVISIONER = "stardock-provisioner"
PREFIX = "stardock-"
_SAFE = re.compile(r"[^a-z0-9_.-]+")


def kernelspec_name(environment: str, dataset: str | None) -> str:
    """Kernelspec names are lower case; dataset ids may not be, so fold them safely."""
    name = f"{PREFIX}{environment}"
    if dataset:
        name += "-" + _SAFE.sub("-", dataset.lower())
    return name


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

    def write(
        self,
        *,
        environment: str,
        image: str,
        dataset_id: str | None,
        dataset_title: str | None,
        app_titles: Iterable[str],
        recipe: Mapping[str, Any],
    ) -> str:
        name = kernelspec_name(environment, dataset_id)
        folder = self.kernels_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        spec = {
            # The provisioner composes the container's own command; argv documents it.
            "argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": display_name(app_titles, dataset_title),
            "language": "python",
            "interrupt_mode": "message",
            "metadata": {
                "kernel_provisioner": {
                    "provisioner_name": PROVISIONER,
                    "config": {
                        "image": image,
                        "environment": environment,
                        "dataset": dataset_id or "",
                    },
                },
                "stardock": {
                    "environment": environment,
                    "dataset": dataset_id,
                    "recipe": dict(recipe),
                },
                "debugger": False,
            },
        }
        tmp = folder / "kernel.json.tmp"
        tmp.write_text(json.dumps(spec, indent=1))
        tmp.replace(folder / "kernel.json")
        return name

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
