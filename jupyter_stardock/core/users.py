"""Who a single-user server works for: the account it runs as, and its groups."""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass

__all__ = ["Viewer", "local_groups", "server_user"]


@dataclass(frozen=True)
class Viewer:
    """Who is asking, and whether what they see is limited to their own things.

    On a single-user server everything belongs to the server's account, so
    nothing is scoped. In the hub service, a non-admin sees only their own
    builds, environments, kernels and archives; anything else is "not found".
    """

    name: str
    groups: tuple[str, ...] = ()
    admin: bool = False
    scoped: bool = False

    @property
    def owner_filter(self) -> str | None:
        """The owner to filter by, or None to see everything."""
        return self.name if self.scoped and not self.admin else None

    def may_see(self, owner: str | None) -> bool:
        return self.owner_filter is None or owner == self.name


def server_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def local_groups() -> list[str]:
    """The groups of the account the server runs as (single-user servers)."""
    names = []
    for gid in os.getgroups():
        try:
            names.append(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    return names
