"""How both fronts say things: tables, sizes, ages, a progress bar, a failed build.

The CLI and the magics print the same sentences and tables from these; the
magics' notebook display (an HTML progress bar over a log tail) is made here too,
as plain text, so it needs no IPython.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..errors import ClientError
from .events import BuildProgress

__all__ = [
    "apps_table",
    "datasets_table",
    "environment_ready",
    "environments_table",
    "failure_sentence",
    "format_age",
    "format_size",
    "format_table",
    "kernel_started",
    "kernels_table",
    "parse_size",
    "parse_time",
    "progress_bar",
    "progress_bundle",
    "recipe_summary",
]


def failure_sentence(build: Mapping[str, Any], build_id: str | None = None) -> str:
    """What a front prints for a build that did not succeed, pointing at its whole log.

    A failed step's message (several lines: the step, its last output, what to
    do) is quoted as the server wrote it.
    """
    build_id = build_id or str(build.get("id", ""))
    reason = str(build.get("error") or f"it ended {build.get('state')}")
    log = f"`jupyter stardock logs {build_id}`"
    if "\n" in reason:
        return f"The build {build_id} failed. {reason}\nThe whole log: {log}."
    return f"The build {build_id} failed: {reason.rstrip('.')}. Its log: {log}."


def format_size(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


_SIZE_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def parse_size(text: str) -> int:
    """``"10G"``, ``"500MB"``, ``"1.5 GiB"`` or a number of bytes."""
    raw = text.strip().lower().replace(" ", "")
    number = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(number) :].removesuffix("ib").removesuffix("b") or ""
    binary = raw.endswith("ib")
    try:
        value = float(number)
        factor = _SIZE_UNITS[unit]
    except (ValueError, KeyError):
        raise ClientError(f"{text!r} is not a size; write for example 500M, 20G or 1.5T.") from None
    if binary and unit:
        factor = 1024 ** "bkmgt".index(unit)
    return int(value * factor)


def parse_time(value: Any) -> float | None:
    """Seconds since the epoch from a number or an ISO 8601 text (the engine's nanoseconds too)."""
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    if "." in text:  # Python reads at most six digits of a fraction
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def format_age(moment: float | None, now: float | None = None) -> str:
    if moment is None:
        return "unknown"
    seconds = max(0.0, (time.time() if now is None else now) - moment)
    for unit, length in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= length:
            n = int(seconds // length)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def progress_bar(progress: BuildProgress, width: int = 30) -> str:
    done = round(progress.fraction * width)
    steps = f" step {progress.step}/{progress.steps}" if progress.steps else ""
    elapsed = time.monotonic() - progress.started
    return (
        f"[{'#' * done}{'.' * (width - done)}] {progress.fraction:4.0%}{steps} "
        f"{progress.state} {elapsed:.0f}s"
    )


def recipe_summary(recipe: Mapping[str, Any]) -> str:
    """``2 commands, pip: photutils`` (what an environment adds beyond its apps)."""
    parts = []
    commands = recipe.get("commands") or ()
    if commands:
        parts.append(f"{len(commands)} command{'s' if len(commands) != 1 else ''}")
    for key, label in (("pip_packages", "pip"), ("apt_packages", "apt")):
        if recipe.get(key):
            parts.append(f"{label}: {' '.join(recipe[key])}")
    return ", ".join(parts) or "-"


def environments_table(
    environments: Sequence[Mapping[str, Any]],
    kernels: Sequence[Mapping[str, Any]] = (),
    last_used: Mapping[str, float] | None = None,
) -> str:
    if not environments:
        return "No environments yet: build one (`%stardock build` or `jupyter stardock build`)."
    running: dict[str, int] = {}
    for kernel in kernels:
        running[kernel.get("environment", "")] = running.get(kernel.get("environment", ""), 0) + 1
    rows = [
        (
            env["id"],
            ", ".join(env.get("apps") or ()) or "base",
            recipe_summary(env.get("recipe") or {}),
            format_size(env.get("size") or 0),
            format_age(parse_time(env.get("created"))),
            *([format_age(last_used.get(env["id"]))] if last_used is not None else []),
            running.get(env["id"], 0),
        )
        for env in environments
    ]
    headers = ["environment", "apps", "extras", "size", "created", "last used", "kernels"]
    if last_used is None:
        headers.remove("last used")
    return format_table(headers, rows)


def apps_table(apps: Sequence[Mapping[str, Any]]) -> str:
    rows = [(a["id"], a["title"], a.get("category", "")) for a in apps]
    return format_table(["app", "title", "category"], rows)


def datasets_table(datasets: Sequence[Mapping[str, Any]]) -> str:
    if not datasets:
        return "No datasets are available to you; the operator configures them (c.StarDockApp.datasets)."
    rows = [
        (
            d["id"],
            d.get("title", ""),
            d.get("files", 0) if d.get("exists", True) else "missing",
            format_size(d.get("bytes") or 0),
        )
        for d in datasets
    ]
    return format_table(["dataset", "title", "files", "size"], rows)


def kernels_table(kernels: Sequence[Mapping[str, Any]], ours: set[str]) -> str:
    """The running StarDock kernels; ``ours`` are the ids this notebook started."""
    if not kernels:
        return "No StarDock kernel is running."
    rows = [
        (
            k["id"],
            k.get("environment", ""),
            k.get("dataset") or "-",
            format_age(k.get("started")),
            k.get("outputs") or "-",
            "yes" if k["id"] in ours else "",
        )
        for k in kernels
    ]
    return format_table(
        ["kernel", "environment", "dataset", "started", "outputs", "this notebook"], rows
    )


def environment_ready(environment: Mapping[str, Any], dataset: str | None) -> str:
    """What ``%stardock build`` says at the end: the kernelspec, and the cell to use it."""
    beside = f" with dataset {dataset}" if dataset else ""
    option = f" --dataset {dataset}" if dataset else ""
    return (
        f"Environment {environment['id']} is ready{beside} "
        f"(kernelspec {environment.get('kernelspec')}).\n"
        f"Run a cell in it: %%stardock {environment['id']}{option}"
    )


def kernel_started(
    kernel_id: str,
    environment: Mapping[str, Any],
    dataset: str | None,
    kernelspec: str,
    outputs: str | None,
) -> str:
    """What ``%stardock start`` says: the kernel, and the ways to use and stop it."""
    apps = ", ".join(environment.get("apps") or ()) or "base"
    cell = f"%%stardock {environment['id']}" + (f" --dataset {dataset}" if dataset else "")
    lines = [
        f"Started StarDock kernel {kernel_id} in environment {environment['id']} ({apps})"
        + (f" beside dataset {dataset} (read-only at /data)." if dataset else "."),
        f"  Run a cell in it:   {cell}",
        f"  Or pick the kernel: {kernelspec} in the kernel menu (a separate kernel).",
    ]
    if outputs:
        lines.append(f"  Its outputs folder: {outputs} (/outputs inside; kept when it stops)")
    lines.append("  Stop it:            %stardock stop")
    return "\n".join(lines)


def progress_bundle(progress: BuildProgress, tail: int = 12) -> dict[str, str]:
    """A notebook's view of a build: a progress bar above the log's last lines (a mime bundle)."""
    lines = progress.lines[-tail:]
    bar = progress_bar(progress)
    text = "\n".join([bar, *(f"  {line}" for line in lines)])
    label = html.escape(bar.split("] ", 1)[-1])
    return {
        "text/plain": text,
        "text/html": (
            f'<div class="stardock-build"><div>Building environment '
            f"<code>{html.escape(progress.environment_id)}</code> "
            f'<progress max="1" value="{progress.fraction:.3f}" style="width:20em">'
            f"</progress> {label}</div>"
            f'<pre style="max-height:16em;overflow:auto;font-size:85%">'
            f"{html.escape(chr(10).join(lines))}</pre></div>"
        ),
    }
