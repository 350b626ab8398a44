"""A JupyterLab terminal inside a kernel's container, through the real terminal websocket.

The terminal is jupyter_server_terminals' own (terminado's JSON protocol:
["stdin", text] in, ["stdout", text] out); its program bridges to a docker exec of
the user's shell in the kernel's container, as the kernel's user.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from ..conftest import run_cli
from .conftest import server_config
from .kernel_helpers import wait_ready
from .test_kernels import KERNEL_UID, astropy_kernelspec, post, start_kernel

pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def jp_server_config(sample_dataset: Path) -> dict[str, Any]:
    config = server_config(sample_dataset)
    config["ServerApp"]["jpserver_extensions"]["jupyter_server_terminals"] = True
    return config


class Terminal:
    """terminado's websocket: ["stdin", ...] in, ["stdout", ...] out."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen = ""

    async def send(self, text: str) -> None:
        await self.ws.write_message(json.dumps(["stdin", text]))

    async def resize(self, rows: int, cols: int) -> None:
        await self.ws.write_message(json.dumps(["set_size", rows, cols, 600, 800]))

    async def until(self, needle: str, timeout: float = 60) -> str:
        async def read() -> None:
            while needle not in self.seen:
                message = await self.ws.read_message()
                if message is None:
                    raise EOFError(f"terminal closed; it showed: {self.seen[-2000:]}")
                kind, *rest = json.loads(message)
                if kind == "stdout":
                    self.seen += rest[0]

        try:
            await asyncio.wait_for(read(), timeout)
        except TimeoutError:
            raise AssertionError(f"no {needle!r} in: {self.seen[-2000:]}") from None
        return self.seen

    async def run(self, command: str) -> str:
        """The output of one command, between two markers the shell prints."""
        mark = uuid.uuid4().hex[:8]
        start = len(self.seen)
        await self.send(f"echo B{mark}; {command}; echo E{mark}\r")
        text = await self.until(f"\nE{mark}")
        found = re.search(f"B{mark}\r\n(?:(.*?)\r\n)?E{mark}", text[start:], re.DOTALL)
        assert found is not None, text[start:]
        return (found.group(1) or "").strip()

    async def closed(self, timeout: float = 60) -> None:
        async def read() -> None:
            while (message := await self.ws.read_message()) is not None:
                if json.loads(message)[0] == "disconnect":
                    return

        await asyncio.wait_for(read(), timeout)


async def test_terminal_in_the_kernel_container(
    jp_fetch, jp_ws_fetch, jp_root_dir, stardock, base_image, engine
) -> None:
    name = await astropy_kernelspec(jp_fetch, stardock)
    kernel_id = await start_kernel(jp_fetch, name)
    channels = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    await wait_ready(channels)
    channels.close()

    created = await post(jp_fetch, "stardock", "api", "kernels", kernel_id, "terminal")
    assert created["kernel"] == kernel_id and created["url"].endswith(created["name"])
    listed = json.loads((await jp_fetch("api", "terminals")).body)
    assert created["name"] in [t["name"] for t in listed]  # the Running panel lists it

    term = Terminal(await jp_ws_fetch("terminals", "websocket", created["name"]))
    assert await term.run("id -u") == str(KERNEL_UID)
    assert await term.run("pwd") == "/outputs"
    cap = await term.run("grep CapEff /proc/self/status")
    assert cap.split()[-1] == "0000000000000000", cap
    refused = await term.run("touch /data/x 2>&1; echo status=$?")
    assert "Read-only file system" in refused and "status=1" in refused, refused
    assert await term.run("touch /outputs/from-terminal; echo $?") == "0"
    kernels = json.loads((await jp_fetch("stardock", "api", "kernels")).body)["kernels"]
    outputs = Path(jp_root_dir) / next(k for k in kernels if k["id"] == kernel_id)["outputs"]
    assert (outputs / "from-terminal").stat().st_uid == KERNEL_UID
    # No network: only the loopback interface inside the container.
    interfaces = await term.run("ls /sys/class/net")
    assert interfaces.split() == ["lo"], interfaces

    await term.resize(33, 111)
    size = ""
    for _ in range(20):
        size = await term.run("stty size")
        if size == "33 111":
            break
        await asyncio.sleep(0.5)
    assert size == "33 111"

    # The kernel stops: the exec ends, so does the terminal.
    await jp_fetch("api", "kernels", kernel_id, method="DELETE")
    await term.closed()
    for _ in range(40):
        names = [t["name"] for t in json.loads((await jp_fetch("api", "terminals")).body)]
        if created["name"] not in names:
            break
        await asyncio.sleep(0.5)
    assert created["name"] not in names


async def test_terminal_of_no_such_kernel_is_a_sentence(jp_fetch, stardock, engine) -> None:
    with pytest.raises(HTTPClientError) as err:
        await post(jp_fetch, "stardock", "api", "kernels", "0123abcd", "terminal")
    assert err.value.code == 404
    body = json.loads(err.value.response.body)
    assert "no running StarDock kernel '0123abcd'" in body["message"]


async def test_shell_command_names_a_typo(jp_fetch, jp_serverapp, engine) -> None:
    app = jp_serverapp
    assert json.loads((await jp_fetch("stardock", "api", "kernels")).body)["kernels"] == []
    token = app.identity_provider.token
    # In a thread: the test's loop is the server's, and it must answer the command.
    result = await asyncio.to_thread(
        run_cli, "shell", "not-a-kernel", "--url", app.connection_url, "--token", token
    )
    assert result.returncode == 1
    assert "no running StarDock kernel 'not-a-kernel'" in result.stderr


async def test_the_terminal_magic_opens_a_terminal(
    jp_fetch, jp_ws_fetch, jp_serverapp, stardock, base_image, engine, capsys
) -> None:
    from jupyter_stardock.client.discovery import ServerInfo
    from jupyter_stardock.magics import StarDockMagics

    kernel_id = await start_kernel(jp_fetch, await astropy_kernelspec(jp_fetch, stardock))
    channels = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    await wait_ready(channels)
    channels.close()
    app = jp_serverapp
    magics = StarDockMagics(server=ServerInfo(app.connection_url, app.identity_provider.token))
    # In a thread: the magic's client asks this loop's server.
    await asyncio.to_thread(magics.stardock, "terminal")  # the only running kernel
    shown = capsys.readouterr().out
    names = [t["name"] for t in json.loads((await jp_fetch("api", "terminals")).body)]
    assert len(names) == 1 and f"lab/terminals/{names[0]}" in shown, shown
    assert f"in kernel {kernel_id}" in shown
    await jp_fetch("api", "kernels", kernel_id, method="DELETE")
