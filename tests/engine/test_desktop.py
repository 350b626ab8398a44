"""A kernel's desktop: TigerVNC's X server in its container, RFB over a websocket, DS9 on it.

The environment (astropy, DS9, the Desktop app) is built through the normal build
path once; its content-addressed tag makes later runs find it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from .kernel_helpers import execute, wait_ready
from .test_kernels import post, start_kernel

pytestmark = pytest.mark.timeout(1800)

DESKTOP_APPS = ["astropy", "ds9", "desktop"]


async def desktop_kernelspec(jp_fetch, stardock) -> str:  # type: ignore[no-untyped-def]
    """Build (once per engine) an environment with DS9 and the desktop, with the dataset."""
    body = await post(
        jp_fetch, "stardock", "api", "builds", body={"apps": DESKTOP_APPS, "dataset": "m51"}
    )
    if body["build"] is not None:
        record = await stardock.builds.wait(body["build"]["id"])
        if record.state != "succeeded":
            print("\n".join(stardock.builds.log(record.id).read(0).lines))
        assert record.state == "succeeded", record
        environment = record.environment_id
    else:
        environment = body["environment"]["id"]
    return f"stardock-{environment}-m51"


async def first_bytes(ws: Any, timeout: float = 30) -> bytes | None:
    """The first message the desktop websocket sends (None: it closed without a word)."""
    message = await asyncio.wait_for(ws.read_message(), timeout)
    return message if message is None or isinstance(message, bytes) else message.encode()


DS9_SHOWS = """
import subprocess, time
ds9 = subprocess.Popen(["ds9", "-geometry", "1200x900", "/data/m51_r.fits"])
shown = ""
for _ in range(120):
    done = subprocess.run(["xpaget", "ds9", "file"], capture_output=True, text=True)
    shown = done.stdout.strip()
    if shown:
        break
    time.sleep(0.5)
print(shown)
"""

TK_FIGURE = """
import matplotlib
matplotlib.use("TkAgg")
import matplotlib.pyplot as plt
figure = plt.figure()
plt.plot([1, 3, 2])
plt.show(block=False)
plt.pause(0.5)
print(matplotlib.get_backend().lower(), figure.canvas.get_tk_widget().winfo_screen())
plt.close(figure)
"""

SAME_CGROUP = """
import os
xvnc = [p for p in os.listdir('/proc') if p.isdigit()
        and open(f'/proc/{p}/comm').read().strip() == 'Xtigervnc']
print(len(xvnc), open(f'/proc/{xvnc[0]}/cgroup').read() == open('/proc/self/cgroup').read())
"""


async def test_desktop_of_a_kernel(jp_fetch, jp_ws_fetch, stardock, base_image, engine) -> None:
    name = await desktop_kernelspec(jp_fetch, stardock)
    kernel_id = await start_kernel(jp_fetch, name)
    channels = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    await wait_ready(channels)

    out = await execute(channels, "import os; print(os.environ['DISPLAY'])")
    assert out["stdout"].strip() == ":1", out

    started = await post(jp_fetch, "stardock", "api", "kernels", kernel_id, "desktop")
    assert started["websocket"] == f"kernels/{kernel_id}/desktop/websocket"
    desktop = await jp_ws_fetch("stardock", "api", "kernels", kernel_id, "desktop", "websocket")
    greeting = await first_bytes(desktop)
    assert greeting is not None and greeting.startswith(b"RFB 003.00"), greeting
    desktop.close()

    # The X server is the kernel's: same cgroup (its memory limit), no network.
    out = await execute(channels, SAME_CGROUP)
    assert out["stdout"].split() == ["1", "True"], out
    out = await execute(channels, "import os; print(sorted(os.listdir('/sys/class/net')))")
    assert out["stdout"].strip() == "['lo']", out

    # Matplotlib's Tk backend opens its window there.
    out = await execute(channels, TK_FIGURE, timeout=120)
    assert out["error"] is None and out["stdout"].split() == ["tkagg", ":1.0"], out

    # DS9 started from a cell draws there, and the kernel drives it over XPA.
    out = await execute(channels, DS9_SHOWS, timeout=180)
    assert out["error"] is None, out
    assert out["stdout"].strip().endswith("/data/m51_r.fits"), out

    # A second desktop connection meets the same X server (started once).
    again = await jp_ws_fetch("stardock", "api", "kernels", kernel_id, "desktop", "websocket")
    assert (await first_bytes(again) or b"").startswith(b"RFB 003.00")
    again.close()

    # The kernel swaps its socket for a link to the engine's: the relay runs in the
    # container, where that path leads nowhere, so the websocket gets nothing.
    out = await execute(
        channels,
        "import os; s = '/tmp/.stardock-desktop/vnc'; os.remove(s); "
        "os.symlink('/var/run/docker.sock', s); print(os.path.exists('/var/run/docker.sock'))",
    )
    assert out["stdout"].strip() == "False", out
    with pytest.raises(HTTPClientError) as err:
        await jp_ws_fetch("stardock", "api", "kernels", kernel_id, "desktop", "websocket")
    assert err.value.code == 403
    with pytest.raises(HTTPClientError) as err:
        await post(jp_fetch, "stardock", "api", "kernels", kernel_id, "desktop")
    assert "restart the kernel" in json.loads(err.value.response.body)["message"]
    channels.close()
    await jp_fetch("api", "kernels", kernel_id, method="DELETE")


async def test_a_kernel_without_the_desktop_app_gets_a_sentence(
    jp_fetch, jp_ws_fetch, stardock, base_image, engine
) -> None:
    from .test_kernels import astropy_kernelspec

    kernel_id = await start_kernel(jp_fetch, await astropy_kernelspec(jp_fetch, stardock))
    channels = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    await wait_ready(channels)
    channels.close()
    with pytest.raises(HTTPClientError) as err:
        await post(jp_fetch, "stardock", "api", "kernels", kernel_id, "desktop")
    assert err.value.code == 404
    assert "Desktop (noVNC)" in json.loads(err.value.response.body)["message"]
    await jp_fetch("api", "kernels", kernel_id, method="DELETE")
