"""A kernel started inside a running server reuses that server's engine, datasets and settings.

Issue 13: a kernel start used to read the config files again and build a
throwaway StarDockApp, a second Engine and a new dataset registry. Now only a
tool without a server (nbconvert, console: test_kernels.py covers them) reads
the config files.
"""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_stardock.kernels import host as kernel_host

from .kernel_helpers import execute, wait_ready
from .test_kernels import astropy_kernelspec, start_kernel

pytestmark = pytest.mark.engine


async def test_a_kernel_in_a_server_uses_the_servers_engine_and_datasets(
    jp_fetch, jp_ws_fetch, jp_serverapp, stardock, base_image, engine, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    name = await astropy_kernelspec(jp_fetch, stardock)

    def no_config_files(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a kernel start inside a server read the config files again")

    monkeypatch.setattr(kernel_host, "load_server_config", no_config_files)
    kernel_id = await start_kernel(jp_fetch, name)
    try:
        provisioner = jp_serverapp.kernel_manager.get_kernel(kernel_id).provisioner
        host = provisioner._host()
        assert host.settings is stardock and host.mode == "local"
        assert host.engine is stardock.engine
        assert provisioner._kernel.engine is stardock.engine
        assert host.datasets() is stardock.dataset_registry
        ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
        await wait_ready(ws)
        reply = await execute(ws, "import os; print(sorted(os.listdir('/data')))")
        assert ".fits" in reply["stdout"]  # the server's dataset, from the server's registry
        ws.close()
        # A restart starts from the same host: still no config files read.
        await jp_fetch("api", "kernels", kernel_id, "restart", method="POST", body="{}")
        assert provisioner._kernel.engine is stardock.engine
    finally:
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")
