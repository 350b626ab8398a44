"""Hub service: which Hub user a kernel runs for, and the id their server knows it by.

Users choose their kernels' ids (their servers do); the service runs each under an
id of its own, so one user's id can never meet another's. The service's routes
look kernels up here by (user, their id); adoption registers an adopted kernel
here again, so it stays its user's across a restart of the service.
"""

from __future__ import annotations

__all__ = ["ServiceKernelIds"]


class ServiceKernelIds:
    """(Hub user, the id their server uses) -> the service's kernel id, in memory."""

    def __init__(self) -> None:
        self.aliases: dict[tuple[str, str], str] = {}

    def register(self, internal: str, owner: str, client_id: str) -> None:
        """The kernel ``internal`` is ``owner``'s, known to their server as ``client_id``."""
        self.aliases[(owner, client_id)] = internal

    def forget(self, internal: str) -> None:
        for alias in [a for a, i in self.aliases.items() if i == internal]:
            del self.aliases[alias]
