"""kernel_start.py's two kinds of issue 14: a warm-pool kernel, and a same-software local kernel.

- **Same-software local**: ipykernel in a venv with the image's own ipykernel,
  IPython and matplotlib-inline versions (images/base/kernel-runtime.txt),
  installed from PyPI once into a cache folder and reused; what the container
  runs, without the container.
- **Pooled**: a StarDock kernel taken from the product's warm pool
  (kernels/pool.py). A kernel manager has no server, so the script registers a
  host with a pool for the manager's parent, as the server extension does for its
  ServerApp; the provisioner then claims a slot like in a server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
from traitlets.config import Configurable

from jupyter_stardock.core.pool_budget import PoolLimits
from jupyter_stardock.engine import Engine
from jupyter_stardock.kernels.host import register_host, standalone_host
from jupyter_stardock.kernels.launch import container_name
from jupyter_stardock.kernels.pool import KernelPool
from jupyter_stardock.kernels.pool_claim import POOL_LABEL

RUNTIME_PINS = Path(__file__).resolve().parents[1] / "images" / "base" / "kernel-runtime.txt"
SAME_SOFTWARE = ("ipykernel", "ipython", "matplotlib-inline")
SAME_SPEC = "stardock-bench-same-software"


def image_pins() -> list[str]:
    """The image's pins of the kernel software (``name==version``), from kernel-runtime.txt."""
    pins = []
    for line in RUNTIME_PINS.read_text().splitlines():
        name = line.split("==", 1)[0].strip().lower()
        if name in SAME_SOFTWARE:
            pins.append(line.strip())
    return sorted(pins)


def same_software_python() -> Path:
    """A venv's python with the image's kernel software, made once per set of pins."""
    pins = image_pins()
    digest = hashlib.sha256("\n".join(pins).encode()).hexdigest()[:12]
    venv = Path.home() / ".cache" / "stardock-bench" / f"kernel-venv-{digest}"
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *pins],
            check=True,
        )
        (venv / ".complete").write_text("\n".join(pins) + "\n")
    return python


def write_same_software_spec(kernels_dir: Path, python: Path) -> str:
    folder = kernels_dir / SAME_SPEC
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "local ipykernel, the image's versions",
        "language": "python",
    }
    (folder / "kernel.json").write_text(json.dumps(spec))
    return SAME_SPEC


def software_versions(python: Path) -> str:
    code = (
        "import importlib.metadata as m, sys; print(sys.version.split()[0], "
        + ", ".join(f"m.version({name!r})" for name in SAME_SOFTWARE)
        + ")"
    )
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip()


class PooledHost:
    """A kernel-manager parent whose kernels come from a warm pool of one slot."""

    def __init__(self) -> None:
        host, _config = standalone_host()
        assert host.engine is not None
        self.engine: Engine = host.engine
        self.pool = KernelPool(self.engine, PoolLimits(size=1, max_total=1))
        self.parent = Configurable()
        register_host(self.parent, dataclasses.replace(host, pool=self.pool))
        self.used = False

    async def settle(self, timeout: float = 60.0) -> None:
        """Until the pool holds its slot again (once a pooled kernel started), and is idle."""
        if not self.used:
            return
        deadline = time.monotonic() + timeout
        while self.pool.sizes()["ready"] < 1 or self.pool._making is not None:
            if time.monotonic() > deadline:
                raise TimeoutError("the warm pool did not refill")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        await self.pool.stop()
        register_host(self.parent, None)


def slot_memory_mib(
    api: docker.APIClient, home: Path, measure: Callable[[docker.APIClient, str], tuple[int, int]]
) -> list[float]:
    """``measure`` (the container kernels' own figure) of each unclaimed slot of this run, MiB."""
    figures = []
    for summary in api.containers(filters={"label": POOL_LABEL}):
        labels = summary.get("Labels") or {}
        if labels.get("org.jupyter-stardock.kernel.outputs", "").startswith(str(home)):
            usage, _anon = measure(api, summary["Id"])
            figures.append(usage / (1 << 20))
    return figures


def remove_leftovers(engine: Engine, home: Path, kernel_ids: set[str]) -> None:
    """Claimed slots carry the kernel's name, unclaimed ones this run's folders."""
    for kernel_id in kernel_ids:
        engine.remove_container_sync(container_name(kernel_id))
    for summary in engine.containers_sync(label=POOL_LABEL):
        labels: dict[str, Any] = summary.get("Labels") or {}
        if labels.get("org.jupyter-stardock.kernel.outputs", "").startswith(str(home)):
            engine.remove_container_sync(summary["Id"])
