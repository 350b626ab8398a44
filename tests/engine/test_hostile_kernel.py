"""A hostile kernel: code in a StarDock kernel turns the server against the host (issue 12).

Every test works as an attacker would: the kernel looks for the paths it
shares with the server (its connection file, its ipc folder, /outputs, any
writable bind mount it finds in /proc/self/mountinfo), puts symlinks (and tries
hard links) to a victim there, and gets the server to act on them: it crashes
so the auto-restarter restarts it, asks for a restart, is shut down (which
archives /outputs), or is browsed through the contents API. The victims are made
by the test itself: a root-owned 0600 file in a root-only 0700 folder, and a
file of the read-only dataset. Symlink targets are host paths: to the kernel
they are only strings, the server is the one that would follow them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_stardock.kernels import KERNEL_LABEL
from jupyter_stardock.sample import make_sample_dataset

from .conftest import server_config
from .kernel_helpers import (
    changed,
    execute,
    holding,
    root_only_file,
    snapshots,
    tar_files,
    wait_ready,
)


@pytest.fixture
def victim_dataset(tmp_path: Path) -> Path:
    """This test's own copy of the sample dataset: the kernel sees it read-only at /data."""
    return make_sample_dataset(tmp_path / "datasets" / "m51")


@pytest.fixture
def jp_server_config(victim_dataset: Path) -> dict[str, Any]:
    return server_config(victim_dataset)


@pytest.fixture
def root_victim() -> Iterator[Path]:
    with root_only_file() as path:
        yield path


def containers_of(engine: Any, kernel_id: str) -> list[dict[str, Any]]:
    return [
        c
        for c in engine.containers_sync(label=KERNEL_LABEL)
        if c["Labels"].get(KERNEL_LABEL) == kernel_id
    ]


async def start_base_kernel(jp_fetch: Any, stardock: Any) -> str:
    """A kernel of the base image (it carries the kernel runtime) beside the dataset 'm51'."""
    spec = stardock.kernelspecs.write(
        environment="base",
        image="stardock/base:latest",
        dataset_id="m51",
        dataset_title="Messier 51",
        app_titles=[],
        recipe={},
    )
    reply = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": spec}))
    return str(json.loads(reply.body)["id"])


async def fetch_status(jp_fetch: Any, *path: str, **kwargs: Any) -> tuple[int, bytes]:
    try:
        response = await jp_fetch(*path, **kwargs)
    except HTTPClientError as err:
        return err.code, err.response.body if err.response is not None else b""
    return response.code, response.body


async def archive_members(jp_fetch: Any, kernel_id: str) -> dict[str, bytes]:
    """Every file of the kernel's archive with its bytes, downloaded as the user does."""
    code, body = await fetch_status(jp_fetch, "stardock", "api", "archives", kernel_id)
    assert code == 200, f"no archive of kernel {kernel_id}: {code} {body[:500]!r}"
    return tar_files(body)


async def shut_down(jp_fetch: Any, engine: Any, kernel_id: str) -> None:
    await fetch_status(jp_fetch, "api", "kernels", kernel_id, method="DELETE")
    for container in containers_of(engine, kernel_id):  # only if the shutdown failed
        engine.remove_container_sync(container["Id"])


@contextlib.asynccontextmanager
async def base_kernel(
    jp_fetch: Any, jp_ws_fetch: Any, stardock: Any, engine: Any
) -> AsyncIterator[tuple[str, Any]]:
    """A running base kernel and its websocket; shut down (and archived) afterwards."""
    kernel_id = await start_base_kernel(jp_fetch, stardock)
    try:
        ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
        await wait_ready(ws)
        yield kernel_id, ws
        ws.close()
    finally:
        await shut_down(jp_fetch, engine, kernel_id)


async def test_the_archive_never_packs_what_a_planted_link_points_at(
    jp_fetch, jp_ws_fetch, stardock, base_image, engine, victim_dataset, root_victim
) -> None:
    """Links and hard links the kernel leaves in /outputs; the shutdown archives /outputs."""
    data_victim = victim_dataset / "m51_r.fits"
    before = snapshots([root_victim, root_victim.parent, data_victim, victim_dataset])
    async with base_kernel(jp_fetch, jp_ws_fetch, stardock, engine) as (kernel_id, ws):
        out = await execute(
            ws,
            "import os\n"
            "open('/outputs/normal.txt', 'w').write('written by the kernel\\n')\n"
            "os.link('/outputs/normal.txt', '/outputs/normal-again.txt')\n"
            f"os.symlink({str(root_victim)!r}, '/outputs/secret-link')\n"
            f"os.symlink({str(root_victim.parent)!r}, '/outputs/secret-folder')\n"
            f"os.symlink({str(data_victim)!r}, '/outputs/data-link')\n"
            "os.symlink('/data/m51_r.fits', '/outputs/data-link-inside')\n"
            "os.symlink('..', '/outputs/up')",
        )
        assert out["error"] is None, out
    members = await archive_members(jp_fetch, kernel_id)
    assert members["outputs/normal.txt"] == b"written by the kernel\n"
    assert not holding(members, [root_victim, data_victim])
    assert not changed(before)
