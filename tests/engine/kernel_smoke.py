"""Cells in a real kernel of a built image: jupyter_client, the StarDock provisioner, a kernel container.

The catalog's ``smoke_kernel`` checks run here, the way a notebook's cells run:
the image's own ipykernel in a hardened container (read-only root, no network,
ipc sockets), started from a StarDock kernelspec by jupyter_client.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import AsyncKernelManager

from jupyter_stardock.core.kernelspecs import KernelspecStore

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class Cell:
    """What one execute request gave back."""

    stdout: str = ""
    stderr: str = ""
    #: "ename: evalue" and the traceback without colour codes, or None.
    error: str | None = None
    #: The MIME types of each display_data / execute_result, in order.
    displays: list[set[str]] = field(default_factory=list)

    @property
    def mime_types(self) -> set[str]:
        return set().union(*self.displays) if self.displays else set()

    def describe(self) -> str:
        return (
            f"error: {self.error}\nstdout: {self.stdout[-2000:]}\nstderr: {self.stderr[-2000:]}"
            f"\ndisplays: {self.displays}"
        )


def use_jupyter_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jupyter's folders below ``home`` for this test only; kernels' outputs go there too (the cwd)."""
    for name in ("config", "data", "runtime"):
        (home / name).mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(home / "runtime"))
    monkeypatch.chdir(home)


async def run_cells(image: str, cells: list[str], timeout: float = 300) -> list[Cell]:
    """Run ``cells`` one after another in one kernel of ``image``; needs :func:`use_jupyter_home`."""
    store = KernelspecStore(Path(os.environ["JUPYTER_DATA_DIR"]) / "kernels")
    spec = store.write(
        environment=image.rsplit(":", 1)[-1],
        image=image,
        dataset_id=None,
        dataset_title=None,
        app_titles=["smoke check"],
        recipe={},
    )
    km = AsyncKernelManager(kernel_name=spec)
    await km.start_kernel()
    client = km.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=120)
        return [await _execute(client, code, timeout) for code in cells]
    finally:
        client.stop_channels()
        await km.shutdown_kernel()


async def _execute(client: Any, code: str, timeout: float) -> Cell:
    cell = Cell()

    def on_message(msg: dict[str, Any]) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            if content["name"] == "stdout":
                cell.stdout += content["text"]
            else:
                cell.stderr += content["text"]
        elif kind == "error":
            traceback = _ANSI.sub("", "\n".join(content["traceback"]))
            cell.error = f"{content['ename']}: {content['evalue']}\n{traceback[-3000:]}"
        elif kind in ("display_data", "execute_result"):
            cell.displays.append(set(content["data"]))

    reply = await client.execute_interactive(code, timeout=timeout, output_hook=on_message)
    if reply["content"]["status"] != "ok" and cell.error is None:
        cell.error = f"{reply['content'].get('ename')}: {reply['content'].get('evalue')}"
    return cell
