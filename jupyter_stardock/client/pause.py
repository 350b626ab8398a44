"""Pause, resume, suspend and restore kernels over the REST API (issue 17): shared by CLI and magics.

Each action answers with one sentence for the scientist; ``run`` accepts a
unique prefix of a kernel id, as `%stardock kernels` prints them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .api import StarDockClient

__all__ = ["ACTIONS", "expand_id", "run", "sentence", "suspended_table"]

ACTIONS = ("pause", "resume", "suspend", "restore")


def expand_id(prefix: str, ids: Iterable[str]) -> str:
    """The one id starting with ``prefix``; else ``prefix`` as given (the server names it)."""
    matches = [i for i in ids if i.startswith(prefix)]
    return matches[0] if len(matches) == 1 else prefix


def _names(items: Iterable[str]) -> str:
    names = sorted(items)
    return ", ".join(names) if names else "nothing"


def _skipped(skipped: Mapping[str, str]) -> str:
    if not skipped:
        return ""
    lines = "\n".join(f"  {name}: {why}" for name, why in sorted(skipped.items()))
    return f"\nNot saved:\n{lines}"


def sentence(action: str, reply: Mapping[str, Any]) -> str:
    """What each action says when it worked."""
    if action == "pause":
        return (
            f"Kernel {reply['id']} is paused: its memory is kept and it uses no CPU. "
            f"What is sent to it waits until `%stardock resume {reply['id'][:8]}`."
        )
    if action == "resume":
        return f"Kernel {reply['id']} runs again; what was sent to it meanwhile is answered now."
    if action == "suspend":
        return (
            f"Kernel {reply['kernel_id']} is suspended: saved {_names(reply.get('saved') or [])} "
            f"to {reply.get('outputs')}, and its container is stopped. Bring it back with "
            f"`%stardock restore {reply['kernel_id'][:8]}`.{_skipped(reply.get('skipped') or {})}"
        )
    return (
        f"Kernel {reply['restored_from']} is restored as kernel {reply['id']} "
        f"({reply.get('kernel_name')}): loaded {_names(reply.get('loaded') or [])}."
        f"{_skipped(reply.get('skipped') or {})}"
    )


def run(client: StarDockClient, action: str, kernel: str) -> tuple[dict[str, Any], str]:
    """Do ``action`` on the kernel ``kernel`` (an id or a unique prefix): the reply and its sentence."""
    if action == "restore":
        known = [s["kernel_id"] for s in client.api("GET", "suspended")["suspended"]]
    else:
        known = [k["id"] for k in client.stardock_kernels()]
    kernel_id = expand_id(kernel, known)
    reply = dict(client.api("POST", f"kernels/{kernel_id}/{action}", {}))
    return reply, sentence(action, reply)


def suspended_table(records: Iterable[Mapping[str, Any]]) -> str:
    rows = [
        f"{r['kernel_id']}  {r.get('kernel_name', '')}  saved: {_names(r.get('saved') or [])}"
        for r in records
    ]
    return "\n".join(rows) if rows else "No kernel is suspended."
