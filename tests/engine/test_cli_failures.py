"""A failed build, as the CLI shows it: the step that failed, and its own output.

The custom command ``pip instal foo`` (a typo a user really makes) must fail
with a message naming that command and quoting pip's own hint; progress events
ride along the log stream but are never printed. (The magics: test_magics.py.)
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from typing import Any

from jupyter_stardock.client.discovery import ServerInfo

from ..conftest import run_cli

PIP_HINT = 'ERROR: unknown command "instal" - maybe you meant "install"'


def marker() -> str:
    return f"echo failing-{uuid.uuid4().hex[:10]}"


def no_progress_json(text: str) -> None:
    """The stream's progress events carry the build record: none of it is printed."""
    for needle in ('"content_hash"', '"progress":', '{"id"'):
        assert needle not in text, text[-2000:]


async def test_the_cli_names_the_command_and_quotes_pip(
    jp_serverapp: Any, jp_fetch: Any, base_image: str
) -> None:
    # jp_fetch's fixtures make the test server accept connections.
    server = ServerInfo(jp_serverapp.connection_url, jp_serverapp.identity_provider.token)
    result: subprocess.CompletedProcess[str] = await asyncio.to_thread(
        run_cli,
        "build",
        "--run",
        marker(),
        "--run",
        "pip instal foo",
        "--url",
        server.url,
        "--token",
        server.token,
        timeout=600,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    no_progress_json(result.stderr)
    assert "Custom command 2 (`pip instal foo`) failed with exit code 1." in result.stderr
    assert f"    {PIP_HINT}" in result.stderr
    assert "returned a non-zero code" not in result.stderr.split("failed. ", 1)[-1]
    assert "\x1b" not in result.stderr
    build_id = result.stderr.split("The build ", 1)[1].split()[0]

    # `logs` shows the same: the clean log, then the failure, and no progress records.
    logs = await asyncio.to_thread(
        run_cli, "logs", build_id, "--follow", "--url", server.url, "--token", server.token
    )
    assert PIP_HINT in logs.stdout and "Step 1/" in logs.stdout
    no_progress_json(logs.stdout)
    assert "Custom command 2 (`pip instal foo`) failed with exit code 1." in logs.stderr
