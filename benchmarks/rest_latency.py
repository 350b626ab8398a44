"""Build service: REST latency while builds stream their logs, against an idle server.

A real ``jupyter server`` with StarDock runs in a child process. The baseline
is the latency of ``GET /stardock/api/status`` (which asks the engine) and
``GET /stardock/api/builds`` (which does not), requested alternately and one
at a time over a kept-alive connection, with nothing building. Then two builds
start whose commands print bursts of lines every tenth of a second (500 lines
by default: about 4,500 lines a second each, a very chatty build), each
followed by a Server-Sent Events reader in its own process, and the same
requests are timed again while both stream; then both builds are cancelled.
The server's CPU use in each window is printed beside the latencies.

    python benchmarks/rest_latency.py [--quick] [--burst LINES]

Goals, for both routes: p50 during / p50 idle <= 2, p99 during / p99 idle <= 3,
and no error answer.
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any

from _common import (
    Follower,
    FollowResult,
    Made,
    ServerProcess,
    arguments,
    cpu_seconds,
    fail,
    marker,
    percentile,
    report,
    running_server,
    submit_build,
    verdict,
    vm_kib,
    wait_until,
)

ROUTES = ("/stardock/api/status", "/stardock/api/builds")
P50_GOAL = 2.0
P99_GOAL = 3.0
BURST = 500
#: How long the builds would stream; they are cancelled as soon as the window closes.
STREAM_SECONDS = 900


@dataclass
class Phase:
    """Latencies (an error answer counts with the time it took) and error answers, by route."""

    times: dict[str, list[float]]
    errors: dict[str, list[str]]


class Timer:
    """Times GET requests one after another over one kept-alive connection."""

    def __init__(self, server: ServerProcess) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        self._headers = {"Authorization": f"token {server.token}"}

    def get(self, path: str) -> tuple[float, str | None]:
        """Milliseconds to the whole answer, and what went wrong when it is not a 200."""
        start = time.perf_counter()
        self._conn.request("GET", path, headers=self._headers)
        response = self._conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status == 200:
            return elapsed, None
        try:
            message = json.loads(body)["message"]
        except (ValueError, KeyError, TypeError):
            message = body[:200].decode(errors="replace")
        return elapsed, f"{response.status}: {message}"

    def measure(self, n: int) -> Phase:
        """``n`` requests of each route, alternating, so both see the same conditions."""
        phase = Phase({route: [] for route in ROUTES}, {route: [] for route in ROUTES})
        for _ in range(n):
            for route in ROUTES:
                elapsed, error = self.get(route)
                phase.times[route].append(elapsed)
                if error is not None:
                    phase.errors[route].append(error)
        return phase

    def close(self) -> None:
        self._conn.close()


def streaming_command(word: str, seconds: int, burst: int) -> str:
    return (
        f"end=$(($(date +%s)+{seconds})); n=0; while [ $(date +%s) -lt $end ]; do"
        f' n=$((n+1)); seq -f "{word} burst $n line %g" 1 {burst}; sleep 0.1; done'
    )


def log_count(server: ServerProcess, build_id: str) -> tuple[int, str]:
    """Lines the build has logged so far, and its state."""
    # A generous timeout: under an overload this answer may take many seconds, which
    # the latency figures show; here it only has to come.
    path = f"/stardock/api/builds/{build_id}/log?offset=999999999&limit=1"
    page = server.request("GET", path, timeout=300)
    return int(page["next"]), str(page["state"])


@dataclass
class Measured:
    idle: Phase
    during: Phase
    idle_cpu: float
    during_cpu: float
    #: The server's resident memory (KiB) after the idle phase and at the end of the window.
    idle_rss: int
    during_rss: int
    #: Lines each build logged per second during the window.
    rates: list[float]
    window: float
    #: Both builds were still streaming when the window closed.
    covered: bool
    seen: list[FollowResult]


def measure(server: ServerProcess, n: int, burst: int, made: Made) -> Measured:
    assert server.proc is not None
    pid = server.proc.pid
    timer = Timer(server)
    try:
        timer.measure(20)  # warm up: connections, threads, imports
        start, cpu = time.monotonic(), cpu_seconds(pid)
        idle = timer.measure(n)
        idle_seconds = time.monotonic() - start
        idle_cpu = (cpu_seconds(pid) - cpu) / idle_seconds
        idle_rss = vm_kib(pid, "VmRSS")

        word = marker()
        builds = [
            submit_build(
                server,
                {
                    "commands": [
                        f"echo {word}-{k}",
                        streaming_command(f"{word}-{k}", STREAM_SECONDS, burst),
                    ]
                },
            )
            for k in range(2)
        ]
        made.refs += [b["tag"] for b in builds]
        followers = [Follower(server, b["id"]) for b in builds]
        try:
            if not wait_until(
                lambda: all(log_count(server, b["id"])[0] > burst for b in builds), 300
            ):
                fail("the two builds did not start streaming within 5 minutes")
            counts = [log_count(server, b["id"])[0] for b in builds]
            start, cpu = time.monotonic(), cpu_seconds(pid)
            during = timer.measure(n)
            window = time.monotonic() - start
            during_cpu = (cpu_seconds(pid) - cpu) / window
            during_rss = vm_kib(pid, "VmRSS")
            after = [log_count(server, b["id"]) for b in builds]
            # Measured: stop the builds rather than wait for them (nothing is tagged).
            for b in builds:
                server.request("DELETE", f"/stardock/api/builds/{b['id']}", timeout=120)
            seen = [f.result(300) for f in followers]
        finally:
            for follower in followers:
                follower.stop()
        for result in seen:
            made.layers += result.created_layers
    finally:
        timer.close()
    return Measured(
        idle=idle,
        during=during,
        idle_cpu=idle_cpu,
        during_cpu=during_cpu,
        idle_rss=idle_rss,
        during_rss=during_rss,
        rates=[(c - c0) / window for (c, _), c0 in zip(after, counts, strict=True)],
        window=window,
        covered=all(state == "running" for _, state in after),
        seen=seen,
    )


def summarize(m: Measured, n: int, burst: int, quick: bool) -> None:
    states = [r.end_state for r in m.seen]
    rows: list[tuple[str, str]] = []
    results: dict[str, Any] = {"benchmark": "rest_latency", "quick": quick, "n": n}
    met = m.covered and states == ["cancelled", "cancelled"]
    for route in ROUTES:
        name = route.rsplit("/", 1)[-1]
        figures = {
            f"{stat}_{label}_ms": percentile(phase.times[route], q)
            for stat, q in (("p50", 50), ("p99", 99))
            for label, phase in (("idle", m.idle), ("during", m.during))
        }
        p50_ratio = figures["p50_during_ms"] / figures["p50_idle_ms"]
        p99_ratio = figures["p99_during_ms"] / figures["p99_idle_ms"]
        errors = [len(m.idle.errors[route]), len(m.during.errors[route])]
        met &= p50_ratio <= P50_GOAL and p99_ratio <= P99_GOAL and not any(errors)
        rows += [
            (
                f"{name}: p50 idle -> during",
                f"{figures['p50_idle_ms']:.1f} -> {figures['p50_during_ms']:.1f} ms"
                f"  ratio {p50_ratio:.2f} (goal <= {P50_GOAL:g})",
            ),
            (
                f"{name}: p99 idle -> during",
                f"{figures['p99_idle_ms']:.1f} -> {figures['p99_during_ms']:.1f} ms"
                f"  ratio {p99_ratio:.2f} (goal <= {P99_GOAL:g})",
            ),
            (f"{name}: error answers idle, during", f"{errors[0]}, {errors[1]} (goal 0)"),
        ]
        first_error = next(iter(m.idle.errors[route] + m.during.errors[route]), None)
        if first_error:
            rows.append((f"{name}: first error", first_error))
        results[name] = {
            **{k: round(v, 2) for k, v in figures.items()},
            "p50_ratio": round(p50_ratio, 3),
            "p99_ratio": round(p99_ratio, 3),
            "errors_idle": errors[0],
            "errors_during": errors[1],
        }
    rows += [
        ("log lines/s per build in window", ", ".join(f"{r:,.0f}" for r in m.rates)),
        ("server CPU idle -> during", f"{m.idle_cpu:.0%} -> {m.during_cpu:.0%} of a core"),
        (
            "server RSS idle -> end of window",
            f"{m.idle_rss / 1024:.0f} -> {m.during_rss / 1024:.0f} MiB",
        ),
        ("both builds streamed throughout", "yes" if m.covered else "NO (window not covered)"),
        ("SSE readers: lines / dropped", ", ".join(f"{r.lines:,} / {r.dropped:,}" for r in m.seen)),
        ("window", f"{m.window:.1f} s"),
        ("builds ended (cancelled when measured)", ", ".join(str(s) for s in states)),
        ("verdict", verdict(met)),
    ]
    results.update(
        {
            "burst": burst,
            "lines_per_s": [round(r) for r in m.rates],
            "server_cpu_idle": round(m.idle_cpu, 3),
            "server_cpu_during": round(m.during_cpu, 3),
            "server_rss_idle_mib": round(m.idle_rss / 1024, 1),
            "server_rss_during_mib": round(m.during_rss / 1024, 1),
            "window_s": round(m.window, 1),
            "window_covered": m.covered,
            "sse_lines": [r.lines for r in m.seen],
            "sse_dropped": [r.dropped for r in m.seen],
            "build_states": states,
            "goal_met": met,
        }
    )
    report(
        f"REST latency, {n} requests per route, idle vs two streaming builds"
        f" ({'quick' if quick else 'full'})",
        rows,
        results,
    )


def main() -> None:
    parser = arguments(
        __doc__.splitlines()[0], "100 requests per route and phase (default: 200; about 2 minutes)"
    )
    parser.add_argument(
        "--burst",
        type=int,
        default=BURST,
        help=f"lines each build prints every tenth of a second (default: {BURST})",
    )
    args = parser.parse_args()
    n = 100 if args.quick else 200
    # Two builds of one user must run together, not queue behind each other.
    config = {"max_concurrent_builds": 2, "max_builds_per_user": 2}
    with running_server(config) as (server, made):
        measured = measure(server, n, args.burst, made)
    summarize(measured, n, args.burst, args.quick)


if __name__ == "__main__":
    main()
