"""The labels StarDock puts on the engine's objects, written and read in one place.

Labels are how StarDock's state survives a server restart: an environment image
carries its recipe and Dockerfile, a kernel container carries everything needed
to archive or adopt it without the server that started it. Every label key is
built here from one prefix, and each kind of object has a typed view with
``to_labels`` (what the engine stores) and ``from_labels`` (what a reader gets,
``None`` when the object is not of that kind). Readers never index a label by a
string of their own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BASE",
    "ENVIRONMENT",
    "KERNEL",
    "PREFIX",
    "BaseImageLabels",
    "EnvironmentLabels",
    "KernelLabels",
    "ServerLabels",
    "recipe_from_labels",
]

PREFIX = "org.jupyter-stardock"
#: The package version that made the object (every kind carries it).
VERSION = f"{PREFIX}.version"

#: Present (value "1") on every environment image built from a recipe; the filter for listings.
ENVIRONMENT = f"{PREFIX}.environment"
#: Canonical JSON of the image part of the recipe (no dataset).
RECIPE = f"{PREFIX}.recipe"
#: The full sha256 of the build input; the tag carries its first 16 digits.
CONTENT_HASH = f"{PREFIX}.content-hash"
#: Installed app ids, comma-separated, in install order (dependencies included).
APPS = f"{PREFIX}.apps"
#: The id of the base image the environment was built on.
BASE_IMAGE = f"{PREFIX}.base-image"
DOCKERFILE = f"{PREFIX}.dockerfile"
BUILD_ID = f"{PREFIX}.build-id"

#: The kernel id on every kernel container; the filter for listings.
KERNEL = f"{PREFIX}.kernel"

#: Present (value "1") on the base image StarDock bootstrapped.
BASE = f"{PREFIX}.base"

_INSTANCE = f"{PREFIX}.server.instance"
_LINEAGE = f"{PREFIX}.server.lineage"


def _canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def recipe_from_labels(labels: Mapping[str, str] | None) -> dict[str, Any]:
    """The recipe an environment image was built from (its label); {} when unreadable."""
    try:
        recipe = json.loads((labels or {}).get(RECIPE) or "{}")
    except (ValueError, TypeError):
        return {}
    return dict(recipe) if isinstance(recipe, dict) else {}


@dataclass(frozen=True)
class EnvironmentLabels:
    """What an environment image says about itself."""

    #: The image part of the recipe (no dataset), as plain JSON data.
    recipe: Mapping[str, Any]
    #: The full sha256 of the build input; the tag carries its first 16 digits.
    content_hash: str
    #: Installed app ids in install order (dependencies included).
    apps: tuple[str, ...] = ()
    #: The id of the base image it was built on.
    base_image: str = ""
    #: The Dockerfile it was built from (added by the build, not by the composer).
    dockerfile: str = ""
    #: The build that made it.
    build_id: str = ""
    version: str = ""

    @property
    def env_id(self) -> str:
        """The short id users see: the tag's 16 digits."""
        return self.content_hash[:16]

    def to_labels(self) -> dict[str, str]:
        labels = {
            ENVIRONMENT: "1",
            RECIPE: _canonical_json(dict(self.recipe)),
            CONTENT_HASH: self.content_hash,
            APPS: ",".join(self.apps),
            BASE_IMAGE: self.base_image,
        }
        # Only what is known: the composer's labels are part of the build input, the
        # build's own (Dockerfile, build id) are added when the build runs.
        for key, value in ((DOCKERFILE, self.dockerfile), (BUILD_ID, self.build_id)):
            if value:
                labels[key] = value
        if self.version:
            labels[VERSION] = self.version
        return labels

    @classmethod
    def from_labels(cls, labels: Mapping[str, str] | None) -> EnvironmentLabels | None:
        labels = labels or {}
        if ENVIRONMENT not in labels:
            return None
        return cls(
            recipe=recipe_from_labels(labels),
            content_hash=labels.get(CONTENT_HASH, ""),
            apps=tuple(a for a in labels.get(APPS, "").split(",") if a),
            base_image=labels.get(BASE_IMAGE, ""),
            dockerfile=labels.get(DOCKERFILE, ""),
            build_id=labels.get(BUILD_ID, ""),
            version=labels.get(VERSION, ""),
        )

    @staticmethod
    def build_labels(dockerfile: str, build_id: str) -> dict[str, str]:
        """The labels a build adds to the composer's: what it was built from, and by which build."""
        return {DOCKERFILE: dockerfile, BUILD_ID: build_id}


@dataclass(frozen=True)
class ServerLabels:
    """Which server started a kernel: its instance, and the lineage its restarts share."""

    instance: str
    lineage: str

    def to_labels(self) -> dict[str, str]:
        return {_INSTANCE: self.instance, _LINEAGE: self.lineage}

    @classmethod
    def from_labels(cls, labels: Mapping[str, str] | None) -> ServerLabels | None:
        """None for a kernel started before servers had lineages (it is matched by archive folder)."""
        labels = labels or {}
        if _LINEAGE not in labels:
            return None
        return cls(instance=labels.get(_INSTANCE, ""), lineage=labels[_LINEAGE])


@dataclass(frozen=True)
class KernelLabels:
    """What a kernel container says about itself: enough to archive or adopt it later."""

    kernel_id: str
    #: The kernel's name in jupyter_client (the kernelspec it was started from).
    name: str = ""
    #: The StarDock kernelspec name (the environment's).
    spec: str = ""
    #: The user it runs for ("" in a single-user server).
    owner: str = ""
    #: The environment's image reference.
    environment: str = ""
    dataset: str = ""
    dataset_title: str = ""
    #: Where the dataset is mounted inside the container.
    data_mount: str = ""
    #: The host folder mounted at /outputs, and the folder the user sees it as.
    outputs: str = ""
    outputs_view: str = ""
    #: Where the kernel's archive goes when it stops.
    archives: str = ""
    started: float = 0.0
    #: The server-only folder with the connection file, and the ipc sockets' folder.
    runtime: str = ""
    ipc: str = ""
    #: The id the user's server knows the kernel by (differs from kernel_id in the hub service).
    client_id: str = ""
    server: ServerLabels | None = None
    version: str = ""
    # issue 14: a warm pool's slot says so; its claim record (kernels/pool_claim.py) names
    # the kernel that took it, since a running container's labels cannot change.
    pool: str = ""

    def to_labels(self) -> dict[str, str]:
        labels = {
            KERNEL: self.kernel_id,
            f"{KERNEL}.name": self.name,
            f"{KERNEL}.spec": self.spec,
            f"{KERNEL}.owner": self.owner,
            f"{KERNEL}.environment": self.environment,
            f"{KERNEL}.dataset": self.dataset,
            f"{KERNEL}.dataset.title": self.dataset_title,
            f"{KERNEL}.data-mount": self.data_mount,
            f"{KERNEL}.outputs": self.outputs,
            f"{KERNEL}.outputs-view": self.outputs_view,
            f"{KERNEL}.archives": self.archives,
            f"{KERNEL}.started": f"{self.started:.3f}",
            f"{KERNEL}.runtime": self.runtime,
            f"{KERNEL}.ipc": self.ipc,
            f"{KERNEL}.client-id": self.client_id or self.kernel_id,
            VERSION: self.version,
            **(self.server.to_labels() if self.server else {}),
        }
        if self.pool:  # issue 14: only on a pool's slot
            labels[f"{KERNEL}.pool"] = self.pool
        return labels

    @classmethod
    def from_labels(cls, labels: Mapping[str, str] | None) -> KernelLabels | None:
        labels = labels or {}
        kernel_id = labels.get(KERNEL)
        if not kernel_id:
            return None

        def get(key: str) -> str:
            return labels.get(f"{KERNEL}.{key}") or ""

        try:
            started = float(get("started") or 0)
        except ValueError:
            started = 0.0
        return cls(
            kernel_id=kernel_id,
            name=get("name"),
            spec=get("spec"),
            owner=get("owner"),
            environment=get("environment"),
            dataset=get("dataset"),
            dataset_title=get("dataset.title"),
            data_mount=get("data-mount"),
            outputs=get("outputs"),
            outputs_view=get("outputs-view"),
            archives=get("archives"),
            started=started,
            runtime=get("runtime"),
            ipc=get("ipc"),
            client_id=get("client-id") or kernel_id,
            server=ServerLabels.from_labels(labels),
            version=labels.get(VERSION, ""),
            pool=get("pool"),  # issue 14
        )


@dataclass(frozen=True)
class BaseImageLabels:
    """What the bootstrapped base image says about how it was made."""

    from_ref: str
    from_id: str = ""
    content_hash: str = ""
    extra_ca: tuple[str, ...] = ()
    version: str = ""

    def to_labels(self) -> dict[str, str]:
        return {
            BASE: "1",
            f"{BASE}.from": self.from_ref,
            f"{BASE}.from-id": self.from_id,
            f"{BASE}.content-hash": self.content_hash,
            f"{BASE}.extra-ca": ",".join(sorted(self.extra_ca)),
            VERSION: self.version,
        }

    @classmethod
    def from_labels(cls, labels: Mapping[str, str] | None) -> BaseImageLabels | None:
        labels = labels or {}
        if BASE not in labels:
            return None
        return cls(
            from_ref=labels.get(f"{BASE}.from", ""),
            from_id=labels.get(f"{BASE}.from-id", ""),
            content_hash=labels.get(f"{BASE}.content-hash", ""),
            extra_ca=tuple(c for c in labels.get(f"{BASE}.extra-ca", "").split(",") if c),
            version=labels.get(VERSION, ""),
        )
