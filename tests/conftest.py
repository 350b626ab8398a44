"""Shared test plumbing.

Engine tests need a real Docker Engine. Without one they are skipped on a
developer's machine, but when ``STARDOCK_REQUIRE_ENGINE=1`` (as CI sets) a
missing engine is an error: CI must never pass by skipping them.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]

REQUIRE_ENGINE = os.environ.get("STARDOCK_REQUIRE_ENGINE", "") not in ("", "0", "false")
ARTIFACTS = Path(__file__).parent / "artifacts"


def _engine_problem() -> str | None:
    from jupyter_stardock.engine import Engine
    from jupyter_stardock.errors import StarDockError

    engine = Engine(timeout=5)
    try:
        engine.info_sync()
    except StarDockError as err:
        return str(err)
    finally:
        engine.close()
    return None


@pytest.fixture(scope="session")
def engine_available() -> None:
    problem = _engine_problem()
    if problem is None:
        return
    if REQUIRE_ENGINE:
        pytest.fail(f"STARDOCK_REQUIRE_ENGINE=1 but there is no engine: {problem}", pytrace=False)
    pytest.skip(f"no Docker Engine: {problem}")


@pytest.fixture
def engine(engine_available: None) -> Iterator[object]:
    from jupyter_stardock.engine import Engine

    e = Engine(timeout=10)
    yield e
    e.close()


def host_extra_certs() -> list[str]:
    """The machine's own extra CAs: the ones a build needs behind this network's proxy."""
    return sorted(glob.glob("/usr/local/share/ca-certificates/*.crt"))


@pytest.fixture(scope="session")
def base_image(engine_available: None) -> str:
    """The id of ``stardock/base:latest``, made (bootstrapped if need be) once per session."""
    from jupyter_stardock.engine import Engine
    from jupyter_stardock.services.base_image import BaseImageRequest, ensure_base_image

    engine = Engine(timeout=10)
    try:
        existing = engine.image_sync("stardock/base:latest")
        if existing is not None:
            return existing.id
        # No registry on CI machines: bootstrap unless an upstream image is at hand.
        bootstrap = engine.image_sync("debian:bookworm-slim") is None
        result = ensure_base_image(
            engine,
            BaseImageRequest(
                bootstrap=bootstrap, extra_ca=tuple(Path(p) for p in host_extra_certs())
            ),
            log=lambda line: print(line, file=sys.stderr),
        )
        return result.image.id
    finally:
        engine.close()


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run ``jupyter stardock ARGS`` the way a user does, in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "jupyter_stardock", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Every test in tests/engine needs the engine: mark and gate them in one place.
    for item in items:
        if "tests/engine/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.engine)
            item.fixturenames.insert(0, "engine_available")  # type: ignore[attr-defined]
