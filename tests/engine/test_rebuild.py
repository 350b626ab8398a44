"""`jupyter stardock rebuild`: an archive's environment again, every version pinned.

The archive comes from a kernel of the Astropy + emcee environment (test_lock's
recipe). A rebuild from it reproduces the same lock; a lock naming a version no
mirror has is refused with a sentence naming the package and the difference,
and ``--closest`` builds without that pin and prints what differs. The three
builds share their first layers in the builder's cache.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nbformat

from jupyter_stardock.client.api import StarDockClient
from jupyter_stardock.client.discovery import ServerInfo
from jupyter_stardock.core.lock import Lock

from .test_lock import ASTROPY_EMCEE, cli, jp_server_config, server  # noqa: F401 (the same server fixtures)
from .test_lock_archive import archive_of


async def test_a_rebuild_from_an_archive_gives_the_same_lock_and_names_what_is_gone(
    server: ServerInfo,  # noqa: F811
    jp_fetch: Any,
    base_image: str,
    tmp_path: Path,
) -> None:
    client = StarDockClient(server, timeout=120)
    environment = await asyncio.to_thread(client.build, ASTROPY_EMCEE)
    recorded = Lock.from_json(environment["lock"])
    reply = await jp_fetch(
        "api", "kernels", method="POST", body=json.dumps({"name": environment["kernelspec"]})
    )
    kernel_id = json.loads(reply.body)["id"]
    await jp_fetch("api", "kernels", kernel_id, method="DELETE")
    await archive_of(jp_fetch, kernel_id)
    archive = tmp_path / "run.tar.gz"
    archive.write_bytes((await jp_fetch("stardock", "api", "archives", kernel_id)).body)

    again = await cli(server, "rebuild", str(archive), "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    result = json.loads(again.stdout)
    assert result["same"] and result["changes"] == [], result["changes"]
    assert result["environment"]["id"] != environment["id"]  # pinned: another recipe
    assert Lock.from_json(result["lock"]).debian == recorded.debian

    # A version no mirror has: named, with the difference the closest build would have.
    gone = {**environment["lock"], "python": {**recorded.python, "emcee": "9.9.9"}}
    nb = nbformat.v4.new_notebook()
    nb.metadata["stardock"] = {"recipe": environment["recipe"], "lock": gone}
    stale = tmp_path / "stale.ipynb"
    stale.write_text(json.dumps(dict(nb)))
    refused = await cli(server, "rebuild", str(stale))
    assert refused.returncode == 1
    assert "can no longer be had: Python emcee 9.9.9" in refused.stderr, refused.stderr[-3000:]
    assert "--closest" in refused.stderr
    assert "- Python emcee 9.9.9" in refused.stdout

    closest = await cli(server, "rebuild", str(stale), "--closest", "--json")
    assert closest.returncode == 0, closest.stderr[-3000:]
    assert "can no longer be had: Python emcee 9.9.9" in closest.stderr
    result = json.loads(closest.stdout)
    assert result["unpinned"] == [{"kind": "python", "name": "emcee"}]
    assert result["changes"] == [
        {"kind": "python", "name": "emcee", "old": "9.9.9", "new": "3.1.6"}
    ]
