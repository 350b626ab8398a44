"""Who a single-user server works for: the account it runs as, and its groups."""

from __future__ import annotations

import grp
import os
import pwd

__all__ = ["local_groups", "server_user"]


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
