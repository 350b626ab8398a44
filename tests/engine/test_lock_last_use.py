"""Last use: a build hit and a kernel start are recorded, shown by `envs`, and `prune --days` keeps them.

Both environments live in a repository of this test's own (prune can only
remove what it made): the Astropy one is the recipe test_lock builds (all its
layers come from the builder's cache), the other an image of it with other
labels (a build of FROM alone runs no step).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.client.api import StarDockClient
from jupyter_stardock.client.discovery import ServerInfo
from jupyter_stardock.core.users import server_user
from jupyter_stardock.engine import Engine
from jupyter_stardock.labels import EnvironmentLabels

from .conftest import server_config
from .test_lock import (
    ASTROPY_EMCEE,
    cli,
    server,  # noqa: F401 (the same server fixture)
)

REPOSITORY = f"stardock-lasttest-{uuid.uuid4().hex[:8]}/env"


@pytest.fixture
def jp_server_config(sample_dataset: Path) -> dict[str, Any]:
    return server_config(sample_dataset, environment_repository=REPOSITORY, engine_timeout=30.0)


async def listed(server: ServerInfo) -> dict[str, dict[str, Any]]:  # noqa: F811
    result = await cli(server, "envs", "--json")
    assert result.returncode == 0, result.stderr
    return {e["id"]: e for e in json.loads(result.stdout)}


async def test_prune_days_keeps_what_was_used_since(
    server: ServerInfo,  # noqa: F811
    jp_fetch: Any,
    stardock: Any,
    base_image: str,
) -> None:
    client = StarDockClient(server, timeout=120)
    engine = Engine(timeout=30)
    used = await asyncio.to_thread(client.build, ASTROPY_EMCEE)
    built = EnvironmentLabels.from_labels(engine.image_sync(used["image_id"]).labels)
    assert built is not None
    other_hash = uuid.uuid4().hex * 2
    other = EnvironmentLabels(
        recipe={**built.recipe, "commands": ["true"]},
        content_hash=other_hash,
        apps=built.apps,
        base_image=built.base_image,
    )
    result = await engine.build(f"FROM {used['image_id']}\n", {}, labels=other.to_labels())
    made = time.time()  # the other environment is made by now, and never used
    await engine.tag(result.image_id, f"{REPOSITORY}:{other_hash[:16]}")
    stardock.claims.add(other_hash[:16], server_user(), None)  # as if this user built it
    try:
        assert (await listed(server))[other_hash[:16]]["kernels"] == 0
        await asyncio.sleep(10)  # the recorded use must come after the cut-off below

        # A build request answered from the existing image is a use...
        hit = await asyncio.to_thread(client.build, ASTROPY_EMCEE)
        assert hit["id"] == used["id"]
        after_hit = (await listed(server))[used["id"]]["last_used"]
        assert after_hit > made
        # Cut off between the other's making and the recorded hit: prune keeps the used one.
        days = (time.time() - (made + 5)) / 86400
        plan = await cli(server, "prune", "--days", f"{days:.8f}", "--dry-run", "--json")
        assert plan.returncode == 0, plan.stderr
        assert json.loads(plan.stdout)["removed"] == [other_hash[:16]]
        # ... and so is a kernel start.
        kernel = json.loads(
            (
                await jp_fetch(
                    "api", "kernels", method="POST", body=json.dumps({"name": hit["kernelspec"]})
                )
            ).body
        )
        await jp_fetch("api", "kernels", kernel["id"], method="DELETE")
        server_side = {e["id"]: e for e in await asyncio.to_thread(client.environments)}
        assert server_side[used["id"]]["last_used"] > after_hit
        assert server_side[other_hash[:16]]["last_used"] is None

        table = (await cli(server, "envs")).stdout
        assert used["id"] in table and "last used" in table.splitlines()[0]
    finally:
        for env in await asyncio.to_thread(client.environments):
            await asyncio.to_thread(client.delete_environment, env["id"])
        engine.close()
