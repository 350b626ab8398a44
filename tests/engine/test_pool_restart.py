"""The warm pool after a restart (issue 14): the kernelspecs used recently are kept, real servers."""

from __future__ import annotations

import json

from jupyter_stardock.kernels.pool_recent import RECENT_FILE

from ..server_process import ServerProcess
from .test_neighbours import kernelspec_of
from .test_pool_crash import container_of, pooled_server, slots_of, wait_ready_slots


def test_the_pool_refills_after_a_restart_without_a_new_start(
    tmp_path, base_image, engine, sample_dataset
) -> None:
    server: ServerProcess = pooled_server(tmp_path, sample_dataset)
    server.start()
    try:
        spec = kernelspec_of(server)
        first = server.request("POST", "/api/kernels", {"name": spec})["id"]
        wait_ready_slots(server, 2)
        server.request("DELETE", f"/api/kernels/{first}")
        server.stop()
        assert slots_of(engine, server) == {}  # the slots went with the server
        record = tmp_path / "data" / "stardock" / RECENT_FILE
        uses = json.loads(record.read_text())["uses"]
        assert [(u["spec"], u["owner"], u["built"]) for u in uses] == [(spec, "", False)]
        assert oct(record.stat().st_mode & 0o777) == "0o600"

        server.start()
        # No kernel started since the restart: the record alone refills the pool...
        wait_ready_slots(server, 2)
        assert len(slots_of(engine, server)) == 2
        assert not server.request("GET", "/api/kernels")
        # ...and the next start is warm: it takes one of those slots.
        slots = set(slots_of(engine, server))
        kernel = server.request("POST", "/api/kernels", {"name": spec})["id"]
        container = container_of(engine, kernel)
        assert container is not None and container["Id"] in slots
        server.request("DELETE", f"/api/kernels/{kernel}")
    finally:
        server.stop()
