"""Who may read which files of an archive (``c.StarDockApp.archives[...]['access']``).

Everyone, some users or groups for the files a glob matches (the first matching
grant decides), or a callable the operator supplies. A callable that fails
refuses, never allows.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["AccessCallable", "AccessRule", "Grant"]

#: The operator's own rule: (user, groups, archive name, file id) -> allowed, or a reason refused.
AccessCallable = Callable[[str, list[str], str, str], "bool | str"]


@dataclass(frozen=True)
class Grant:
    """One access rule line: the files it covers (a glob) and who may read them."""

    files: str = "*"
    everyone: bool = False
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


class AccessRule:
    """Who may read which files of an archive: the first grant whose pattern matches decides."""

    def __init__(self, grants: Iterable[Grant] = (), check: AccessCallable | None = None) -> None:
        self.grants = tuple(grants)
        self.check = check

    @classmethod
    def parse(cls, value: Any) -> AccessRule:
        """'all', {'users': [...], 'groups': [...], 'files': 'glob'}, a list of those, or a callable."""
        if callable(value):
            return cls(check=value)
        if value in (None, "all", "*"):
            return cls([Grant(everyone=True)])
        items = [value] if isinstance(value, Mapping) else value
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            raise ValueError(
                "'access' is 'all', a mapping of 'users', 'groups' and 'files', a list of "
                "them, or a callable"
            )
        grants = []
        for item in items:
            unknown = set(item) - {"files", "users", "groups", "all"}
            if unknown:
                raise ValueError(f"unknown access keys {sorted(unknown)}")
            for key in ("users", "groups"):
                names = item.get(key, [])
                if isinstance(names, str) or not all(isinstance(n, str) for n in names):
                    raise ValueError(f"access '{key}' must be a list of names")
            grants.append(
                Grant(
                    files=str(item.get("files", "*")),
                    everyone=bool(item.get("all", False)),
                    users=tuple(item.get("users", ())),
                    groups=tuple(item.get("groups", ())),
                )
            )
        return cls(grants)

    def refusal(self, user: str, groups: Iterable[str], archive: str, file_id: str) -> str | None:
        """Why ``user`` may not read the file (a sentence), or None when they may."""
        groups = list(groups)
        if self.check is not None:
            try:
                verdict = self.check(user, groups, archive, file_id)
            except Exception as err:  # the operator's code: its failure refuses, never allows
                return f"the archive's access check failed ({type(err).__name__}: {err})"
            if verdict is True:
                return None
            return verdict if isinstance(verdict, str) and verdict else "the archive refuses it"
        for grant in self.grants:
            if not fnmatch.fnmatchcase(file_id, grant.files):
                continue
            if grant.everyone or user in grant.users or set(groups) & set(grant.groups):
                return None
            return f"only {_who(grant)} may read it"
        return "no access rule of the archive covers it"


def _who(grant: Grant) -> str:
    names = [*grant.users, *(f"group {g}" for g in grant.groups)]
    return ", ".join(names) if names else "nobody"
