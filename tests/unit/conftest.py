"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

AppWriter = Callable[..., Path]


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


@pytest.fixture
def write_app(tmp_path: Path) -> AppWriter:
    """Write a catalog entry ``<folder>/<id>.toml``; fields default to a valid app."""

    def write(app_id: str, folder: str = "apps", **fields: Any) -> Path:
        entry: dict[str, Any] = {
            "id": app_id,
            "title": app_id.upper(),
            "description": f"The {app_id} app.",
            "category": "Tests",
            "apt": [f"{app_id}-pkg"],
            "smoke": f"{app_id} --version",
        }
        entry.update(fields)
        path = tmp_path / folder / f"{fields.get('file', app_id)}.toml"
        entry.pop("file", None)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "".join(f"{k} = {toml_value(v)}\n" for k, v in entry.items() if v is not None)
        )
        return path

    return write
