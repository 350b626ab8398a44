"""Why a kernel's container stopped, in a sentence for the scientist, and the last exit of each kernel.

``ContainerKernel.poll`` (which drives jupyter_client's auto-restarter) notes
each container's end here once; the API (``GET /stardock/api/kernels/<id>/exit``)
and the panel read it, so JupyterLab can say "The kernel was stopped: memory
limit 4 GiB reached" instead of only "The kernel appears to have died".

Records are keyed by the kernel id the container is labelled with and by the
kernel's owner (the Hub user in the hub service), and kept in memory: they
concern kernels of this process only. No tornado and no docker here.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ExitRecords", "KernelExit", "describe_exit", "exit_records"]

#: What a process says when it cannot fork or start a thread under a pids limit.
_PIDS_HINTS = re.compile(
    r"Resource temporarily unavailable|can't start new thread|BlockingIOError|"
    r"fork: retry|Cannot allocate memory for thread|EAGAIN",
)


@dataclass(frozen=True)
class KernelExit:
    """How one container of a kernel ended."""

    kernel_id: str
    owner: str
    #: oom, pids, removed, engine, signal, error or exit.
    reason: str
    message: str
    exit_code: int | None
    at: float
    container: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def size_text(size: int) -> str:
    """4294967296 -> '4 GiB', 268435456 -> '256 MiB' (a memory limit as people write it)."""
    units = ("bytes", "KiB", "MiB", "GiB", "TiB")
    value, unit = float(size), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{round(value, 1):g} {units[unit]}"


#: JupyterLab cuts a notification's text after this many characters.
MAX_MESSAGE = 140


def describe_exit(
    inspect: Mapping[str, Any] | None,
    *,
    log_tail: str = "",
    engine_lost: bool = False,
) -> tuple[str, str, int | None]:
    """(reason, sentence, exit code) of a stopped container from its ``docker inspect``.

    ``inspect`` None means the container is gone although the kernel was running
    (removed by hand, or the engine lost it). Each sentence fits a JupyterLab
    notification (MAX_MESSAGE characters).
    """
    if inspect is None:
        if engine_lost:
            return (
                "engine",
                "The kernel was stopped: the Docker Engine stopped or restarted.",
                None,
            )
        return (
            "removed",
            "The kernel was stopped: its container was removed outside JupyterLab "
            "(for example with docker rm).",
            None,
        )
    state = inspect.get("State") or {}
    host = inspect.get("HostConfig") or {}
    code = state.get("ExitCode")
    code = int(code) if isinstance(code, int) else None
    if state.get("OOMKilled"):
        memory = host.get("Memory") or 0
        limit = f"memory limit {size_text(int(memory))}" if memory else "the memory limit"
        return (
            "oom",
            f"The kernel was stopped: {limit} reached. Use less memory, or ask the "
            "operator for a higher limit.",
            code,
        )
    pids = host.get("PidsLimit") or 0
    if pids and code not in (0, None) and _PIDS_HINTS.search(log_tail or ""):
        return (
            "pids",
            f"The kernel was stopped: its limit of {pids} processes and threads was "
            "reached. Start fewer, or ask the operator for more.",
            code,
        )
    if engine_lost:
        return ("engine", "The kernel was stopped: the Docker Engine stopped or restarted.", code)
    error = str(state.get("Error") or "").strip()
    if error:
        return ("error", _fit(f"The kernel's container failed: {error}"), code)
    if code is not None and code > 128:
        number = code - 128
        name = {9: "SIGKILL", 15: "SIGTERM", 6: "SIGABRT", 11: "SIGSEGV"}.get(number)
        what = f"signal {number}" + (f" ({name})" if name else "")
        return (
            "signal",
            f"The kernel was stopped by {what}: from outside (docker kill or stop), or it crashed.",
            code,
        )
    if code:
        last = _last_line(log_tail)
        return (
            "exit",
            _fit(f"The kernel exited with code {code}." + (f" It said: {last}" if last else "")),
            code,
        )
    return ("exit", "The kernel stopped (exit code 0).", code)


def _fit(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


class ExitRecords:
    """The last exit of each kernel of this process, bounded (oldest dropped first)."""

    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self._records: OrderedDict[tuple[str, str], KernelExit] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, record: KernelExit) -> None:
        with self._lock:
            key = (record.owner, record.kernel_id)
            self._records.pop(key, None)
            self._records[key] = record
            while len(self._records) > self.limit:
                self._records.popitem(last=False)

    def last(self, kernel_id: str, owner: str | None = None) -> KernelExit | None:
        """The newest exit of that kernel; only the owner's when ``owner`` is given."""
        with self._lock:
            found = [
                r
                for (who, kid), r in self._records.items()
                if kid == kernel_id and (owner is None or who == owner)
            ]
        return max(found, key=lambda r: r.at) if found else None


#: This process's records (kernels are started by provisioners that hold no app).
exit_records = ExitRecords()


def record_exit(
    kernel_id: str,
    owner: str,
    inspect: Mapping[str, Any] | None,
    *,
    container: str = "",
    log_tail: str = "",
    engine_lost: bool = False,
) -> KernelExit:
    reason, message, code = describe_exit(inspect, log_tail=log_tail, engine_lost=engine_lost)
    record = KernelExit(
        kernel_id=kernel_id,
        owner=owner,
        reason=reason,
        message=message,
        exit_code=code,
        at=time.time(),
        container=container[:12],
    )
    exit_records.add(record)
    return record
