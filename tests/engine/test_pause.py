"""Pause and resume a container kernel against the real engine (issue 17)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from ..server_process import ServerProcess
from .conftest import server_config
from .kernel_helpers import execute, send_execute, wait_ready
from .test_kernels import astropy_kernelspec, containers_of, post, start_kernel


async def refused(jp_fetch, *path: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(HTTPClientError) as info:
        await post(jp_fetch, *path)
    assert info.value.response is not None
    return info.value.code, json.loads(info.value.response.body)["message"]


async def stardock_state(jp_fetch, kernel_id: str) -> str:  # type: ignore[no-untyped-def]
    kernels = json.loads((await jp_fetch("stardock", "api", "kernels")).body)["kernels"]
    return str(next(k["state"] for k in kernels if k["id"] == kernel_id))


async def test_pause_keeps_an_execute_for_after_the_resume(
    jp_fetch, jp_ws_fetch, stardock, base_image, engine
) -> None:
    name = await astropy_kernelspec(jp_fetch, stardock)
    kernel_id = await start_kernel(jp_fetch, name)
    ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    await wait_ready(ws)
    (container,) = containers_of(engine, kernel_id)

    # Busy on purpose: a paused kernel must use no CPU even in the middle of a loop.
    await send_execute(ws, "import time\nt0 = time.time()\nwhile time.time() - t0 < 4: pass")
    await asyncio.sleep(1)
    assert await post(jp_fetch, "stardock", "api", "kernels", kernel_id, "pause") == {
        "id": kernel_id,
        "state": "paused",
    }
    assert await stardock_state(jp_fetch, kernel_id) == "paused"
    before = engine.cpu_usage_sync(container["Id"])
    await asyncio.sleep(3)
    assert engine.cpu_usage_sync(container["Id"]) == before

    # Pausing twice, resuming what runs, and a typo: sentences, not tracebacks.
    code, message = await refused(jp_fetch, "stardock", "api", "kernels", kernel_id, "pause")
    assert code == 409 and "paused already" in message
    typo = kernel_id[:-1] + ("0" if kernel_id[-1] != "0" else "1")
    code, message = await refused(jp_fetch, "stardock", "api", "kernels", typo, "resume")
    assert code == 404 and message.startswith(f"There is no kernel '{typo}' on this server.")

    # An execute sent while paused waits in ZeroMQ and is answered after the resume.
    answer = asyncio.ensure_future(execute(ws, "print(6 * 7)"))
    await asyncio.sleep(2)
    assert not answer.done()
    assert (await post(jp_fetch, "stardock", "api", "kernels", kernel_id, "resume"))[
        "state"
    ] == "running"
    out = await answer
    assert out["error"] is None and out["stdout"].strip() == "42", out
    assert engine.cpu_usage_sync(container["Id"]) > before

    code, message = await refused(jp_fetch, "stardock", "api", "kernels", kernel_id, "resume")
    assert code == 409 and "not paused" in message

    # A paused kernel shuts down cleanly (thawed to read its shutdown request).
    await post(jp_fetch, "stardock", "api", "kernels", kernel_id, "pause")
    await jp_fetch("api", "kernels", kernel_id, method="DELETE")
    assert containers_of(engine, kernel_id) == []
    ws.close()


class TestCuller:
    @pytest.fixture
    def jp_server_config(self, sample_dataset: Path) -> dict[str, Any]:
        config = server_config(sample_dataset)
        config["MappingKernelManager"] = {"cull_idle_timeout": 3, "cull_interval": 1}
        return config

    async def test_a_paused_kernel_survives_the_culler(
        self, jp_fetch, jp_ws_fetch, stardock, base_image, engine
    ) -> None:
        name = await astropy_kernelspec(jp_fetch, stardock)
        paused = await start_kernel(jp_fetch, name)
        idle = await start_kernel(jp_fetch, name)
        await post(jp_fetch, "stardock", "api", "kernels", paused, "pause")

        # The culler runs (the idle kernel goes) and passes over the paused one.
        deadline = time.monotonic() + 120
        while idle in {k["id"] for k in json.loads((await jp_fetch("api", "kernels")).body)}:
            assert time.monotonic() < deadline, "the culler never culled the idle kernel"
            await asyncio.sleep(1)
        await asyncio.sleep(4)  # more than the idle timeout, several culler rounds
        assert paused in {k["id"] for k in json.loads((await jp_fetch("api", "kernels")).body)}
        assert containers_of(engine, idle) == []

        await post(jp_fetch, "stardock", "api", "kernels", paused, "resume")
        ws = await jp_ws_fetch("api", "kernels", paused, "channels")
        await wait_ready(ws)
        out = await execute(ws, "print('still here')")
        assert out["stdout"].strip() == "still here"
        ws.close()
        await jp_fetch("api", "kernels", paused, method="DELETE")


class TestIdlePauser:
    @pytest.fixture
    def jp_server_config(self, sample_dataset: Path) -> dict[str, Any]:
        return server_config(sample_dataset, pause_idle_after=2.0)

    async def test_an_idle_kernel_is_paused(self, jp_fetch, stardock, base_image, engine) -> None:
        name = await astropy_kernelspec(jp_fetch, stardock)
        kernel_id = await start_kernel(jp_fetch, name)
        deadline = time.monotonic() + 60
        while await stardock_state(jp_fetch, kernel_id) != "paused":
            assert time.monotonic() < deadline, "pause_idle_after never paused the idle kernel"
            await asyncio.sleep(1)
        await post(jp_fetch, "stardock", "api", "kernels", kernel_id, "resume")
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")


async def test_a_neighbour_server_cannot_pause_my_kernel(
    jp_fetch, stardock, base_image, engine, tmp_path, sample_dataset
) -> None:
    name = await astropy_kernelspec(jp_fetch, stardock)
    kernel_id = await start_kernel(jp_fetch, name)
    neighbour = ServerProcess(
        tmp_path / "neighbour",
        {"StarDockApp": {"datasets": {"m51": {"path": str(sample_dataset)}}}},
    )
    neighbour.start()
    try:
        for action in ("pause", "resume", "suspend"):
            with pytest.raises(urllib.error.HTTPError) as info:
                await asyncio.to_thread(
                    neighbour.request, "POST", f"/stardock/api/kernels/{kernel_id}/{action}", {}
                )
            assert info.value.code == 404, action
            assert "There is no kernel" in json.loads(info.value.read())["message"]
    finally:
        neighbour.stop()
    assert await stardock_state(jp_fetch, kernel_id) == "running"
    await jp_fetch("api", "kernels", kernel_id, method="DELETE")
