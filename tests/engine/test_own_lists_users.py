"""Two unix users' servers on one engine: each user's lists hold their own environments.

In local mode every server holds the engine, so the engine lists everything that
anyone built; what a user sees comes from their own server's claims.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import uuid
from pathlib import Path

import pytest

from ..conftest import run_cli
from ..server_process import ServerProcess
from .test_neighbours import neighbour_server, neighbour_user  # noqa: F401  (the fixture)
from .test_own_lists import _build, _env_ids


def test_another_unix_users_environments_stay_theirs(
    tmp_path: Path,
    base_image: str,
    sample_dataset: Path,
    neighbour_user: str,  # noqa: F811
) -> None:
    mine = ServerProcess(
        tmp_path / "root-user",
        {"StarDockApp": {"datasets": {"m51": {"path": str(sample_dataset)}}}},
    )
    theirs = neighbour_server(neighbour_user, {"StarDockApp": {"datasets": {}}})
    images: list[str] = []
    try:
        mine.start()
        theirs.start()
        tag = uuid.uuid4().hex[:10]
        built_mine = _build(mine, {"commands": [f"echo users-root-{tag}"], "dataset": "m51"})
        built_theirs = _build(theirs, {"commands": [f"echo users-neighbour-{tag}"]})
        images += [built_mine["tag"], built_theirs["tag"]]
        env_mine, env_theirs = built_mine["environment_id"], built_theirs["environment_id"]

        assert env_mine in _env_ids(mine) and env_theirs not in _env_ids(mine)
        assert env_theirs in _env_ids(theirs) and env_mine not in _env_ids(theirs)
        result = run_cli("envs", "--json", "--url", mine.url, "--token", mine.token)
        assert result.returncode == 0, result.stderr
        assert env_theirs not in {e["id"] for e in json.loads(result.stdout)}
        # Named by id, the neighbour's environment is as unknown as one never built:
        # neither readable nor removable from my server.
        for method, path in (
            ("GET", f"/stardock/api/environments/{env_theirs}"),
            ("GET", f"/stardock/api/environments/{env_theirs}/dockerfile"),
            ("DELETE", f"/stardock/api/environments/{env_theirs}"),
        ):
            with pytest.raises(urllib.error.HTTPError) as err:
                mine.request(method, path)
            assert err.value.code == 404
            assert f"There is no environment '{env_theirs}'" in err.value.read().decode()
        assert env_theirs in _env_ids(theirs)  # still there for its owner
    finally:
        theirs.stop()
        mine.stop()
        shutil.rmtree(theirs.home, ignore_errors=True)
        if images:
            subprocess.run(["docker", "image", "rm", *images], capture_output=True, check=False)
