"""What the engine answers and what it is asked for: plain dataclasses, no docker types.

The rest of StarDock builds and reads these; only ``engine/client.py`` turns them
into docker-py calls, so no layer above the engine sees docker-py's dictionaries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BindMount", "BuildResult", "ContainerSpec", "EngineInfo", "ImageInfo"]


# issue 18: Docker Engine reports tags in their familiar form ("stardock/env:x");
# Podman's compatible API reports the fully qualified one: "docker.io/stardock/env:x"
# for a tag made through the API, "localhost/stardock/env:x" for a loaded image, and
# finds the image by the familiar name as well. Tags are read in the familiar form.
_QUALIFIED = ("docker.io/library/", "docker.io/", "localhost/")


def local_tag(tag: str) -> str:
    for prefix in _QUALIFIED:
        if tag.startswith(prefix):
            return tag[len(prefix) :]
    return tag


#: issue 18: engine runtimes that provide GPUs (names the NVIDIA Container Toolkit registers).
GPU_RUNTIMES = frozenset({"nvidia", "nvidia-cdi", "nvidia-legacy"})


@dataclass(frozen=True)
class EngineInfo:
    """What ``GET /stardock/api/status`` reports of the engine."""

    address: str
    version: str
    api_version: str
    storage_driver: str
    os: str
    kernel_version: str
    architecture: str
    cpus: int
    memory_bytes: int
    # issue 18: the engine's runtimes (docker info's Runtimes), e.g. runc, nvidia.
    runtimes: tuple[str, ...] = ()
    # issue 18: which engine answers the Docker API: "Docker Engine" or "Podman".
    product: str = "Docker Engine"

    @property
    def gpu_runtimes(self) -> list[str]:
        """issue 18: the runtimes that provide GPUs (the NVIDIA Container Toolkit's)."""
        return sorted(set(self.runtimes) & GPU_RUNTIMES)

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "version": self.version,
            "api_version": self.api_version,
            "storage_driver": self.storage_driver,
            "os": self.os,
            "kernel_version": self.kernel_version,
            "architecture": self.architecture,
            "cpus": self.cpus,
            "memory_bytes": self.memory_bytes,
            "runtimes": list(self.runtimes),  # issue 18
            "gpu_runtime": bool(self.gpu_runtimes),
            "product": self.product,
        }


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: tuple[str, ...]
    labels: Mapping[str, str]
    created: str
    size: int

    @classmethod
    def from_inspect(cls, data: Mapping[str, Any]) -> ImageInfo:
        config = data.get("Config") or {}
        return cls(
            id=data["Id"],
            tags=tuple(local_tag(t) for t in data.get("RepoTags") or ()),
            labels=dict(config.get("Labels") or {}),
            created=data.get("Created", ""),
            size=int(data.get("Size") or 0),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tags": list(self.tags),
            "labels": dict(self.labels),
            "created": self.created,
            "size": self.size,
        }


@dataclass(frozen=True)
class BindMount:
    source: str
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class ContainerSpec:
    """Everything a kernel container is created with: plain data, no docker types."""

    image: str
    command: list[str]
    name: str | None = None
    user: str = ""
    environment: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[BindMount, ...] = ()
    tmpfs: Mapping[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    network_mode: str = "none"
    #: container port -> host address; the engine picks the host port (no races).
    ports: Mapping[int, str] = field(default_factory=dict)
    read_only: bool = True
    cap_drop: tuple[str, ...] = ("ALL",)
    cap_add: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ("no-new-privileges",)
    mem_limit: str | None = None
    nano_cpus: int | None = None
    pids_limit: int | None = None
    init: bool = True
    log_max_size: str = "1m"
    log_max_files: int = 2
    # issue 18: GPUs by a device request with the "gpu" capability (docker run --gpus):
    # a count (-1: all) or device ids; neither: none.
    gpu_count: int = 0
    gpu_device_ids: tuple[str, ...] = ()


@dataclass
class BuildResult:
    image_id: str
    #: Build steps seen ("Step 3/9"), for progress bars.
    steps_total: int = 0
    lines: int = 0
    intermediate_containers: list[str] = field(default_factory=list)
    #: The unfinished last line of the stream so far.
    partial: str = ""
