"""Container kernels: start time and idle memory against a local ipykernel, and how many fit.

Kernels are started the way any jupyter_client tool starts them
(``AsyncKernelManager.start_kernel``, then ``client.wait_for_ready``) against a
private Jupyter configuration, data and runtime folder. The StarDock kernelspec
names the base image, which carries the kernel runtime; the baseline is the
local ``python3`` kernelspec (ipykernel in this interpreter).

1. Start time, from the start request to the ``kernel_info`` reply: StarDock
   kernels on the ipc transport (the default) against local kernels, after one
   warm-up each, interleaved, N = 10 each (``--quick``: 3). The TCP transport
   (``c.StarDockProvisioner.allow_network = True`` in the private config) takes
   part in the same rotation, for information. The provisioner's steps are
   timed by wrapping its methods in this script.
2. Idle memory: K = 5 kernels of each kind (``--quick``: 2), idle for 5 s. A
   container's memory as the engine reports it (usage minus inactive file
   cache, which is what ``docker stats`` shows) against the proportional set
   size (PSS) of a local kernel's processes; the PSS of the container's own
   processes, and of the engine's shim that holds each container, for
   comparison.
3. How many container kernels this machine runs at once: batches of 5 until a
   kernel does not answer ``kernel_info`` within 30 s of its start request, or
   the cap (``--max-kernels``, default 40; ``--quick``: 10), or less than
   2 GiB of memory is available.

    python benchmarks/kernel_start.py [--quick] [--max-kernels N]

Issue 14 adds two kinds to the rotation: a local kernel with the image's own
kernel software (a venv), and a kernel from the warm pool (_pool_bench.py).

Goal (issue 14): median start time, pooled / local <= 0.25 against both local
kernels. Issue 13's ipc / local <= 1.15 is reported as ipc_goal_met.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import docker
from _common import (
    BASE_IMAGE,
    arguments,
    engine_with_base,
    fail,
    median,
    percentile,
    report,
    verdict,
)
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner

from jupyter_stardock.core.kernelspecs import KernelspecStore
from jupyter_stardock.engine import Engine
from jupyter_stardock.engine.connection import StreamingAPIClient
from jupyter_stardock.errors import StarDockError
from jupyter_stardock.kernels import provisioner as stardock_provisioner
from jupyter_stardock.kernels.container import ContainerKernel
from jupyter_stardock.labels import KERNEL as KERNEL_LABEL

from _pool_bench import (  # isort: skip (the script's own folder, like _common)
    PooledHost,
    remove_leftovers,
    same_software_python,
    slot_memory_mib,
    software_versions,
    write_same_software_spec,
)

GOAL = 1.15
BATCH = 5
READY_TIMEOUT = 30.0
IDLE_SECONDS = 5.0
MIN_AVAILABLE = 2 << 30
MIB = 1 << 20
#: Kinds of kernel: the baseline, and StarDock's two transports.
LOCAL, IPC, TCP = "local", "ipc", "tcp"
#: Issue 14: a local kernel with the image's kernel software, and a warm pool's kernel.
SAME, POOLED = "same-software local", "pooled"
KINDS = [LOCAL, SAME, IPC, TCP, POOLED]
#: Issue 14's goal: pooled / local <= this, against both local baselines.
POOL_GOAL = 0.25


# --- where the time goes ----------------------------------------------------------


class StepTimer:
    """Adds up the time spent in named steps of one kernel start at a time.

    The steps are product methods wrapped here (the product is not changed);
    some run in the engine's worker threads, hence the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.steps: dict[str, float] | None = None

    def _add(self, name: str, seconds: float) -> None:
        with self._lock:
            if self.steps is not None:
                self.steps[name] = self.steps.get(name, 0.0) + seconds

    def timed(self, owner: Any, attr: str, name: str) -> Any:
        """A patch of ``owner.attr`` (sync or async) that times each call as ``name``."""
        original = getattr(owner, attr)
        if asyncio.iscoroutinefunction(original):

            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    self._add(name, time.perf_counter() - start)

            return mock.patch.object(owner, attr, timed_async)

        def timed_sync(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self._add(name, time.perf_counter() - start)

        return mock.patch.object(owner, attr, timed_sync)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        p, k = stardock_provisioner, ContainerKernel
        targets: list[tuple[Any, str, str]] = [
            (LocalProvisioner, "pre_launch", "pre_launch"),
            (LocalProvisioner, "launch_kernel", "launch"),
            (p.StarDockProvisioner, "pre_launch", "pre_launch"),
            # The server's engine and settings; read from the config files only without a server.
            (p.StarDockProvisioner, "_host", "pre_launch: settings"),
            (Engine, "image", "pre_launch: inspect image"),
            (p.StarDockProvisioner, "_orphan", "pre_launch: look for orphan"),
            (p, "make_outputs_dir", "pre_launch: outputs folder"),
            (p.StarDockProvisioner, "launch_kernel", "launch"),
            (k, "_prepare_runtime", "launch: runtime folder"),
            (Engine, "remove_container_sync", "launch: remove earlier container"),
            (StreamingAPIClient, "create_container", "launch: engine create"),
            (StreamingAPIClient, "start", "launch: engine start"),
            (k, "_published_ports", "launch: published ports"),
        ]
        with contextlib.ExitStack() as stack:
            for owner, attr, name in targets:
                stack.enter_context(self.timed(owner, attr, name))
            yield

    @contextlib.contextmanager
    def recording(self) -> Iterator[dict[str, float]]:
        self.steps = {}
        try:
            yield self.steps
        finally:
            self.steps = None


def bound_check(manager: AsyncKernelManager) -> Callable[[], bool] | None:
    """Whether the kernel has bound its shell socket yet, seen from the host.

    An ipc kernel's socket is a file in its runtime folder; a local kernel's
    port is listening in /proc/<pid>/net/tcp. A TCP container kernel cannot be
    told apart this way (the engine's proxy listens from the start): None.
    """
    info = manager.get_connection_info()
    if info["transport"] == "ipc":
        path = f"{info['ip']}-{info['shell_port']}"
        return lambda: os.path.exists(path)
    process = getattr(manager.provisioner, "process", None)
    if process is None:
        return None
    wanted = f":{int(info['shell_port']):04X}"
    table = Path(f"/proc/{process.pid}/net/tcp")

    def listening() -> bool:
        with contextlib.suppress(OSError):
            for line in table.read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                if local.endswith(wanted) and state == "0A":
                    return True
        return False

    return listening


async def watch(check: Callable[[], bool], start: float) -> float:
    while not check():
        await asyncio.sleep(0.005)
    return time.perf_counter() - start


# --- memory ------------------------------------------------------------------------


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise KeyError("MemAvailable")


def pss(pid: int) -> int:
    """Proportional set size of one process in bytes (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def parent_pids() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def tree(pid: int, parents: dict[int, int]) -> list[int]:
    """``pid`` and all its descendants."""
    found, todo = [pid], [pid]
    while todo:
        current = todo.pop()
        children = [child for child, parent in parents.items() if parent == current]
        found += children
        todo += children
    return found


def tree_pss(pid: int, parents: dict[int, int]) -> int:
    return sum(pss(each) for each in tree(pid, parents))


def engine_memory(api: docker.APIClient, container: str) -> tuple[int, int]:
    """A container's memory as ``docker stats`` shows it, and its anonymous memory (bytes).

    ``docker stats`` shows the usage minus the inactive file cache.
    """
    memory = api.stats(container, stream=False, one_shot=True)["memory_stats"]
    stats = memory.get("stats") or {}
    # cgroup v1 names the hierarchy's totals total_*; cgroup v2 has no prefix.
    inactive = stats.get("total_inactive_file", stats.get("inactive_file", 0))
    rss = stats.get("total_rss", stats.get("anon", 0))
    return int(memory["usage"]) - int(inactive), int(rss)


# --- kernels -----------------------------------------------------------------------


@dataclass
class Started:
    kind: str
    manager: AsyncKernelManager
    #: Start request to the kernel_info reply.
    seconds: float
    #: Start request to start_kernel's return (the kernel is launched, not yet up).
    launched: float
    #: Start request to the kernel's shell socket bound (when it can be seen).
    bound: float | None = None
    steps: dict[str, float] = field(default_factory=dict)


class Bench:
    """A private Jupyter home with a StarDock kernelspec; every kernel this run starts.

    Whatever ends the run, its kernels are shut down and the containers labelled
    with its kernel ids (only those) are removed.
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        self.config_file = home / "config" / "jupyter_server_config.json"
        self.spec = KernelspecStore(home / "data" / "kernels").write(
            environment="base",
            image=BASE_IMAGE,
            dataset_id=None,
            dataset_title=None,
            app_titles=[],
            recipe={},
        )
        #: Kernel ids of StarDock kernels, which label their containers.
        self.kernel_ids: set[str] = set()
        self.managers: list[AsyncKernelManager] = []
        self.timer = StepTimer()
        self._transport: str | None = None
        # Issue 14's kinds: the image's kernel software in a local venv, and the warm pool.
        self.same_python = same_software_python()
        self.same_spec = write_same_software_spec(home / "data" / "kernels", self.same_python)
        self.pooled = PooledHost()

    def use_transport(self, kind: str) -> None:
        """The provisioner reads the server's config files at every start: switch there."""
        if kind != self._transport:
            config = {"StarDockProvisioner": {"allow_network": kind == TCP}}
            self.config_file.write_text(json.dumps(config))
            self._transport = kind

    async def start(self, kind: str, timeout: float = 60.0, *, timed: bool = False) -> Started:
        """Start one kernel and wait for its kernel_info reply; it stays running."""
        kernel_id = str(uuid.uuid4())
        options: dict[str, Any] = {"kernel_id": kernel_id, "cwd": str(self.home)}
        if kind in (LOCAL, SAME):
            name = "python3" if kind == LOCAL else self.same_spec
            manager = AsyncKernelManager(kernel_name=name)
            # Local kernels print to our terminal (a warning about plain TCP) otherwise.
            options.update(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elif kind == POOLED:
            self.use_transport(IPC)
            self.kernel_ids.add(kernel_id)
            manager = AsyncKernelManager(kernel_name=self.spec, parent=self.pooled.parent)
            self.pooled.used = True
        else:
            self.use_transport(kind)
            self.kernel_ids.add(kernel_id)
            manager = AsyncKernelManager(kernel_name=self.spec)
        self.managers.append(manager)
        recording: contextlib.AbstractContextManager[dict[str, float]] = (
            self.timer.recording() if timed else contextlib.nullcontext({})
        )
        with recording as steps:
            start = time.perf_counter()
            await asyncio.wait_for(manager.start_kernel(**options), timeout)
            launched = time.perf_counter() - start
            check = bound_check(manager) if timed else None
            watcher = asyncio.ensure_future(watch(check, start)) if check else None
            client = manager.client()
            client.start_channels()
            try:
                await client.wait_for_ready(timeout=max(1.0, timeout - launched))
            finally:
                client.stop_channels()
                bound = watcher.result() if watcher is not None and watcher.done() else None
                if watcher is not None:
                    watcher.cancel()
            seconds = time.perf_counter() - start
        return Started(kind, manager, seconds, launched, bound, dict(steps))

    async def stop(self, managers: list[AsyncKernelManager], parallel: int = 8) -> None:
        limit = asyncio.Semaphore(parallel)

        async def one(manager: AsyncKernelManager) -> None:
            async with limit:
                with contextlib.suppress(Exception):
                    if manager.has_kernel:
                        await manager.shutdown_kernel(now=True)
                if manager in self.managers:
                    self.managers.remove(manager)

        await asyncio.gather(*(one(m) for m in managers))

    def kill_leftovers(self, engine: Engine) -> None:
        """After the event loop: kill local kernels still alive, remove our containers."""
        for manager in self.managers:
            process = getattr(manager.provisioner, "process", None)
            if process is not None and process.poll() is None:
                process.kill()
        with contextlib.suppress(StarDockError):
            for summary in engine.containers_sync(label=KERNEL_LABEL):
                if (summary.get("Labels") or {}).get(KERNEL_LABEL) in self.kernel_ids:
                    engine.remove_container_sync(summary["Id"])
            remove_leftovers(engine, self.home, self.kernel_ids)


@contextlib.contextmanager
def private_jupyter() -> Iterator[Bench]:
    """A throwaway Jupyter config, data and runtime folder, also the working folder.

    The provisioner puts outputs below the server's root folder, which for a
    standalone kernel manager is the working folder; archives go to the data folder.
    """
    home = Path(tempfile.mkdtemp(prefix="stardock-bench-"))
    saved_env = {
        name: os.environ.get(f"JUPYTER_{name}_DIR") for name in ("CONFIG", "DATA", "RUNTIME")
    }
    saved_cwd = os.getcwd()
    try:
        for name in saved_env:
            (home / name.lower()).mkdir()
            os.environ[f"JUPYTER_{name}_DIR"] = str(home / name.lower())
        os.chdir(home)
        yield Bench(home)
    finally:
        os.chdir(saved_cwd)
        for name, value in saved_env.items():
            os.environ.pop(f"JUPYTER_{name}_DIR", None)
            if value is not None:
                os.environ[f"JUPYTER_{name}_DIR"] = value
        shutil.rmtree(home, ignore_errors=True)


# --- 1. start time -----------------------------------------------------------------


@dataclass
class StartTimes:
    runs: dict[str, list[Started]]

    def seconds(self, kind: str) -> list[float]:
        return [run.seconds for run in self.runs[kind]]

    def median(self, kind: str) -> float:
        return median(self.seconds(kind))

    def p90(self, kind: str) -> float:
        return percentile(self.seconds(kind), 90)

    def step_medians(self, kind: str) -> dict[str, float]:
        """Median seconds of each step, and of two derived ones.

        "manager" is jupyter_client's own share of start_kernel; "boot" runs from
        its return to the kernel_info reply.
        """
        runs = self.runs[kind]
        names = sorted({name for run in runs for name in run.steps})
        steps = {name: median(run.steps.get(name, 0.0) for run in runs) for name in names}
        steps["manager"] = median(
            run.launched - run.steps.get("pre_launch", 0.0) - run.steps.get("launch", 0.0)
            for run in runs
        )
        steps["boot"] = median(run.seconds - run.launched for run in runs)
        bound = [run.bound for run in runs if run.bound is not None]
        if len(bound) == len(runs):
            steps["boot: until socket bound"] = median(
                at - run.launched for at, run in zip(bound, runs, strict=True)
            )
            steps["boot: bound to reply"] = median(
                run.seconds - at for at, run in zip(bound, runs, strict=True)
            )
        return steps


async def start_times(bench: Bench, n: int) -> StartTimes:
    kinds = KINDS
    runs: dict[str, list[Started]] = {kind: [] for kind in kinds}
    for round_ in range(n + 1):
        # Rotate the order so no kind always follows the same one.
        shift = round_ % len(kinds)
        for kind in kinds[shift:] + kinds[:shift]:
            # The pool refills between starts, never during one (a pool's premise: a slot
            # is ready when the next start comes; its refill must not slow another kind).
            await bench.pooled.settle()
            try:
                started = await bench.start(kind, timed=True)
            except Exception as err:
                fail(f"a {kind} kernel did not start: {type(err).__name__}: {err}")
            await bench.stop([started.manager])
            if round_ > 0:  # round 0 warms up
                runs[kind].append(started)
    return StartTimes(runs)


# --- 2. idle memory ----------------------------------------------------------------


@dataclass
class IdleMemory:
    #: MiB per kernel: local PSS; container by the engine, its anonymous RSS, its
    #: processes' PSS, its shim's PSS.
    local_pss: list[float]
    engine: list[float]
    engine_rss: list[float]
    container_pss: list[float]
    shim_pss: list[float]
    #: Issue 14: each idle warm-pool slot, by the engine.
    slot: list[float] = field(default_factory=list)


def container_figures(
    api: docker.APIClient, engine: Engine, kernel_id: str, parents: dict[int, int]
) -> tuple[float, float, float, float]:
    name = f"stardock-kernel-{kernel_id}"
    used, rss = engine_memory(api, name)
    init_pid = int(((engine.inspect_container_sync(name) or {}).get("State") or {})["Pid"])
    shim = parents.get(init_pid, 0)
    return used / MIB, rss / MIB, tree_pss(init_pid, parents) / MIB, pss(shim) / MIB


async def idle_memory(bench: Bench, api: docker.APIClient, engine: Engine, k: int) -> IdleMemory:
    local = [await bench.start(LOCAL) for _ in range(k)]
    containers = [await bench.start(IPC) for _ in range(k)]
    try:
        await asyncio.sleep(IDLE_SECONDS)
        parents = parent_pids()
        local_pss = [
            tree_pss(s.manager.provisioner.process.pid, parents) / MIB  # type: ignore[union-attr]
            for s in local
        ]
        figures = [container_figures(api, engine, s.manager.kernel_id, parents) for s in containers]
    finally:
        await bench.stop([s.manager for s in local + containers])
    return IdleMemory(local_pss, *(list(column) for column in zip(*figures, strict=True)))


# --- 3. how many fit -----------------------------------------------------------------


@dataclass
class Capacity:
    count: int
    cap: int
    stopped_by: str
    #: (kernels started, seconds until all answered, how many answered)
    batches: list[tuple[int, float, int]]
    engine_mib: list[float]
    available_drop_mib: float


async def capacity(bench: Bench, api: docker.APIClient, cap: int) -> Capacity:
    running: list[Started] = []
    batches: list[tuple[int, float, int]] = []
    stopped_by = f"the cap of {cap} kernels"
    available_before = mem_available()
    try:
        while len(running) < cap:
            if mem_available() < MIN_AVAILABLE:
                stopped_by = f"less than {MIN_AVAILABLE >> 30} GiB of memory available"
                break
            size = min(BATCH, cap - len(running))
            start = time.perf_counter()
            results = await asyncio.gather(
                *(bench.start(IPC, READY_TIMEOUT) for _ in range(size)), return_exceptions=True
            )
            seconds = time.perf_counter() - start
            answered = [r for r in results if isinstance(r, Started)]
            running += answered
            batches.append((size, seconds, len(answered)))
            failed = [r for r in results if not isinstance(r, Started)]
            if failed:
                err = failed[0]
                stopped_by = (
                    f"a kernel without a kernel_info reply within {READY_TIMEOUT:.0f} s"
                    f" ({type(err).__name__}: {err})"
                )
                break
        await asyncio.sleep(IDLE_SECONDS)
        available_drop = (available_before - mem_available()) / MIB / max(len(running), 1)
        engine_mib = [
            engine_memory(api, f"stardock-kernel-{s.manager.kernel_id}")[0] / MIB for s in running
        ]
    finally:
        await bench.stop([s.manager for s in running])
    return Capacity(len(running), cap, stopped_by, batches, engine_mib, available_drop)


# --- the run ---------------------------------------------------------------------------


async def bench_all(
    bench: Bench, api: docker.APIClient, engine: Engine, quick: bool, cap: int
) -> tuple[StartTimes, IdleMemory, Capacity]:
    try:
        with bench.timer.installed():
            times = await start_times(bench, 3 if quick else 10)
        await bench.pooled.settle()
        memory = await idle_memory(bench, api, engine, 2 if quick else 5)
        memory.slot = slot_memory_mib(api, bench.home, engine_memory)
        await bench.pooled.stop()  # its slot would count as a kernel at once
        fit = await capacity(bench, api, cap)
    finally:
        await bench.stop(list(bench.managers))
        await bench.pooled.stop()
    return times, memory, fit


def fmt_steps(steps: dict[str, float]) -> str:
    """``pre_launch 13 (read config 1, ...); launch 451 (...); ...`` in milliseconds."""
    parts = []
    for name in ("pre_launch", "launch", "manager", "boot"):
        inner = [
            f"{sub.split(': ', 1)[1]} {seconds * 1000:.0f}"
            for sub, seconds in steps.items()
            if sub.startswith(f"{name}: ")
        ]
        text = f"{name} {steps.get(name, 0.0) * 1000:.0f}"
        parts.append(text + (f" ({', '.join(inner)})" if inner else ""))
    return "; ".join(parts)


def pool_rows(times: StartTimes, memory: IdleMemory, versions: str) -> list[tuple[str, str]]:
    """Issue 14: pooled against both local baselines, the cold start against the same software."""
    pooled, local, same = times.median(POOLED), times.median(LOCAL), times.median(SAME)
    slot = f"{median(memory.slot):.1f} MiB" if memory.slot else "not measured"
    return [
        ("same-software venv", versions),
        ("pooled / local", f"median {pooled / local:.2f} (goal <= {POOL_GOAL})"),
        ("pooled / same-software", f"median {pooled / same:.2f} (goal <= {POOL_GOAL})"),
        ("ipc / same-software", f"median {times.median(IPC) / same:.2f} (cold, information)"),
        ("idle memory, warm slot", f"{slot} by the engine per slot"),
    ]


def show(
    times: StartTimes,
    memory: IdleMemory,
    fit: Capacity,
    quick: bool,
    seconds: float,
    versions: str = "",
) -> None:
    ratio = times.median(IPC) / times.median(LOCAL)
    pool_ratios = [times.median(POOLED) / times.median(k) for k in (LOCAL, SAME)]
    met = all(r <= POOL_GOAL for r in pool_ratios)
    n = len(times.runs[LOCAL])
    rows: list[tuple[str, str]] = []
    for kind, label in (
        (LOCAL, "local ipykernel"),
        (SAME, "local, image's software"),
        (IPC, "StarDock ipc"),
        (TCP, "StarDock tcp"),
        (POOLED, "StarDock pooled"),
    ):
        rows.append(
            (
                f"start {label}",
                f"median {times.median(kind):.2f} s, p90 {times.p90(kind):.2f} s (n={n})",
            )
        )
    for kind in (IPC, TCP):
        rows.append(
            (
                f"{kind} / local",
                f"median {times.median(kind) / times.median(LOCAL):.2f},"
                f" p90 {times.p90(kind) / times.p90(LOCAL):.2f}"
                + (f" (issue 13's goal <= {GOAL})" if kind == IPC else " (information)"),
            )
        )
    rows += pool_rows(times, memory, versions)
    for kind in KINDS:
        rows.append((f"{kind} steps, median ms", fmt_steps(times.step_medians(kind))))
    local_mib, engine_mib = median(memory.local_pss), median(memory.engine)
    rows += [
        (
            "idle memory, local",
            f"{local_mib:.1f} MiB PSS per kernel (median of {len(memory.local_pss)})",
        ),
        (
            "idle memory, container",
            f"{engine_mib:.1f} MiB by the engine (anonymous {median(memory.engine_rss):.1f}),"
            f" processes' PSS {median(memory.container_pss):.1f},"
            f" shim PSS {median(memory.shim_pss):.1f}",
        ),
        (
            "container / local memory",
            f"{engine_mib / local_mib:.2f} (engine figure);"
            f" {(median(memory.container_pss) + median(memory.shim_pss)) / local_mib:.2f}"
            " (PSS with the shim)",
        ),
        ("kernels at once", f"{fit.count}, stopped by {fit.stopped_by}"),
        (
            "  memory at the end",
            f"{median(fit.engine_mib) if fit.engine_mib else 0:.1f} MiB per kernel by the engine;"
            f" {fit.available_drop_mib:.1f} MiB less available per kernel",
        ),
        (
            "  batches (s)",
            ", ".join(f"{seconds:.1f}" for _, seconds, _ in fit.batches)
            + (f" (last: {fit.batches[-1][0]} kernels)" if fit.batches else ""),
        ),
        ("run time", f"{seconds:.0f} s"),
        ("verdict", verdict(met)),
    ]
    results = {
        "benchmark": "kernel_start",
        "quick": quick,
        "n": n,
        "start_s": {
            kind: {
                "median": round(times.median(kind), 3),
                "p90": round(times.p90(kind), 3),
                "steps_ms": {k: round(v * 1000, 1) for k, v in times.step_medians(kind).items()},
            }
            for kind in KINDS
        },
        "pooled_over_local": round(pool_ratios[0], 3),
        "pooled_over_same_software": round(pool_ratios[1], 3),
        "ipc_over_same_software": round(times.median(IPC) / times.median(SAME), 3),
        "idle_slot_engine_mib": round(median(memory.slot), 1) if memory.slot else None,
        "same_software": versions,
        "ipc_goal": GOAL,
        "ipc_goal_met": ratio <= GOAL,
        "ipc_over_local": round(ratio, 3),
        "ipc_over_local_p90": round(times.p90(IPC) / times.p90(LOCAL), 3),
        "tcp_over_local": round(times.median(TCP) / times.median(LOCAL), 3),
        "tcp_over_local_p90": round(times.p90(TCP) / times.p90(LOCAL), 3),
        "idle_k": len(memory.local_pss),
        "idle_local_pss_mib": round(local_mib, 1),
        "idle_container_engine_mib": round(engine_mib, 1),
        "idle_container_anon_mib": round(median(memory.engine_rss), 1),
        "idle_container_pss_mib": round(median(memory.container_pss), 1),
        "idle_shim_pss_mib": round(median(memory.shim_pss), 1),
        "idle_memory_ratio": round(engine_mib / local_mib, 3),
        "kernels_at_once": fit.count,
        "kernels_cap": fit.cap,
        "kernels_stopped_by": fit.stopped_by,
        "kernels_end_engine_mib": round(median(fit.engine_mib), 1) if fit.engine_mib else None,
        "kernels_available_drop_mib": round(fit.available_drop_mib, 1),
        "batch_s": [round(seconds, 2) for _, seconds, _ in fit.batches],
        "run_s": round(seconds, 1),
        "goal": POOL_GOAL,
        "goal_met": met,
    }
    report(
        f"Kernel start: StarDock container kernels against local ipykernel"
        f" ({'quick' if quick else 'full'})",
        rows,
        results,
    )


def main() -> None:
    parser = arguments(
        __doc__.splitlines()[0], "3 starts of each kind, 2 idle kernels, at most 10 at once"
    )
    parser.add_argument(
        "--max-kernels",
        type=int,
        help="most container kernels started at once (default 40; 10 with --quick)",
    )
    args = parser.parse_args()
    cap = args.max_kernels or (10 if args.quick else 40)
    begin = time.perf_counter()
    engine = engine_with_base()
    # The engine facade has no stats call; the benchmark asks the engine directly.
    api = docker.APIClient(**{"version": "auto", **docker.utils.kwargs_from_env()})
    try:
        with private_jupyter() as bench:
            try:
                times, memory, fit = asyncio.run(bench_all(bench, api, engine, args.quick, cap))
            finally:
                bench.kill_leftovers(engine)
    finally:
        api.close()
        engine.close()
    versions = software_versions(same_software_python())
    show(times, memory, fit, args.quick, time.perf_counter() - begin, versions)


if __name__ == "__main__":
    main()
