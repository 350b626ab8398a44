"""The data service from the client side: ask for a dataset of archive files, follow it.

Shared by ``jupyter stardock stage`` and ``%stardock stage``; synchronous, like api.py.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ClientError
from .api import StarDockClient
from .presentation import format_size

__all__ = [
    "cancel",
    "follow",
    "outcome",
    "pin",
    "read_file_list",
    "request",
    "stage",
    "stage_and_follow",
    "staging_bar",
    "when_changed",
]

View = dict[str, Any]
FINISHED = ("complete", "failed", "cancelled")


def read_file_list(items: Sequence[str]) -> list[str]:
    """File references as given: each item is a reference, or '@path' / '-' for a list file."""
    import sys

    refs: list[str] = []
    for item in items:
        if item == "-":
            refs.extend(sys.stdin.read().splitlines())
        elif item.startswith("@"):
            path = Path(item.removeprefix("@")).expanduser()
            try:
                refs.extend(path.read_text().splitlines())
            except OSError as err:
                raise ClientError(f"Cannot read the file list {path}: {err.strerror}.") from None
        else:
            refs.append(item)
    return refs


def stage(
    client: StarDockClient,
    files: Sequence[str],
    dataset: str | None = None,
    title: str | None = None,
) -> View:
    body: dict[str, Any] = {"files": list(files)}
    if dataset:
        body["dataset"] = dataset
    if title:
        body["title"] = title
    return dict(client.api("POST", "datasets", body)["request"])


def request(client: StarDockClient, request_id: str) -> View:
    return dict(client.api("GET", f"staging/{request_id}")["request"])


def cancel(client: StarDockClient, request_id: str) -> View:
    return dict(client.api("POST", f"staging/{request_id}/cancel", {})["request"])


def pin(client: StarDockClient, dataset_id: str, pinned: bool = True) -> View:
    return dict(client.api("PATCH", f"datasets/{dataset_id}", {"pinned": pinned}))


def follow(
    client: StarDockClient,
    view: View,
    on_progress: Callable[[View], None],
    *,
    every: float = 0.5,
) -> View:
    """Poll the request until it ends; ``on_progress`` sees each state."""
    on_progress(view)
    while view["state"] not in FINISHED:
        time.sleep(every)
        view = request(client, view["id"])
        on_progress(view)
    return view


def when_changed(show: Callable[[View], None]) -> Callable[[View], None]:
    """``show`` only when the state or the count of staged files changed (a notebook's output)."""
    last: list[tuple[str, int]] = []

    def call(view: View) -> None:
        key = (view["state"], view["files_done"])
        if not last or last[-1] != key:
            last.append(key)
            show(view)

    return call


def staging_bar(view: View, width: int = 30) -> str:
    """``[#####.....]  4/10 files  12.0 MB of 30.0 MB  staging``."""
    total = view.get("bytes_total")
    done = view.get("bytes_done") or 0
    files = f"{view['files_done']}/{view['files_total']} files"
    if total:
        fraction = min(1.0, done / total)
        size = f"{format_size(done)} of {format_size(total)}"
    else:
        fraction = view["files_done"] / max(1, view["files_total"])
        size = format_size(done)
    filled = round(fraction * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {files}  {size}  {view['state']}"


def outcome(view: View) -> str:
    """One sentence on how a request ended."""
    if view["state"] == "complete":
        return (
            f"The dataset {view['dataset']!r} is staged: {view['files_total']} files, "
            f"{format_size(view['bytes_done'])}. Pick it like any other dataset."
        )
    return f"Staging {view['dataset']!r} {view['state']}: {view['message']}"


def stage_and_follow(
    client: StarDockClient, args: argparse.Namespace, on_progress: Callable[[View], None]
) -> View:
    """What both fronts do: read the file list, post it, follow it to its end."""
    if getattr(args, "cancel", None):
        return cancel(client, args.cancel)
    refs = read_file_list(args.files)
    view = stage(client, refs, args.dataset, getattr(args, "title", None))
    if getattr(args, "no_wait", False):
        return view
    return follow(client, view, on_progress)
