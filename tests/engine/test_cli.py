"""`jupyter stardock` build / envs / logs / rm / prune / doctor, as a user runs them.

The CLI runs in a child process against a real server (pytest-jupyter) and the
real engine. The server tags environments in a repository of its own, so prune
here can only ever remove what these tests built.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.client.api import StarDockClient
from jupyter_stardock.client.discovery import ServerInfo

from ..conftest import run_cli
from .conftest import server_config

REPOSITORY = f"stardock-clitest-{uuid.uuid4().hex[:8]}/env"


@pytest.fixture
def jp_server_config(sample_dataset):  # type: ignore[no-untyped-def]
    # Other builds may load the engine; listing images must not time out then.
    return server_config(sample_dataset, environment_repository=REPOSITORY, engine_timeout=15.0)


@pytest.fixture
def server(jp_serverapp, jp_fetch) -> ServerInfo:  # type: ignore[no-untyped-def]
    # jp_fetch's fixtures make the test server accept connections.
    return ServerInfo(
        jp_serverapp.connection_url, jp_serverapp.identity_provider.token, "the test server"
    )


async def cli(server: ServerInfo, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        run_cli, *args, "--url", server.url, "--token", server.token, timeout=600
    )


async def cli_json(server: ServerInfo, *args: str) -> Any:
    result = await cli(server, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def unique_run() -> str:
    return f"echo cli-{uuid.uuid4().hex[:10]}"


async def test_build_envs_logs_rm(server: ServerInfo, base_image: str) -> None:
    command = unique_run()
    result = await cli(server, "build", "--run", command, "--dataset", "m51")
    assert result.returncode == 0, result.stderr
    # The log goes to stderr, the result to stdout.
    assert command.split()[1] in result.stderr and "Step 1/" in result.stderr
    (line,) = result.stdout.splitlines()
    env_id = line.split()[1]
    assert line == f"Environment {env_id} is ready (kernelspec stardock-{env_id}-m51)."
    try:
        again = await cli_json(server, "build", "--run", command, "--dataset", "m51")
        assert again["id"] == env_id and again["kernelspec"] == f"stardock-{env_id}-m51"

        listed = {e["id"]: e for e in await cli_json(server, "envs")}
        assert listed[env_id]["kernels"] == 0 and listed[env_id]["last_used"] > 0
        table = (await cli(server, "envs")).stdout
        assert env_id in table and "last used" in table.splitlines()[0]

        logs = await cli(server, "logs", env_id)
        assert logs.returncode == 0 and command.split()[1] in logs.stdout
        follow = await cli_json(server, "logs", "--follow")
        assert follow["build"]["environment_id"] == env_id
        assert any("Built environment" in line for line in follow["lines"])
    finally:
        removed = await cli(server, "rm", env_id[:8])
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == f"Removed environment {env_id}."
    assert env_id not in {e["id"] for e in await cli_json(server, "envs")}


async def test_prune_keeps_what_a_running_kernel_uses(
    server: ServerInfo, jp_fetch, base_image: str
) -> None:
    client = StarDockClient(server)
    busy, idle = [
        await asyncio.to_thread(client.build, {"commands": [unique_run()]}) for _ in range(2)
    ]
    kernel = json.loads(
        (
            await jp_fetch(
                "api", "kernels", method="POST", body=json.dumps({"name": busy["kernelspec"]})
            )
        ).body
    )
    try:
        plan = await cli_json(server, "prune", "--days", "0", "--dry-run")
        assert plan["dry_run"] and set(plan["removed"]) == {idle["id"]}
        assert plan["in_use"] == [busy["id"]]
        assert {e["id"] for e in await cli_json(server, "envs")} >= {busy["id"], idle["id"]}

        done = await cli_json(server, "prune", "--max-size", "1", "--days", "0")
        assert done["removed"] == [idle["id"]] and done["in_use"] == [busy["id"]]
        left = {e["id"] for e in await cli_json(server, "envs")}
        assert busy["id"] in left and idle["id"] not in left

        refused = await cli(server, "rm", busy["id"])
        assert refused.returncode == 1
        assert "running kernel uses this environment" in refused.stderr
    finally:
        await jp_fetch("api", "kernels", kernel["id"], method="DELETE")
        await asyncio.to_thread(client.delete_environment, busy["id"])


async def test_one_line_errors_from_the_server(server: ServerInfo, base_image: str) -> None:
    result = await cli(server, "build", "--app", "no-such-app")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "jupyter stardock build: error: There is no app called 'no-such-app' in the catalog."
    ]
    result = await cli(server, "build", "--run", "COPY a b")
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "COPY" in result.stderr
    result = await cli(server, "rm", "0123456789abcdef")
    assert result.returncode == 1 and "no environment '0123456789abcdef'" in result.stderr


def test_doctor_checks_engine_base_ca_and_each_dataset(
    tmp_path: Path, base_image: str, sample_dataset: Path
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "StarDockApp": {
                    "datasets": {
                        "m51": {"path": str(sample_dataset), "title": "Messier 51"},
                        "gone": {"path": str(tmp_path / "gone")},
                    }
                }
            }
        )
    )
    env = {"JUPYTER_CONFIG_DIR": str(config), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    result = run_cli("doctor", env=env, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "[ok  ] engine: Docker Engine" in out
    assert "[ok  ] base image: stardock/base:latest" in out
    assert "CA setup:" in out
    assert "[ok  ] dataset m51: Messier 51: 5 files" in out
    assert f"[FAIL] dataset gone: The folder {tmp_path / 'gone'} does not exist." in out
    assert "fix: Fix its path in c.StarDockApp.datasets" in out
    assert "1 problem to fix." in out
    report = json.loads(run_cli("doctor", "--json", env=env, timeout=120).stdout)
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert report["ok"] is False
    assert statuses["engine"] == statuses["base image"] == statuses["dataset m51"] == "ok"
    assert statuses["dataset gone"] == "fail"
