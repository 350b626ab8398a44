"""The magics in an IPython shell, against a real server (pytest-jupyter) and the real engine.

The magics make blocking HTTP and websocket calls, and the test server runs on
this test's event loop, so every cell runs in a worker thread while the loop
keeps serving.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from jupyter_stardock.client.api import StarDockClient
from jupyter_stardock.client.discovery import ServerInfo
from jupyter_stardock.client.kernel import RemoteKernel
from jupyter_stardock.labels import KERNEL as KERNEL_LABEL
from jupyter_stardock.magics import StarDockMagics

from ..server_process import ServerProcess
from .conftest import server_config

PNG_CELL = """\
print(open('/data/README.txt').readline().strip())
import struct, zlib
def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
rows = b''.join(b'\\x00' + bytes([200, 30, 30]) * 8 for _ in range(8))
png = (b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 8, 8, 8, 2, 0, 0, 0))
       + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
from IPython.display import Image, display
display(Image(data=png))
x = 21
"""


@pytest.fixture
def jp_server_config(sample_dataset):  # type: ignore[no-untyped-def]
    # Other builds may load the engine; listing images must not time out then.
    return server_config(sample_dataset, engine_timeout=15.0)


@pytest.fixture
def server(jp_serverapp, jp_fetch) -> ServerInfo:  # type: ignore[no-untyped-def]
    # jp_fetch's fixtures make the test server accept connections.
    return ServerInfo(
        jp_serverapp.connection_url, jp_serverapp.identity_provider.token, "the test server"
    )


@pytest.fixture
def magics(server: ServerInfo) -> StarDockMagics:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jupyter_stardock")
    magics = StarDockMagics(shell, server=server)
    shell.register_magics(magics)  # this test's server, through the magics' own override
    return magics


def _run(shell: Any, source: str) -> tuple[Any, Any]:
    with capture_output() as captured:
        result = shell.run_cell(source)
    return result, captured


async def run(magics: StarDockMagics, source: str) -> tuple[Any, Any]:
    return await asyncio.to_thread(_run, magics.shell, source)


def error_line(result: Any, captured: Any) -> str:
    assert result.error_in_exec is not None, captured.stdout
    lines = [line for line in captured.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("StarDock: "), captured.stdout
    return lines[0]


async def test_build_through_the_magic_with_a_live_progress_bar(
    magics: StarDockMagics, server: ServerInfo, base_image: str
) -> None:
    magics.progress = "rich"  # as in a notebook
    marker = f"magic-{uuid.uuid4().hex[:10]}"
    result, captured = await run(magics, f'%stardock build --run "echo {marker}" --dataset m51')
    assert result.error_in_exec is None, captured.stdout
    env_id = re.search(r"Environment ([0-9a-f]{16}) is ready", captured.stdout).group(1)  # type: ignore[union-attr]
    try:
        assert f"kernelspec stardock-{env_id}-m51" in captured.stdout
        first, *updates = captured.outputs
        assert "<progress" in first.data["text/html"] and not first.update
        assert updates and all(u.update for u in updates)
        assert {o.transient["display_id"] for o in captured.outputs} == {
            first.transient["display_id"]
        }
        final = updates[-1].data
        assert 'value="1.000"' in final["text/html"] and "succeeded" in final["text/plain"]
        assert f"Built environment {env_id}" in final["text/plain"]

        # Built once: the same recipe answers at once, without a progress display.
        result, captured = await run(magics, f'%stardock build --run "echo {marker}" --dataset m51')
        assert result.error_in_exec is None and captured.outputs == []
        assert f"Environment {env_id} is ready" in captured.stdout

        result, captured = await run(magics, "%stardock envs")
        assert env_id in captured.stdout
    finally:
        await asyncio.to_thread(StarDockClient(server).delete_environment, env_id)


async def test_the_magic_names_the_command_and_quotes_pip(
    magics: StarDockMagics, base_image: str
) -> None:
    magics.progress = "text"  # as in a terminal IPython
    result, captured = await run(
        magics,
        f'%stardock build --run "echo failing-{uuid.uuid4().hex[:10]}" --run "pip instal foo"',
    )
    assert result.error_in_exec is not None
    # The stream's progress events carry the build record: none of it is printed.
    assert '"content_hash"' not in captured.stdout and '{"id"' not in captured.stdout
    message = captured.stdout[captured.stdout.index("StarDock: The build ") :]
    assert "Custom command 2 (`pip instal foo`) failed with exit code 1." in message
    assert '    ERROR: unknown command "instal" - maybe you meant "install"' in message
    assert "Traceback" not in captured.stdout and "\x1b" not in message
    # The log lines printed while it ran are the log, not build records.
    assert "Step 1/" in captured.stdout


async def test_a_cell_runs_beside_the_data_and_shows_an_image(
    magics: StarDockMagics, server: ServerInfo, jp_fetch, base_image: str, engine
) -> None:
    try:
        result, captured = await run(magics, "%%stardock --dataset m51\n" + PNG_CELL)
        assert result.error_in_exec is None, captured.stdout + captured.stderr
        assert "Synthetic images of a spiral galaxy standing in for Messier 51" in captured.stdout
        (image,) = [o for o in captured.outputs if "image/png" in o.data]
        assert base64.b64decode(image.data["image/png"]).startswith(b"\x89PNG\r\n\x1a\n")
        ((env_id, dataset),) = magics.kernels
        assert dataset == "m51"
        kernel_id = magics.kernels[env_id, dataset].kernel_id

        # The next cell, by recipe or by environment id, shares the kernel and its variables.
        result, captured = await run(magics, "%%stardock --dataset m51\nprint(x * 2)")
        assert captured.stdout.strip() == "42"
        result, captured = await run(
            magics, f"%%stardock {env_id[:8]} --dataset m51\nimport sys\nprint(x, file=sys.stderr)"
        )
        assert captured.stderr.strip() == "21" and "started" not in captured.stdout
        assert [k.kernel_id for k in magics.kernels.values()] == [kernel_id]

        # An exception in the cell shows the remote traceback, and the cell fails.
        result, captured = await run(magics, "%%stardock --dataset m51\n1 / 0")
        assert isinstance(result.error_in_exec, Exception)
        assert (
            "ZeroDivisionError" in captured.stdout
            and "jupyter_stardock/magics" not in captured.stdout
        )

        result, captured = await run(magics, "%stardock kernels")
        assert kernel_id in captured.stdout and "yes" in captured.stdout
    finally:
        result, captured = await run(magics, "%stardock stop")
    assert "Stopped StarDock kernel" in captured.stdout and not magics.kernels
    assert json.loads((await jp_fetch("api", "kernels")).body) == []
    assert not [
        c
        for c in engine.containers_sync(label=KERNEL_LABEL)
        if c["Labels"].get(KERNEL_LABEL) == kernel_id
    ]


async def test_start_shows_how_to_use_the_kernel(
    magics: StarDockMagics, jp_fetch, base_image: str
) -> None:
    # Built without a dataset: its kernelspec beside m51 is published when first asked for.
    result, captured = await run(magics, "%stardock build")
    env_id = re.search(r"Environment ([0-9a-f]{16})", captured.stdout).group(1)  # type: ignore[union-attr]
    try:
        result, captured = await run(magics, f"%stardock start {env_id} --dataset m51")
        assert result.error_in_exec is None, captured.stdout
        assert f"%%stardock {env_id} --dataset m51" in captured.stdout
        assert "stardock-outputs/" in captured.stdout and "%stardock stop" in captured.stdout
        result, captured = await run(magics, f"%%stardock {env_id} --dataset m51\nprint('here')")
        assert captured.stdout.strip() == "here"  # the started kernel, no new one
    finally:
        await run(magics, "%stardock stop")
    assert json.loads((await jp_fetch("api", "kernels")).body) == []


async def test_errors_are_one_clear_line(magics: StarDockMagics, base_image: str) -> None:
    line = error_line(*await run(magics, "%stardock build --app no-such-app"))
    assert "no-such-app" in line
    line = error_line(*await run(magics, '%stardock build --run "COPY a b"'))
    assert "COPY" in line
    line = error_line(*await run(magics, "%%stardock --dataset nowhere\nprint(1)"))
    assert "nowhere" in line
    line = error_line(*await run(magics, "%%stardock ffffffffffffffff\nprint(1)"))
    assert "no environment 'ffffffffffffffff'" in line
    line = error_line(*await run(magics, "%stardock launch"))
    assert "unknown command 'launch'" in line


def test_a_notebook_kernel_finds_its_server_by_itself(
    tmp_path: Path, base_image: str, sample_dataset: Path
) -> None:
    """The real thing: a python3 kernel of a running server loads the magics, no address given."""
    server = ServerProcess(
        tmp_path,
        {
            "StarDockApp": {
                "datasets": {"m51": {"path": str(sample_dataset), "title": "Messier 51"}}
            }
        },
    )
    server.start()
    try:
        notebook = RemoteKernel.start(
            StarDockClient(ServerInfo(server.url, server.token, "the test")), "python3"
        )
        outputs: list[tuple[str, dict[str, Any]]] = []

        def cell(code: str) -> str:
            outputs.clear()
            notebook.execute(code, lambda kind, content: outputs.append((kind, content)))
            return "".join(c["text"] for kind, c in outputs if kind == "stream")

        try:
            assert "Messier 51" in cell("%load_ext jupyter_stardock\n%stardock datasets")
            listing = cell(
                "%%stardock --dataset m51\nimport os\nprint(sorted(os.listdir('/data')))"
            )
            assert "'m51_r.fits'" in listing
            assert "Stopped StarDock kernel" in cell("%stardock stop")
        finally:
            notebook.shutdown()
        assert server.request("GET", "/api/kernels") == []
    finally:
        server.stop()
