"""What ``GET /stardock/api/status`` reports: the engine, the base image, our version."""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .base import BASE_LABEL
from .engine import Engine

__all__ = ["engine_status"]


async def engine_status(engine: Engine, base_alias: str) -> dict[str, Any]:
    """Raises EngineUnavailable when the engine cannot be reached."""
    info = await engine.info()
    image = await engine.image(base_alias)
    base: dict[str, Any] = {"name": base_alias, "exists": image is not None}
    if image is not None:
        base.update(
            {
                "id": image.id,
                "tags": list(image.tags),
                "created": image.created,
                "size": image.size,
                "from": image.labels.get(f"{BASE_LABEL}.from", ""),
                "content_hash": image.labels.get(f"{BASE_LABEL}.content-hash", ""),
            }
        )
    else:
        base["hint"] = (
            "No base image yet: run `jupyter stardock base` (or `jupyter stardock base "
            "--bootstrap` on a site with no image registry)."
        )
    return {"version": __version__, "engine": info.to_json(), "base_image": base}
