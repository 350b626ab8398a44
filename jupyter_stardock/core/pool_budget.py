"""The warm kernel pool's limits and memory budget (issue 14): plain arithmetic, no engine.

The pool itself is kernels/pool.py; ``jupyter stardock doctor`` reports the
budget from here without importing the kernel layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import StarDockSettings
from ..errors import StarDockError
from .outputs_mounts import parse_size

__all__ = ["SLOT_BYTES", "PoolLimits", "pool_budget"]

#: What one idle slot costs, as benchmarks/kernel_start.py measures it (the engine's
#: figure of an idle slot, 50.6 MiB on 2026-12-02, plus its shim, 5 MiB); the budget counts by it.
SLOT_BYTES = 56 << 20


@dataclass(frozen=True)
class PoolLimits:
    """The operator's pool settings (c.StarDockApp.pool_*)."""

    size: int = 1
    recent_hours: float = 24.0
    max_total: int = 4
    ttl: float = 3600.0
    memory_bytes: int = 512 << 20

    @property
    def capacity(self) -> int:
        """Most slots at once: pool_max_total, and what the memory budget holds."""
        return max(0, min(self.max_total, self.memory_bytes // SLOT_BYTES))


def _available_bytes() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def pool_budget(settings: StarDockSettings) -> tuple[str, str]:
    """What ``jupyter stardock doctor`` says of the pool: ('ok'|'warn'|'fail', a sentence)."""
    if settings.pool_size <= 0:
        return "ok", "The warm pool is off (c.StarDockApp.pool_size = 0)."
    try:
        budget = parse_size(settings.pool_memory)
    except StarDockError as err:
        return "fail", f"c.StarDockApp.pool_memory: {err}"
    limits = PoolLimits(
        size=settings.pool_size, max_total=settings.pool_max_total, memory_bytes=budget
    )
    mib = 1 << 20
    message = (
        f"Up to {limits.capacity} pre-started kernel(s), {settings.pool_size} per kernelspec used "
        f"in the last {settings.pool_recent_hours:g} h: about {limits.capacity * SLOT_BYTES // mib} "
        f"MiB of a {budget // mib} MiB budget ({SLOT_BYTES // mib} MiB each)."
    )
    available = _available_bytes()
    if limits.capacity == 0:
        return "warn", message + " The budget holds none: the pool stays empty."
    if available is not None and limits.capacity * SLOT_BYTES > available // 4:
        return "warn", message + f" That is over a quarter of the {available // mib} MiB available."
    return "ok", message
