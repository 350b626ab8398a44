"""An environment's lock: taken at the end of its build, shown with it, read back from its image.

One Astropy environment with a pip package from a custom command serves every
test here (an identical recipe finds its image again, so it is built at most once).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.client.api import StarDockClient
from jupyter_stardock.client.discovery import ServerInfo
from jupyter_stardock.core.lock import Lock

from ..conftest import run_cli
from .conftest import server_config

#: Also the recipe of test_composer_engine's emcee check, whose pip goes through the proxy.
ASTROPY_EMCEE = {"apps": ["astropy"], "commands": ["pip install emcee==3.1.6"]}


@pytest.fixture
def jp_server_config(sample_dataset: Path) -> dict[str, Any]:
    return server_config(sample_dataset, engine_timeout=30.0)


@pytest.fixture
def server(jp_serverapp: Any, jp_fetch: Any) -> ServerInfo:
    return ServerInfo(
        jp_serverapp.connection_url, jp_serverapp.identity_provider.token, "the test server"
    )


async def cli(server: ServerInfo, *args: str) -> Any:
    return await asyncio.to_thread(
        run_cli, *args, "--url", server.url, "--token", server.token, timeout=1500
    )


def assert_astropy_and_emcee(lock: Lock) -> None:
    assert lock.debian["python3-astropy"].startswith("5.2"), lock.debian.get("python3-astropy")
    assert lock.python["emcee"] == "3.1.6"
    assert lock.base_image.startswith("sha256:") and lock.image_id.startswith("sha256:")
    # Debian's Python packages are Debian's: the venv's own list does not repeat them.
    assert "astropy" not in lock.python and "ipykernel" in lock.python


async def test_a_build_records_its_lock_and_the_environment_shows_it(
    server: ServerInfo, base_image: str
) -> None:
    client = StarDockClient(server, timeout=120)
    environment = await asyncio.to_thread(client.build, ASTROPY_EMCEE)
    built = Lock.from_json(environment["lock"])
    assert_astropy_and_emcee(built)
    assert built.image_id == environment["image_id"]

    described = await asyncio.to_thread(client.environment, environment["id"])
    assert Lock.from_json(described["lock"]) == built
    result = await cli(server, "envs", "--json")
    assert result.returncode == 0, result.stderr
    (listed,) = [e for e in json.loads(result.stdout) if e["id"] == environment["id"]]
    assert Lock.from_json(listed["lock"]) == built


async def test_a_fresh_build_takes_its_lock_before_it_ends(
    server: ServerInfo, base_image: str
) -> None:
    client = StarDockClient(server, timeout=120)
    recipe = {"commands": [f"echo lock-{uuid.uuid4().hex[:10]}"]}
    environment = await asyncio.to_thread(client.build, recipe)
    try:
        # The end event's environment already carries it: the build took it.
        lock = Lock.from_json(environment["lock"])
        assert lock.image_id == environment["image_id"] and "ipykernel" in lock.python
        (record,) = [
            b
            for b in await asyncio.to_thread(client.builds)
            if b["environment_id"] == environment["id"]
        ]
        assert Lock.from_json(record["environment"]["lock"]) == lock
        page = await asyncio.to_thread(client.log_page, record["id"])
        assert any(line.startswith("Locked: ") for line in page["lines"]), page["lines"][-5:]
    finally:
        await asyncio.to_thread(client.delete_environment, environment["id"])
