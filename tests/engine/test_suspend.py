"""Suspend a kernel to disk and restore it, against the real engine (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path

from .kernel_helpers import changed, execute, root_only_file, snapshots, wait_ready
from .test_kernels import astropy_kernelspec, containers_of, post, start_kernel
from .test_pause import refused

STATE = (
    "import numpy as np\n"
    "from astropy.table import Table\n"
    "image = np.arange(12.0).reshape(3, 4)\n"
    "catalog = Table({'name': ['M51a', 'M51b'], 'mag': [8.4, 9.6]})\n"
    "settings = {'band': 'r', 'sigma': 2}\n"
    "square = lambda x: x * x\n"
    "notes = open('/outputs/notes.txt', 'w')\n"
    "numbers = (i for i in range(3))\n"
)


async def test_suspend_then_restore_keeps_arrays_and_tables(
    jp_fetch, jp_ws_fetch, jp_root_dir, stardock, base_image, engine
) -> None:
    name = await astropy_kernelspec(jp_fetch, stardock)
    kernel_id = await start_kernel(jp_fetch, name)
    ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    await wait_ready(ws)
    out = await execute(ws, STATE)
    assert out["error"] is None, out
    ws.close()

    record = await post(jp_fetch, "stardock", "api", "kernels", kernel_id, "suspend")
    assert {"image", "catalog", "settings", "square"} <= set(record["saved"]), record
    assert "open TextIOWrapper ('/outputs/notes.txt')" in record["skipped"]["notes"]
    assert "numbers" in record["skipped"] and "generator" in record["skipped"]["numbers"]
    assert record["modules"] == {"np": "numpy"}
    # The container is gone, its outputs kept (the variables among them) and archived.
    assert containers_of(engine, kernel_id) == []
    assert kernel_id not in {k["id"] for k in json.loads((await jp_fetch("api", "kernels")).body)}
    assert (Path(record["outputs"]) / ".stardock-suspend" / "variables.pkl").is_file()
    archives = json.loads((await jp_fetch("stardock", "api", "archives")).body)["archives"]
    assert kernel_id in {a["id"] for a in archives}
    suspended = json.loads((await jp_fetch("stardock", "api", "suspended")).body)["suspended"]
    assert [s["kernel_id"] for s in suspended] == [kernel_id]

    restored = await post(jp_fetch, "stardock", "api", "kernels", kernel_id, "restore")
    assert restored["kernel_name"] == name and restored["restored_from"] == kernel_id
    assert {"image", "catalog", "settings", "square"} <= set(restored["loaded"])
    assert set(restored["skipped"]) == {"notes", "numbers"}
    new_id = restored["id"]
    assert new_id != kernel_id
    ws = await jp_ws_fetch("api", "kernels", new_id, "channels")
    await wait_ready(ws)
    out = await execute(
        ws,
        "print(image.sum(), list(catalog['name']), catalog['mag'].sum(), settings['band'], "
        "square(3), np.__name__, 'notes' in dir(), open('/data/m51_r.fits', 'rb').read(6))",
    )
    assert out["error"] is None, out
    assert out["stdout"].split() == [
        "66.0",
        "['M51a',",
        "'M51b']",
        "18.0",
        "r",
        "9",
        "numpy",
        "False",
        "b'SIMPLE'",
    ]
    ws.close()
    assert json.loads((await jp_fetch("stardock", "api", "suspended")).body)["suspended"] == []

    # Restoring twice, or a kernel that was never suspended: sentences.
    code, message = await refused(jp_fetch, "stardock", "api", "kernels", kernel_id, "restore")
    assert code == 404 and message.startswith(f"There is no suspended kernel '{kernel_id}'.")
    await jp_fetch("api", "kernels", new_id, method="DELETE")


async def test_a_planted_manifest_link_is_not_followed(
    jp_fetch, jp_ws_fetch, stardock, base_image, engine
) -> None:
    name = await astropy_kernelspec(jp_fetch, stardock)
    kernel_id = await start_kernel(jp_fetch, name)
    ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    await wait_ready(ws)
    with root_only_file() as victim:
        before = snapshots([victim, victim.parent])
        # The kernel's own code runs the suspend: here every rename it makes plants a
        # link to the victim instead, so the manifest the server reads is that link.
        out = await execute(
            ws,
            "import os\n"
            "def plant(src, dst, *a, **k):\n"
            "    os.unlink(src)\n"
            f"    os.symlink({str(victim)!r}, dst)\n"
            "os.replace = plant\n",
        )
        assert out["error"] is None, out
        code, message = await refused(jp_fetch, "stardock", "api", "kernels", kernel_id, "suspend")
        assert code == 500 and "was not suspended (it keeps running)" in message
        assert "symlink" in message
        assert victim.read_text() not in message
        assert changed(before) == {}
    # Still running and usable: nothing was stopped on a manifest the server could not read.
    out = await execute(ws, "print('alive')")
    assert out["stdout"].strip() == "alive"
    ws.close()
    suspended = json.loads((await jp_fetch("stardock", "api", "suspended")).body)["suspended"]
    assert suspended == []
    await jp_fetch("api", "kernels", kernel_id, method="DELETE")
