"""Build logs: the server's memory while a build prints far more than it may keep.

A real ``jupyter server`` with StarDock runs in a child process with the
default log budget (``c.StarDockApp.build_log_memory_bytes``, 4 MiB). The
baseline is its resident memory (VmRSS) after a small warm-up build has loaded
every code path. Then one build prints 120 MB (240 MB without ``--quick``) as
lines of 100 characters, with one Server-Sent Events reader following it in
its own process. The reader checks that the whole output really came through
the build stream (lines dropped from memory before it read them are counted
too), and the server's peak (VmHWM) and final VmRSS are read.

    python benchmarks/log_memory.py [--quick]

Goal: the server's peak growth stays below a quarter of the bytes printed
(the buffer is bounded; what it costs must not grow with the output).
"""

from __future__ import annotations

import time

from _common import (
    Follower,
    FollowResult,
    Made,
    ServerProcess,
    arguments,
    fail,
    marker,
    report,
    running_server,
    submit_build,
    verdict,
    vm_kib,
)

WIDTH = 100
GOAL = 0.25


def follow_build(
    server: ServerProcess, commands: list[str], whole: str | None, made: Made
) -> tuple[FollowResult, float]:
    """Build ``commands`` with one SSE reader to the end; what it saw, and the seconds."""
    start = time.monotonic()
    build = submit_build(server, {"commands": commands})
    made.refs.append(build["tag"])
    follower = Follower(server, build["id"], whole)
    try:
        result = follower.result()
    finally:
        follower.stop()
    made.layers += result.created_layers
    if result.error or result.end_state != "succeeded":
        fail(f"the build did not succeed: {result.error or result.end_state}")
    return result, time.monotonic() - start


def bench(server: ServerProcess, output_bytes: int, quick: bool, made: Made) -> None:
    assert server.proc is not None
    pid = server.proc.pid
    word = marker()
    follow_build(server, [f"echo {word}-warm-up", "seq 1 20000"], None, made)
    time.sleep(2)
    before = vm_kib(pid, "VmRSS") * 1024

    command = f"head -c {output_bytes} /dev/zero | tr '\\0' 'x' | fold -w {WIDTH}"
    seen, seconds = follow_build(server, [f"echo {word}", command], "x" * WIDTH, made)
    time.sleep(2)
    after = vm_kib(pid, "VmRSS") * 1024
    peak = max(vm_kib(pid, "VmHWM") * 1024, before)

    lines = output_bytes // WIDTH
    printed = lines * (WIDTH + 1)
    # Lines dropped from memory before the reader got to them were never seen: the
    # build prints nothing else, so count them at full width.
    streamed = seen.line_bytes + seen.dropped * (WIDTH + 1)
    if seen.whole + seen.dropped + seen.partial // 2 < lines:
        fail(f"only {streamed:,} of {printed:,} bytes came through the build stream")
    growth, peak_growth = after - before, peak - before
    met = peak_growth <= GOAL * printed
    mib = 1 << 20
    report(
        f"Build log memory: one build printing {printed / 1e6:.0f} MB, one SSE reader"
        f" ({'quick' if quick else 'full'})",
        [
            ("printed by the build", f"{printed / 1e6:.1f} MB in {lines:,} lines"),
            (
                "through the stream",
                f"{streamed / 1e6:.1f} MB: {seen.whole:,} whole lines read, {seen.dropped:,}"
                f" dropped before read, {seen.partial:,} pieces of split lines",
            ),
            ("build time", f"{seconds:.1f} s ({printed / 1e6 / seconds:.1f} MB/s)"),
            ("server RSS before", f"{before / mib:.1f} MiB"),
            ("server RSS after", f"{after / mib:.1f} MiB"),
            ("server peak RSS (VmHWM)", f"{peak / mib:.1f} MiB"),
            ("growth after / at peak", f"{growth / mib:.1f} MiB / {peak_growth / mib:.1f} MiB"),
            ("RSS after / before", f"{after / before:.2f}"),
            ("peak growth / printed", f"{peak_growth / printed:.3f} (goal <= {GOAL})"),
            ("verdict", verdict(met)),
        ],
        {
            "benchmark": "log_memory",
            "quick": quick,
            "printed_mb": round(printed / 1e6, 1),
            "streamed_mb": round(streamed / 1e6, 1),
            "lines_read": seen.whole,
            "lines_dropped": seen.dropped,
            "split_line_pieces": seen.partial,
            "build_s": round(seconds, 1),
            "rss_before_mib": round(before / mib, 1),
            "rss_after_mib": round(after / mib, 1),
            "rss_peak_mib": round(peak / mib, 1),
            "growth_mib": round(growth / mib, 1),
            "peak_growth_mib": round(peak_growth / mib, 1),
            "after_over_before": round(after / before, 3),
            "peak_growth_over_printed": round(peak_growth / printed, 4),
            "goal_met": met,
        },
    )


def main() -> None:
    args = arguments(
        __doc__.splitlines()[0], "print 120 MB (default: 240 MB; about 3 minutes on 2 cores)"
    ).parse_args()
    with running_server({}) as (server, made):
        bench(server, (120 if args.quick else 240) * 1_000_000, args.quick, made)


if __name__ == "__main__":
    main()
