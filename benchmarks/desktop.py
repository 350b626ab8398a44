"""A kernel's desktop: Xtigervnc + DS9 idle memory, and "open desktop" to the first frame.

A real ``jupyter server`` with StarDock runs in a child process; the environment
(astropy, DS9, the Desktop app) is built through it once (the engine's layer cache
makes a rebuild quick). Each round starts a fresh kernel, then times
``POST /stardock/api/kernels/<id>/desktop`` plus the RFB handshake over the desktop
websocket until the first FramebufferUpdate arrives, as noVNC sees it. Then DS9
opens a FITS file from /data and, idle, the resident memory of the processes in the
kernel's container is read: Xtigervnc and DS9 against the kernel's own ipykernel.

    python benchmarks/desktop.py [--quick]

Goal: the first frame within 2 s of "open desktop" (median), and Xtigervnc + DS9
idle under 300 MiB (what a 4 GiB kernel limit can spare).
"""

from __future__ import annotations

import struct
import tempfile
import time
from pathlib import Path
from typing import Any

import websocket
from _common import ServerProcess, arguments, fail, median, report, running_server, verdict

from jupyter_stardock.core.sample import make_sample_dataset
from jupyter_stardock.engine import Engine
from jupyter_stardock.engine.exec import Execs

GOAL_FIRST_FRAME_S = 2.0
GOAL_MEMORY_MIB = 300.0
APPS = ["astropy", "ds9", "desktop"]

_RSS = """
for p in /proc/[0-9]*; do
  printf '%s %s\\n' "$(cat $p/comm)" "$(awk '/^VmRSS/ {print $2}' $p/status)"
done
"""


def environment(server: ServerProcess) -> str:
    body = server.request("POST", "/stardock/api/builds", {"apps": APPS, "dataset": "m51"})
    if body.get("build") is None:
        return str(body["environment"]["id"])
    build_id = body["build"]["id"]
    for _ in range(3600):
        record = server.request("GET", f"/stardock/api/builds/{build_id}")
        if record["state"] == "succeeded":
            return str(record["environment"]["id"])
        if record["state"] not in ("queued", "running"):
            fail(f"the desktop environment did not build: {record.get('error')}")
        time.sleep(1)
    fail("the desktop environment took over an hour to build")
    raise AssertionError


def running_kernel(server: ServerProcess, spec: str) -> dict[str, Any]:
    kernel_id = server.request("POST", "/api/kernels", {"name": spec})["id"]
    for _ in range(120):
        for k in server.request("GET", "/stardock/api/kernels")["kernels"]:
            if k["id"] == kernel_id and k["state"] == "running":
                return dict(k)
        time.sleep(0.5)
    fail(f"kernel {kernel_id} did not start")
    raise AssertionError


def recv_exactly(ws: websocket.WebSocket, n: int, buffer: bytearray) -> bytes:
    while len(buffer) < n:
        buffer.extend(ws.recv())
    data = bytes(buffer[:n])
    del buffer[:n]
    return data


def first_frame(server: ServerProcess, kernel_id: str) -> float:
    """Seconds from "open desktop" to the first FramebufferUpdate (RFB 3.8, security None)."""
    start = time.perf_counter()
    server.request("POST", f"/stardock/api/kernels/{kernel_id}/desktop")
    url = server.url.replace("http", "ws", 1)
    ws = websocket.create_connection(
        f"{url}/stardock/api/kernels/{kernel_id}/desktop/websocket",
        header=[f"Authorization: token {server.token}"],
        suppress_origin=True,
        timeout=30,
    )
    buffer = bytearray()
    try:
        recv_exactly(ws, 12, buffer)  # "RFB 003.008\n"
        ws.send_binary(b"RFB 003.008\n")
        count = recv_exactly(ws, 1, buffer)[0]
        if 1 not in recv_exactly(ws, count, buffer):
            fail("the X server offers no 'None' security type")
        ws.send_binary(b"\x01")
        if recv_exactly(ws, 4, buffer) != b"\x00\x00\x00\x00":
            fail("the X server refused the security handshake")
        ws.send_binary(b"\x01")  # ClientInit: shared
        width, height = struct.unpack(">HH", recv_exactly(ws, 4, buffer))
        recv_exactly(ws, 16, buffer)  # pixel format
        (name_length,) = struct.unpack(">I", recv_exactly(ws, 4, buffer))
        recv_exactly(ws, name_length, buffer)
        ws.send_binary(struct.pack(">BBHHHH", 3, 0, 0, 0, width, height))
        while recv_exactly(ws, 1, buffer)[0] != 0:  # FramebufferUpdate
            pass
        return time.perf_counter() - start
    finally:
        ws.close()


def idle_memory(kernel: dict[str, Any]) -> dict[str, float]:
    """MiB resident, by process name, with DS9 showing a FITS file from /data."""
    container = kernel["container"]  # the engine takes a short id too
    engine = Engine(timeout=30)
    try:
        user = (engine.inspect_container_sync(container) or {})["Config"]["User"]
    finally:
        engine.close()
    execs = Execs(None)
    show = (
        "ds9 /data/m51_r.fits >/dev/null 2>&1 & "
        "until xpaget ds9 file 2>/dev/null | grep -q fits; do sleep 0.5; done"
    )
    execs.run(container, ["/bin/sh", "-c", show], user=user)
    time.sleep(5)  # idle
    _code, out = execs.run(container, ["/bin/sh", "-c", _RSS], user=user)
    rss: dict[str, float] = {}
    for line in out.decode().splitlines():
        name, _, kib = line.rpartition(" ")
        if kib.isdigit():
            rss[name] = rss.get(name, 0.0) + int(kib) / 1024
    return rss


def main() -> None:
    parser = arguments(__doc__.splitlines()[0], "2 rounds (default: 5)")
    args = parser.parse_args()
    rounds = 2 if args.quick else 5
    data = make_sample_dataset(Path(tempfile.mkdtemp(prefix="stardock-bench-data-")) / "m51")
    config = {"datasets": {"m51": {"path": str(data), "title": "Messier 51"}}}
    with running_server(config) as (server, _made):
        spec = f"stardock-{environment(server)}-m51"
        frames: list[float] = []
        memory: dict[str, float] = {}
        for k in range(rounds):
            kernel = running_kernel(server, spec)
            frames.append(first_frame(server, kernel["id"]))
            if k == rounds - 1:
                memory = idle_memory(kernel)
            server.request("DELETE", f"/api/kernels/{kernel['id']}")
    # Debian's ds9 is a Tk program: its process is `wish`, with XPA's name server `xpans`.
    xvnc = memory.get("Xtigervnc", 0.0)
    ds9 = sum(memory.get(name, 0.0) for name in ("ds9", "wish", "xpans"))
    kernel_mib = memory.get("python", 0.0)
    first = median(frames)
    met = first <= GOAL_FIRST_FRAME_S and xvnc + ds9 <= GOAL_MEMORY_MIB
    rows = [
        (
            "first frame",
            f"median {first:.2f} s (min {min(frames):.2f}, max {max(frames):.2f})"
            f" over {rounds} fresh kernels (goal <= {GOAL_FIRST_FRAME_S:g} s)",
        ),
        ("Xtigervnc idle", f"{xvnc:.0f} MiB"),
        ("DS9 idle (one FITS)", f"{ds9:.0f} MiB"),
        (
            "kernel (ipykernel)",
            f"{kernel_mib:.0f} MiB  desktop / kernel = {(xvnc + ds9) / kernel_mib:.2f}"
            if kernel_mib
            else "?",
        ),
        ("verdict", verdict(met)),
    ]
    results = {
        "benchmark": "desktop",
        "quick": args.quick,
        "rounds": rounds,
        "first_frame_median_s": round(first, 3),
        "xtigervnc_mib": round(xvnc, 1),
        "ds9_mib": round(ds9, 1),
        "kernel_mib": round(kernel_mib, 1),
        "all_processes_mib": {k: round(v, 1) for k, v in memory.items()},
        "goal_met": met,
    }
    report(f"Desktop, {rounds} rounds ({'quick' if args.quick else 'full'})", rows, results)


if __name__ == "__main__":
    main()
