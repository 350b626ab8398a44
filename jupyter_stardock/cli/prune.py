"""The prune policy: when each environment was last used, and which ones to remove.

Plain functions of the server's answers, so they are tested without a server.
"""

from __future__ import annotations

import time
from typing import Any

from ..client.presentation import parse_time

__all__ = ["last_used", "plan_prune"]


def last_used(
    environments: list[dict[str, Any]],
    kernels: list[dict[str, Any]],
    archives: list[dict[str, Any]],
    builds: list[dict[str, Any]],
    now: float | None = None,
) -> dict[str, float]:
    """The latest of: built, asked for in a build, a kernel stopped in it, a kernel runs in it.

    The server records a kernel's start and a build request answered from an
    existing image as the environment's ``last_used``; the rest are traces it keeps.
    """
    now = time.time() if now is None else now
    used: dict[str, float] = {}

    def seen(env_id: Any, moment: Any) -> None:
        moment = parse_time(moment)
        if env_id and moment is not None:
            used[env_id] = max(used.get(env_id, 0.0), moment)

    for env in environments:
        seen(env["id"], env.get("created"))
        seen(env["id"], env.get("last_used"))  # issue 17: a kernel start or build hit, recorded
    for build in builds:
        seen(build.get("environment_id"), build.get("finished") or build.get("created"))
    for archive in archives:
        manifest = archive.get("manifest") or {}
        seen(manifest.get("environment"), manifest.get("stopped"))
    for kernel in kernels:
        seen(kernel.get("environment"), now)
    return used


def plan_prune(
    environments: list[dict[str, Any]],
    used: dict[str, float],
    in_use: set[str],
    *,
    days: float | None,
    max_bytes: int | None,
    base_size: int = 0,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """The environments to remove, least recently used first; never one in use.

    Environments share the base image's layers, so the disk they take together is
    counted as the base once plus what each adds to it.
    """
    now = time.time() if now is None else now
    removable = sorted(
        (e for e in environments if e["id"] not in in_use), key=lambda e: used.get(e["id"], 0.0)
    )
    chosen = [
        e for e in removable if days is not None and used.get(e["id"], 0.0) < now - days * 86400
    ]
    if max_bytes is not None:

        def adds(env: dict[str, Any]) -> int:
            return max(0, int(env.get("size") or 0) - base_size)

        total = base_size + sum(adds(e) for e in environments if e not in chosen)
        for env in removable:
            if total <= max_bytes:
                break
            if env not in chosen:
                chosen.append(env)
                total -= adds(env)
    return chosen
