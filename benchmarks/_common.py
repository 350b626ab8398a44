"""What the benchmarks share: options, output, a real server, a log follower, cleanup.

Each benchmark prints a short table for people and, last, one JSON line for
machines. Figures are ratios against a baseline measured in the same run,
because the machines are shared and noisy; absolute times are printed beside
them for orientation only.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    # Run as `python benchmarks/<name>.py`: the package and tests/ live at the root.
    sys.path.insert(0, str(REPO_ROOT))

from jupyter_stardock.engine import Engine  # noqa: E402
from jupyter_stardock.errors import StarDockError  # noqa: E402
from tests.server_process import ServerProcess  # noqa: E402

BASE_IMAGE = "stardock/base:latest"
#: Where benchmark environments are tagged, apart from the product's and the tests'.
REPOSITORY = "stardock-bench/env"


def arguments(description: str, quick_help: str) -> argparse.ArgumentParser:
    """The options every benchmark has; a script may add its own before parsing."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    return parser


def marker() -> str:
    """A per-run word that makes this run's recipes differ from every earlier one."""
    return f"stardock-bench-{uuid.uuid4().hex[:12]}"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def verdict(met: bool) -> str:
    return "goal met" if met else "goal missed"


def report(title: str, rows: Sequence[tuple[str, str]], results: dict[str, Any]) -> None:
    """The human table, then the JSON line (always the last line printed)."""
    width = max(len(name) for name, _ in rows)
    print(f"\n{title}")
    print("-" * len(title))
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    print(json.dumps(results, sort_keys=True), flush=True)


def fail(message: str) -> None:
    """The benchmark could not run: say why and exit non-zero."""
    print(f"cannot run: {message}", file=sys.stderr)
    raise SystemExit(2)


def engine_with_base() -> Engine:
    """An engine that answers and has the base image, or exit with the reason."""
    engine = Engine(timeout=30)
    try:
        engine.info_sync()
    except StarDockError as err:
        engine.close()
        fail(str(err))
    if engine.image_sync(BASE_IMAGE) is None:
        engine.close()
        fail(f"there is no {BASE_IMAGE}; run `jupyter stardock base` first.")
    return engine


# --- images a run made -----------------------------------------------------------

_LAYER = re.compile(r"\s*---> ([0-9a-f]{12,64})\s*")


@dataclass
class LayerTracker:
    """Reads a classic-builder log and keeps the image layers this build made itself.

    A build that fails leaves its finished steps behind as untagged images; a
    layer taken from the cache or the FROM image is someone else's and stays.
    """

    created: list[str] = field(default_factory=list)
    _from_step: bool = False
    _cached: bool = False

    def feed(self, line: str) -> None:
        if line.startswith("Step "):
            self._from_step = " : FROM " in line
            self._cached = False
        elif line.strip() == "---> Using cache":
            self._cached = True
        else:
            match = _LAYER.fullmatch(line)
            if match and not (self._from_step or self._cached):
                self.created.append(match.group(1))


@dataclass
class Made:
    """What a run made, all removed when it ends, however it ends."""

    #: Tags and image ids; removing one removes its untagged parents too.
    refs: list[str] = field(default_factory=list)
    #: Layers read from build logs, for what a failed or cancelled build left.
    layers: list[str] = field(default_factory=list)

    def remove(self, engine: Engine) -> None:
        """Refs first, then leftover layers newest first, all without force.

        A layer that another image or a container still uses is refused by the
        engine and stays.
        """
        for ref in [*reversed(self.refs), *reversed(self.layers)]:
            with contextlib.suppress(StarDockError):
                engine.remove_image_sync(ref)


@contextlib.contextmanager
def cleaned_up() -> Iterator[tuple[Engine, Made]]:
    """An engine with the base image, and a record of what the run makes, removed after."""
    engine = engine_with_base()
    made = Made()
    try:
        yield engine, made
    finally:
        made.remove(engine)
        engine.close()


# --- a real server ---------------------------------------------------------------


@contextlib.contextmanager
def running_server(stardock_config: dict[str, Any]) -> Iterator[tuple[ServerProcess, Made]]:
    """``jupyter server`` with StarDock in a child process, in a throwaway home.

    What the run builds is removed after the server has stopped.
    """
    with cleaned_up() as (_, made):
        home = Path(tempfile.mkdtemp(prefix="stardock-bench-"))
        server = ServerProcess(
            home, {"StarDockApp": {"environment_repository": REPOSITORY, **stardock_config}}
        )
        try:
            server.start()
            yield server, made
        finally:
            server.stop()
            shutil.rmtree(home, ignore_errors=True)


def submit_build(server: ServerProcess, recipe: dict[str, Any]) -> dict[str, Any]:
    """POST a recipe that must start a new build; its record."""
    body = server.request("POST", "/stardock/api/builds", recipe)
    if body.get("build") is None:
        fail(f"the recipe resolved to an existing environment instead of a build: {body}")
    return dict(body["build"])


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_kib(pid: int, field_name: str) -> int:
    """A ``/proc/<pid>/status`` figure in KiB (VmRSS: now, VmHWM: peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1])
    raise KeyError(field_name)


# --- following a build's log over Server-Sent Events --------------------------------


@dataclass
class FollowResult:
    """What one SSE reader saw of a build's log."""

    lines: int = 0
    #: Bytes of the lines received, newline included.
    line_bytes: int = 0
    #: Lines the server had dropped from memory before this reader got them.
    dropped: int = 0
    #: Lines equal to ``whole``, and lines that are a strict part of it (split lines).
    whole: int = 0
    partial: int = 0
    end_state: str | None = None
    end_tag: str | None = None
    created_layers: list[str] = field(default_factory=list)
    error: str | None = None


_DROPPED = re.compile(r"([\d,]+) earlier log lines were dropped")


def _follow(
    url: str,
    token: str,
    build_id: str,
    whole: str | None,
    results: Any,
    started: Any,
) -> None:
    """Read the SSE log of a build to its end; runs in a child process."""
    result = FollowResult()
    layers = LayerTracker()
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=900)
    try:
        conn.request(
            "GET",
            f"/stardock/api/builds/{build_id}/log",
            headers={"Authorization": f"token {token}", "Accept": "text/event-stream"},
        )
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {response.read()[:300]!r}")
        started.set()
        event = None
        while True:
            raw = response.fp.readline()
            if not raw:
                break
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
                if event == "end":
                    record = json.loads(data)
                    result.end_state, result.end_tag = record["state"], record["tag"]
                    break
                if event == "dropped":
                    match = _DROPPED.search(data)
                    result.dropped += int(match.group(1).replace(",", "")) if match else 0
                    continue
                result.lines += 1
                result.line_bytes += len(data) + 1
                if whole is not None and data and data == whole[: len(data)]:
                    if len(data) == len(whole):
                        result.whole += 1
                    else:
                        result.partial += 1
                elif data.startswith(("Step ", " ---> ")):
                    layers.feed(data)
            elif not line:
                event = None
    except Exception as err:  # reported to the parent, which decides
        result.error = f"{type(err).__name__}: {err}"
    finally:
        started.set()
        conn.close()
        result.created_layers = layers.created
        results.put(result)


class Follower:
    """An SSE reader of one build's log in its own process.

    A process, not a thread: parsing thousands of lines a second in the
    benchmark's own interpreter would hold the GIL and bend its timings.
    """

    def __init__(self, server: ServerProcess, build_id: str, whole: str | None = None) -> None:
        context = multiprocessing.get_context("fork")
        self._results = context.Queue()
        started = context.Event()
        self._process = context.Process(
            target=_follow,
            args=(server.url, server.token, build_id, whole, self._results, started),
            daemon=True,
        )
        self._process.start()
        started.wait(30)

    def result(self, timeout: float = 900) -> FollowResult:
        result: FollowResult = self._results.get(timeout=timeout)
        self._process.join(10)
        return result

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.kill()
            self._process.join(10)


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()
