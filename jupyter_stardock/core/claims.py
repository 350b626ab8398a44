"""Who asked for which environment, so a shared service shows each user only theirs.

Identical recipes give one image (content addressing), which users share without
rebuilding; a claim records that a user asked for it (and with which datasets),
without exposing to them who else did. An image is removed when its last claim is.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

__all__ = ["EnvironmentClaims"]


class EnvironmentClaims:
    """``{environment id: {user: [dataset ids]}}`` in one JSON file, written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._data: dict[str, dict[str, list[str]]] = json.loads(path.read_text())
        except (OSError, ValueError):
            self._data = {}

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        # 0600: who uses which environment (and dataset) is nobody else's business.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(self._data, sort_keys=True))
        os.replace(tmp, self.path)

    def add(self, environment: str, user: str, dataset: str | None) -> None:
        with self._lock:
            datasets = self._data.setdefault(environment, {}).setdefault(user, [])
            key = dataset or ""
            if key not in datasets:
                datasets.append(key)
            self._save()

    def has(self, environment: str, user: str) -> bool:
        return user in self._data.get(environment, {})

    def users(self, environment: str) -> set[str]:
        return set(self._data.get(environment, {}))

    def of(self, user: str) -> dict[str, list[str]]:
        """The user's environments with the datasets they used each with."""
        return {env: list(users[user]) for env, users in self._data.items() if user in users}

    def remove(self, environment: str, user: str | None = None) -> set[str]:
        """Drop one user's claim (or all); returns who still claims it."""
        with self._lock:
            if user is None:
                self._data.pop(environment, None)
            else:
                self._data.get(environment, {}).pop(user, None)
                if not self._data.get(environment):
                    self._data.pop(environment, None)
            self._save()
            return self.users(environment)
