"""Fast CLI: `jupyter stardock --help` and `jupyter stardock envs` against `jupyter kernelspec list`.

A real ``jupyter server`` with StarDock runs in a child process; the three
commands run as a user runs them (``jupyter <sub>``, through the ``jupyter``
launcher), with that server's runtime folder, so ``envs`` finds the server on
its own and asks it over REST. The baseline is ``jupyter kernelspec list``, a
Jupyter command of the same kind that imports only jupyter_client. The three
take turns, the order rotated each round, after one warm-up each.

    python benchmarks/cli_start.py [--quick]

Goal: median time of each StarDock command / median of the baseline <= 1.5.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

from _common import (
    REPO_ROOT,
    ServerProcess,
    arguments,
    fail,
    median,
    report,
    running_server,
    verdict,
)

GOAL = 1.5
COMMANDS: dict[str, list[str]] = {
    "kernelspec list (baseline)": ["jupyter", "kernelspec", "list"],
    "stardock --help": ["jupyter", "stardock", "--help"],
    "stardock envs": ["jupyter", "stardock", "envs"],
}
BASELINE = "kernelspec list (baseline)"


def run_once(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from start to exit of one command; it must succeed."""
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        fail(f"`{' '.join(argv)}` exited {result.returncode}: {result.stderr.strip()[-500:]}")
    return elapsed


def measure(server: ServerProcess, rounds: int) -> dict[str, list[float]]:
    env = {
        **server.env(),
        # This checkout's package, whatever the installed one is (the console script
        # imports jupyter_stardock; PYTHONPATH wins), for all three alike.
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
        ),
        "JUPYTER_SERVER_URL": "",
        "JUPYTER_TOKEN": "",
    }
    names = list(COMMANDS)
    for name in names:  # warm-up: the disk cache, the compiled bytecode
        run_once(COMMANDS[name], env)
    times: dict[str, list[float]] = {name: [] for name in names}
    for k in range(rounds):
        for name in names[k % len(names) :] + names[: k % len(names)]:
            times[name].append(run_once(COMMANDS[name], env))
    return times


def summarize(times: dict[str, list[float]], rounds: int, quick: bool) -> None:
    base = median(times[BASELINE])
    rows: list[tuple[str, str]] = []
    results: dict[str, Any] = {"benchmark": "cli_start", "quick": quick, "rounds": rounds}
    met = True
    for name, values in times.items():
        mid = median(values)
        figures = f"median {mid * 1000:.0f} ms (min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})"
        key = name.split(" (")[0].replace(" ", "_").replace("-", "")
        results[f"{key}_median_ms"] = round(mid * 1000, 1)
        if name == BASELINE:
            rows.append((name, figures))
            continue
        ratio = mid / base
        # The per-round ratio too: both ran within seconds of each other, under the same load.
        paired = median(v / b for v, b in zip(values, times[BASELINE], strict=True))
        met &= ratio <= GOAL
        rows.append(
            (name, f"{figures}  ratio {ratio:.2f}, per round {paired:.2f} (goal <= {GOAL:g})")
        )
        results[f"{key}_ratio"] = round(ratio, 3)
        results[f"{key}_round_ratio"] = round(paired, 3)
    rows.append(("verdict", verdict(met)))
    results["goal_met"] = met
    report(f"CLI start, {rounds} rounds ({'quick' if quick else 'full'})", rows, results)


def main() -> None:
    parser = arguments(__doc__.splitlines()[0], "5 rounds (default: 15; about 1 minute)")
    args = parser.parse_args()
    rounds = 5 if args.quick else 15
    with running_server({}) as (server, _made):
        times = measure(server, rounds)
    summarize(times, rounds, args.quick)


if __name__ == "__main__":
    main()
