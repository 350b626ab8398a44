"""Which container a terminal or desktop of a kernel goes into, and as whom.

A process started in a kernel's container (``docker exec``) is the kernel's own:
the container's user (never root, never privileged), its capabilities (none), its
mounts (/data read-only), its cgroup and its network (none). Only the kernel's
owner may start one: a viewer sees only their own kernels (``OwnKernels.running``),
and a scoped viewer (the hub service) only kernels whose owner is exactly them,
admin or not, because a shell is more than a listing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..core.users import Viewer
from ..engine import Engine
from ..errors import NotFound
from .launch import container_uid

__all__ = ["SHELL", "KernelPlace", "locate"]

#: The user's shell: bash when the image has it, a POSIX sh otherwise; a login
#: shell reads the image's /etc/profile as a terminal on the machine would.
SHELL: Sequence[str] = ("/bin/sh", "-c", 'exec "$(command -v bash || echo /bin/sh)" -l')


@dataclass(frozen=True)
class KernelPlace:
    """A running kernel's container, as an exec into it needs it."""

    kernel_id: str
    container_id: str
    user: str
    workdir: str
    #: The container's own environment (DISPLAY among it, when the kernel has a desktop).
    environment: dict[str, str]


def _missing(kernel_id: str, kernels: Sequence[dict[str, Any]]) -> NotFound:
    ids = ", ".join(k["id"] for k in kernels[:5])
    hint = f" Your running kernels: {ids}." if ids else " You have no running StarDock kernel."
    return NotFound(f"There is no running StarDock kernel {kernel_id!r} of yours.{hint}")


async def locate(
    engine: Engine,
    kernels: Sequence[dict[str, Any]],
    viewer: Viewer,
    kernel_id: str,
) -> KernelPlace:
    """The container of ``kernel_id`` among the viewer's ``kernels`` (``OwnKernels.running``)."""
    mine = [k for k in kernels if not viewer.scoped or k.get("owner") == viewer.name]
    found = [k for k in mine if k["id"] == kernel_id]
    if not found or found[0].get("state") != "running":
        raise _missing(kernel_id, [k for k in mine if k.get("state") == "running"])
    inspect = await engine.run(engine.inspect_container_sync, found[0]["container"])
    config = (inspect or {}).get("Config") or {}
    user = str(config.get("User") or "")
    uid = container_uid(user)
    # The kernel's user as the container was started: a container without a numeric,
    # non-root user is not one StarDock made, and gets no shell.
    if inspect is None or not (inspect.get("State") or {}).get("Running") or not uid:
        raise _missing(kernel_id, [])
    environment = dict(entry.split("=", 1) for entry in config.get("Env") or () if "=" in entry)
    return KernelPlace(
        kernel_id=kernel_id,
        container_id=str(inspect["Id"]),
        user=user,
        workdir=str(config.get("WorkingDir") or "/"),
        environment=environment,
    )
