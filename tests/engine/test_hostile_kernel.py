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

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_stardock.core.sample import make_sample_dataset
from jupyter_stardock.labels import KERNEL as KERNEL_LABEL

from .conftest import server_config
from .kernel_helpers import (
    LINK_SWAPPER,
    changed,
    execute,
    holding,
    root_only_file,
    send_execute,
    snapshots,
    tar_files,
    wait_ready,
)

#: The quota the operator sets on each kernel's outputs in these tests (bytes).
OUTPUTS_QUOTA = 32 << 20


def _quota_setting() -> Any:
    """``c.StarDockProvisioner.outputs_quota``: docker-style text unless the trait is an Int."""
    from jupyter_stardock.kernels.provisioner import StarDockProvisioner

    trait = StarDockProvisioner.class_traits().get("outputs_quota")
    if trait is not None and trait.__class__.__name__ == "Int":
        return OUTPUTS_QUOTA
    return f"{OUTPUTS_QUOTA >> 20}m"


@pytest.fixture
def victim_dataset(tmp_path: Path) -> Path:
    """This test's own copy of the sample dataset: the kernel sees it read-only at /data."""
    return make_sample_dataset(tmp_path / "datasets" / "m51")


@pytest.fixture
def jp_server_config(victim_dataset: Path) -> dict[str, Any]:
    config = server_config(victim_dataset)
    config["StarDockProvisioner"] = {"outputs_quota": _quota_setting()}
    return config


@pytest.fixture
def root_victim() -> Iterator[Path]:
    with root_only_file() as path:
        yield path


#: Kernel code: every writable place it shares with the server gets links to the victims.
#: It prints a JSON report of what it did (for the failure message; nothing asserts on it).
PLANT = (
    LINK_SWAPPER
    + r"""
VICTIMS, FIRST = json.loads(@VICTIMS@), @FIRST@  # host paths: only strings in here

def writable_mounts():
    found = []
    with open('/proc/self/mountinfo') as f:
        for line in f:
            left, _, right = line.partition(' - ')
            fields, fstype = left.split(), right.split()[0]
            point = fields[4].replace('\\040', ' ')
            if point == '/' or point.startswith(('/proc', '/sys', '/dev')):
                continue
            if fstype in ('proc', 'sysfs', 'devpts', 'mqueue', 'cgroup', 'cgroup2'):
                continue
            if 'rw' in fields[5].split(',') and os.access(point, os.W_OK):
                found.append(point)
    return found

def connection_files():
    files = []
    try:
        from ipykernel import get_connection_file
        files.append(get_connection_file())
    except Exception as err:
        report["errors"].add(f"get_connection_file: {err!r}")
    argv = open('/proc/self/cmdline', 'rb').read().split(b'\0')
    if b'-f' in argv:
        files.append(argv[argv.index(b'-f') + 1].decode())
    return sorted({os.path.abspath(f) for f in files})

def hard_links(folder):
    # Hard links to what the kernel can see of a victim: the dataset's files.
    for i, name in enumerate(sorted(os.listdir('/data')) if os.path.isdir('/data') else []):
        try:
            os.link(os.path.join('/data', name), os.path.join(folder, f'hard-{i}'))
        except OSError as err:
            report["errors"].add(f"link /data/{name}: {err.strerror}")

connections = connection_files()
targets = sorted(set(writable_mounts()) | {os.path.dirname(c) for c in connections})
for connection in connections:
    swap(connection, FIRST)
swap_tree(targets, VICTIMS, FIRST, skip=connections)
for top in targets:
    hard_links(top)
__planted__ = True
print(summary(targets=targets, connection_files=connections))
"""
)


def plant_code(victims: list[Path], first: Path) -> str:
    """PLANT for these victims; ``first`` takes the connection file's place."""
    victims_json = json.dumps([str(v) for v in victims])
    return PLANT.replace("@VICTIMS@", repr(victims_json)).replace("@FIRST@", repr(str(first)))


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


async def outputs_of(jp_fetch: Any, kernel_id: str) -> str:
    """The kernel's outputs folder, relative to the server's root (as the file browser sees it)."""
    kernels = json.loads((await jp_fetch("stardock", "api", "kernels")).body)["kernels"]
    (kernel,) = [k for k in kernels if k["id"] == kernel_id]
    return str(kernel["outputs"])


async def restart_request(jp_fetch: Any, kernel_id: str) -> None:
    """POST .../restart, as JupyterLab's "Restart kernel" does (a failure is the server's)."""
    await fetch_status(jp_fetch, "api", "kernels", kernel_id, "restart", method="POST", body="{}")


async def back_after_restart(ws: Any, timeout: float = 60) -> bool:
    """Whether a fresh interpreter (no ``__planted__``) answers within ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            await wait_ready(ws, timeout=10)
            out = await execute(ws, "print('__planted__' in globals())", timeout=10)
            if out["stdout"].strip() == "False":
                return True
        except (TimeoutError, ConnectionError):
            pass
        await asyncio.sleep(1)
    return False


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


@pytest.mark.parametrize("connection_victim", ["root file", "dataset file"])
@pytest.mark.parametrize("restart", ["crash", "request"])
async def test_links_in_the_kernels_folders_never_reach_a_host_file(
    jp_fetch,
    jp_ws_fetch,
    stardock,
    base_image,
    engine,
    victim_dataset,
    root_victim,
    restart,
    connection_victim,
) -> None:
    data_victim = victim_dataset / "m51_r.fits"
    victims = [root_victim, data_victim]
    before = snapshots([root_victim, root_victim.parent, data_victim, victim_dataset])
    first = root_victim if connection_victim == "root file" else data_victim
    async with base_kernel(jp_fetch, jp_ws_fetch, stardock, engine) as (kernel_id, ws):
        planted = await execute(ws, plant_code(victims, first))
        assert planted["error"] is None, planted
        report = json.loads(planted["stdout"])
        assert "/outputs" in report["targets"], report  # the attack found its way in
        if restart == "crash":
            # No reply comes: the kernel is gone, and the auto-restarter starts it again.
            await send_execute(ws, "import os; os._exit(1)")
        else:
            await restart_request(jp_fetch, kernel_id)
        came_back = await back_after_restart(ws)
        if came_back:
            # The new kernel attacks again, then asks for a restart.
            again = await execute(ws, plant_code(victims, first))
            assert again["error"] is None, again
            await restart_request(jp_fetch, kernel_id)
            came_back = await back_after_restart(ws)
    assert not changed(before), f"the kernel's links reached a victim: {changed(before)}; {report}"
    assert not holding(await archive_members(jp_fetch, kernel_id), victims)
    assert came_back, "the kernel did not come back after its restart"


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


async def test_file_browser_never_serves_a_planted_symlink(
    jp_fetch, jp_ws_fetch, stardock, base_image, engine, root_victim
) -> None:
    """The server runs as root, the kernel as uid 1000: the kernel plants, the browser reads."""
    before = snapshots([root_victim, root_victim.parent])
    secret = root_victim.read_bytes().strip()
    async with base_kernel(jp_fetch, jp_ws_fetch, stardock, engine) as (kernel_id, ws):
        out = await execute(
            ws,
            "import os\n"
            "open('/outputs/normal.txt', 'w').write('written by the kernel\\n')\n"
            f"os.symlink({str(root_victim)!r}, '/outputs/secret-link')\n"
            f"os.symlink({str(root_victim.parent)!r}, '/outputs/secret-folder')\n"
            "os.mkdir('/outputs/sub')\n"
            f"os.symlink({str(root_victim)!r}, '/outputs/sub/deeper-link')\n"
            "print(os.getuid())",
        )
        assert out["error"] is None, out
        assert out["stdout"].strip() != "0"
        outputs = await outputs_of(jp_fetch, kernel_id)
        content = {"content": "1"}

        code, body = await fetch_status(
            jp_fetch, "api", "contents", f"{outputs}/normal.txt", params=content
        )
        assert code == 200 and json.loads(body)["content"] == "written by the kernel\n"
        code, body = await fetch_status(jp_fetch, "files", f"{outputs}/normal.txt")
        assert code == 200 and body == b"written by the kernel\n"
        for planted in ("secret-link", f"secret-folder/{root_victim.name}", "sub/deeper-link"):
            for route in (("api", "contents"), ("files",)):
                path = f"{outputs}/{planted}"
                code, body = await fetch_status(jp_fetch, *route, path, params=content)
                assert 400 <= code < 500, f"/{'/'.join(route)}/{path} answered {code}"
                assert secret not in body, f"/{'/'.join(route)} served the root-only file"
        code, body = await fetch_status(
            jp_fetch, "api", "contents", f"{outputs}/secret-folder", params=content
        )
        assert 400 <= code < 500 or root_victim.name not in body.decode(), body
    assert not changed(before)


async def test_outputs_is_mounted_nosuid_nodev(
    jp_fetch, jp_ws_fetch, stardock, base_image, engine
) -> None:
    async with base_kernel(jp_fetch, jp_ws_fetch, stardock, engine) as (_, ws):
        out = await execute(
            ws,
            "import json\n"
            "mounts = {}\n"
            "for line in open('/proc/self/mountinfo'):\n"
            "    fields = line.partition(' - ')[0].split()\n"
            "    mounts[fields[4]] = fields[5].split(',')\n"
            "print(json.dumps(mounts.get('/outputs')))",
        )
    assert out["error"] is None, out
    options = json.loads(out["stdout"])
    assert options is not None, "no mount at /outputs"
    assert "rw" in options
    assert {"nosuid", "nodev"} <= set(options), f"/outputs is mounted {','.join(options)}"


async def test_outputs_quota_stops_a_runaway_write_and_keeps_what_was_written(
    jp_fetch, jp_ws_fetch, stardock, base_image, engine
) -> None:
    attempt = 5 * OUTPUTS_QUOTA
    digest = (
        "import hashlib\nprint(hashlib.sha256(open('/outputs/kept.bin', 'rb').read()).hexdigest())"
    )
    async with base_kernel(jp_fetch, jp_ws_fetch, stardock, engine) as (kernel_id, ws):
        out = await execute(
            ws, "import os\nopen('/outputs/kept.bin', 'wb').write(os.urandom(1 << 20))"
        )
        assert out["error"] is None, out
        kept = (await execute(ws, digest))["stdout"].strip()
        out = await execute(
            ws,
            "written = 0\n"
            "block = b'\\0' * (1 << 20)\n"
            "try:\n"
            "    with open('/outputs/runaway.bin', 'wb', buffering=0) as f:\n"
            f"        while written < {attempt}:\n"
            "            written += f.write(block)\n"
            "finally:\n"
            "    print('written', written)",
            timeout=300,
        )
        written = int(out["stdout"].split()[-1])
        assert out["error"] is not None, f"{written} bytes written past a {OUTPUTS_QUOTA} quota"
        assert out["error"] == "OSError", out
        assert written < attempt
        assert (await execute(ws, digest))["stdout"].strip() == kept
    members = await archive_members(jp_fetch, kernel_id)
    assert hashlib.sha256(members["outputs/kept.bin"]).hexdigest() == kept
