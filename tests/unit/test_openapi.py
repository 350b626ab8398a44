"""docs/openapi.yaml describes exactly the routes and methods the handlers serve."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from jupyter_stardock.server.routes import API, routes

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
METHODS = ("get", "post", "put", "patch", "delete")


def _served() -> dict[str, set[str]]:
    served = {}
    for pattern, handler in routes("service"):
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern).removeprefix(API)
        served[path] = {m for m in METHODS if m in vars(handler)}
    return served


def test_spec_matches_handlers() -> None:
    spec = yaml.safe_load(SPEC.read_text())
    assert spec["servers"][0]["url"] == API
    described = {path: {m for m in item if m in METHODS} for path, item in spec["paths"].items()}
    assert described == _served()


def test_every_operation_documents_its_errors() -> None:
    spec = yaml.safe_load(SPEC.read_text())
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                # issue 15: a websocket's success is its upgrade (101).
                assert any(
                    code.startswith("2") or code == "101" for code in item[method]["responses"]
                ), (
                    path,
                    method,
                )
        if any(f"{{{name}}}" in path for name in ("build_id", "env_id", "kernel_id")):
            for method in METHODS:
                if method in item:
                    assert "404" in item[method]["responses"], (path, method)
