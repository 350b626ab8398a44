"""GPUs for kernels (issue 18): the operator's ``gpus`` setting, read once, as plain data.

A kernel gets GPUs only when the operator set ``c.StarDockProvisioner.gpus``
*and* its environment opted in (``"gpus": true`` in the recipe). The engine is
then asked for a device request with the ``gpu`` capability, as ``docker run
--gpus`` does; Docker Engine turns it into NVIDIA's prestart hook
(``nvidia-container-runtime-hook``) with ``NVIDIA_VISIBLE_DEVICES`` set in the
container (moby's daemon/nvidia_linux.go).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import RecipeError

__all__ = [
    "ALL_GPUS",
    "GpuRequest",
    "environment_wants_gpus",
    "parse_gpus",
]

#: The device request's count for "every GPU the engine has" (docker's own -1).
ALL_GPUS = -1
_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9:._-]*")
_HOW = (
    "use 'all', a number of GPUs (e.g. 1), or device ids or UUIDs separated by commas "
    "(e.g. '0,1' or 'GPU-3a4f...'); None for no GPUs"
)


@dataclass(frozen=True)
class GpuRequest:
    """Which GPUs a kernel asks the engine for: a count (ALL_GPUS for all) or device ids."""

    count: int = 0
    device_ids: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.device_ids:
            return "GPU " + ", ".join(self.device_ids)
        if self.count == ALL_GPUS:
            return "every GPU"
        return f"{self.count} GPU" + ("s" if self.count != 1 else "")

    @property
    def how_many(self) -> int | None:
        """GPUs asked for, for a quota; None for 'all' (the engine's whole set)."""
        if self.device_ids:
            return len(self.device_ids)
        return None if self.count == ALL_GPUS else self.count


def parse_gpus(value: Any, *, setting: str = "c.StarDockProvisioner.gpus") -> GpuRequest | None:
    """The operator's setting as a request; None when it asks for no GPUs.

    A value that cannot be meant (``"two"``, ``-3``, ``"0,,1"``) is refused with
    a sentence naming the setting, before any kernel starts.
    """
    refused = RecipeError(f"{setting} = {value!r} is not understood: {_HOW}.", item="gpus")
    if isinstance(value, bool):
        raise refused
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, int):
        if value < 0:
            raise refused
        return GpuRequest(count=value)
    if isinstance(value, (list, tuple)):
        ids = tuple(str(v).strip() for v in value)
    elif isinstance(value, str):
        text = value.strip()
        if text.lower() == "all":
            return GpuRequest(count=ALL_GPUS)
        if text.isdigit():
            return GpuRequest(count=int(text)) if int(text) else None
        ids = tuple(part.strip() for part in text.split(","))
        # A single word that is neither 'all', a count, nor shaped like a device id.
        if len(ids) == 1 and not (ids[0].startswith(("GPU-", "MIG-")) or ids[0].isdigit()):
            raise refused
    else:
        raise refused
    if not ids or not all(_DEVICE_ID.fullmatch(i) for i in ids):
        raise refused
    return GpuRequest(device_ids=ids)


def environment_wants_gpus(recipe: Mapping[str, Any]) -> bool:
    """Whether an environment's recipe (as its image's label has it) opted in to GPUs."""
    return recipe.get("gpus") is True
