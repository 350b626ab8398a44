"""A build as it is remembered (one JSON file each) and an environment as the API shows it.

Records and logs are the owner's business alone: 0600 files in a 0700 folder,
whatever the umask.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..engine import ImageInfo
from ..labels import EnvironmentLabels

__all__ = ["BuildRecord", "BuildState", "environment_json", "private_folder"]


class BuildState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (BuildState.SUCCEEDED, BuildState.FAILED, BuildState.CANCELLED)


@dataclass
class BuildRecord:
    id: str
    owner: str
    recipe: dict[str, Any]
    content_hash: str
    tag: str
    state: BuildState = BuildState.QUEUED
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    image_id: str | None = None
    error: str | None = None
    step: int = 0
    steps: int = 0
    #: Owners of identical requests that followed this build instead of starting their own.
    followers: list[str] = field(default_factory=list)
    #: The dataset each follower asked for (the owner's is in ``recipe``); never shown to others.
    follower_datasets: dict[str, str | None] = field(default_factory=dict)
    #: Where a failed build failed: ``item`` ("command 2", "app astropy", "pip packages",
    #: ...) for the panel to mark, ``step``/``steps``, ``exit_code``, ``summary`` (one
    #: sentence) and ``output`` (the step's last lines, as quoted in ``error``).
    failure: dict[str, Any] | None = None
    #: Once the build succeeded: the environment it made, as ``GET /environments``
    #: lists it (kept here, so a viewer of the build never asks the engine again).
    environment: dict[str, Any] | None = None

    @property
    def progress(self) -> float:
        if self.state is BuildState.SUCCEEDED:
            return 1.0
        if not self.steps:
            return 0.0
        # "Step 3/9" is printed when step 3 starts: two of nine are done.
        return round(max(0, self.step - 1) / self.steps, 4)

    @property
    def environment_id(self) -> str:
        return self.content_hash[:16]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        data["progress"] = self.progress
        data["environment_id"] = self.environment_id
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BuildRecord:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["state"] = BuildState(fields["state"])
        return cls(**fields)


def environment_json(image: ImageInfo) -> dict[str, Any]:
    """An environment (a built image) as the REST API shows it."""
    built = EnvironmentLabels.from_labels(image.labels)
    content_hash = built.content_hash if built else ""
    return {
        "id": content_hash[:16],
        "content_hash": content_hash,
        "image_id": image.id,
        "tags": list(image.tags),
        "recipe": dict(built.recipe) if built else {},
        "apps": list(built.apps) if built else [],
        "size": image.size,
        "created": image.created,
    }


def private_folder(folder: Path) -> None:
    """The folder 0700 and every file in it 0600, also those made by older versions."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)  # mkdir's mode passes the umask, and an old folder keeps its own
    for path in folder.iterdir():
        try:
            info = path.lstat()
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) & 0o077:
            os.chmod(path, 0o600)
