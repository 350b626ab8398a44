"""Finding the Jupyter server to talk to, and its token, with no server code imported.

A kernel finds the server it runs under, a shell the one server running (or the
one serving the current folder), JupyterHub its user's server; see
:func:`discover_server` for the order. Only the standard library and
``jupyter_core.paths`` are used, so the CLI starts fast.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ServerNotFound

__all__ = ["ServerInfo", "discover_server", "running_servers"]


@dataclass(frozen=True)
class ServerInfo:
    """Where a Jupyter server is, how to authenticate, and how we found it (for messages)."""

    url: str
    token: str = ""
    source: str = "given"

    def __post_init__(self) -> None:
        if not self.url.endswith("/"):
            object.__setattr__(self, "url", self.url + "/")


def _alive(pid: int) -> bool:
    """jupyter_server's ``check_pid`` on POSIX (its module imports tornado)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ancestors(pid: int) -> list[int]:
    """``pid``'s parent, grandparent, ... as far as /proc tells (Linux); else just the parent."""
    chain: list[int] = []
    current = pid
    for _ in range(32):
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            if not chain and current == os.getpid():
                chain.append(os.getppid())
            break
        if parent <= 1:
            break
        chain.append(parent)
        current = parent
    return chain


def running_servers(runtime_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Live servers' runtime files (``jpserver-<pid>.json``) and their contents, newest first.

    This reads the folder the way jupyter_server's ``serverapp.list_running_servers``
    does (every ``jpserver-*.json`` that parses and whose ``pid`` is alive), without
    importing it: ``import jupyter_server.serverapp`` takes 1.5 to 1.65 s here (the
    whole server stack: tornado, jupyter_events, the contents and kernel managers),
    against 0.1 s for ``python3 -c pass`` and 0.5 to 0.6 s for all of
    ``jupyter kernelspec list``, so it alone would break the fast CLI (issue 13).
    It also differs where a client must: it keeps each file's path (messages say
    where a server was found), orders them newest first, skips a file without a
    ``url``, and deletes nothing (a stale file is its server's owner's to remove).
    """
    found = []
    for path in sorted(runtime_dir.glob("jpserver-*.json"), key=_mtime, reverse=True):
        try:
            info = json.loads(path.read_text())
            pid = int(info["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being written (list_running_servers skips those too), or not a server's
        if _alive(pid) and info.get("url"):
            found.append((path, info))
    return found


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _same_server(a: str, b: str) -> bool:
    pa, pb = urllib.parse.urlsplit(a), urllib.parse.urlsplit(b)
    loopback = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}
    host_a = "localhost" if (pa.hostname or "") in loopback else pa.hostname
    host_b = "localhost" if (pb.hostname or "") in loopback else pb.hostname
    return (host_a, pa.port, pa.path.rstrip("/")) == (host_b, pb.port, pb.path.rstrip("/"))


def discover_server(
    url: str | None = None,
    token: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    runtime_dir: Path | None = None,
    pid: int | None = None,
    cwd: Path | None = None,
    override_hint: str = "--url URL --token TOKEN",
) -> ServerInfo:
    """The Jupyter server to talk to, in this order:

    1. ``url`` (and ``token``) given explicitly;
    2. ``JUPYTER_SERVER_URL`` (with ``JUPYTER_TOKEN``);
    3. the runtime file (``jpserver-<pid>.json``) of the server this process runs
       under: a kernel's parent is its server;
    4. JupyterHub: ``JUPYTERHUB_SERVICE_URL`` or ``JUPYTERHUB_SERVICE_PREFIX``, with
       ``JUPYTERHUB_API_TOKEN``;
    5. the only live server in the runtime folder (or the one serving ``cwd``).

    The token, when not given, comes from the matching runtime file, then
    ``JUPYTERHUB_API_TOKEN``, then ``JUPYTER_TOKEN``.
    """
    env = os.environ if environ is None else environ
    if runtime_dir is None:
        from jupyter_core.paths import jupyter_runtime_dir

        runtime_dir = Path(jupyter_runtime_dir())
    servers = running_servers(runtime_dir)
    hub_token = env.get("JUPYTERHUB_API_TOKEN", "")

    def token_for(server_url: str, *, env_first: bool = False) -> str:
        if token is not None:
            return token
        if env_first and env.get("JUPYTER_TOKEN"):
            return env["JUPYTER_TOKEN"]
        for _path, info in servers:
            if info.get("token") and _same_server(info["url"], server_url):
                return str(info["token"])
        return hub_token or env.get("JUPYTER_TOKEN", "")

    if url:
        return ServerInfo(url, token_for(url, env_first=True), "the address given")
    if env.get("JUPYTER_SERVER_URL"):
        server_url = env["JUPYTER_SERVER_URL"]
        return ServerInfo(server_url, token_for(server_url, env_first=True), "JUPYTER_SERVER_URL")

    by_pid = {int(info["pid"]): (path, info) for path, info in servers}
    for ancestor in _ancestors(os.getpid() if pid is None else pid):
        if ancestor in by_pid:
            path, info = by_pid[ancestor]
            return ServerInfo(
                info["url"], token_for(info["url"]), f"{path} (the server running this process)"
            )

    prefix = env.get("JUPYTERHUB_SERVICE_PREFIX")
    if hub_token and (prefix or env.get("JUPYTERHUB_SERVICE_URL")):
        server_url = env.get("JUPYTERHUB_SERVICE_URL") or f"http://127.0.0.1:8888{prefix}"
        return ServerInfo(server_url, token if token is not None else hub_token, "JupyterHub")

    if len(servers) > 1:
        here = (cwd or Path.cwd()).resolve()
        serving = [
            (path, info)
            for path, info in servers
            if info.get("root_dir") and here.is_relative_to(Path(info["root_dir"]).resolve())
        ]
        if len(serving) == 1:
            servers = serving
    if len(servers) == 1:
        path, info = servers[0]
        return ServerInfo(info["url"], token_for(info["url"]), str(path))
    if servers:
        urls = ", ".join(info["url"] for _p, info in servers)
        raise ServerNotFound(
            f"Several Jupyter servers are running ({urls}); choose one with {override_hint}."
        )
    raise ServerNotFound(
        "Found no running Jupyter server: no address was given, JUPYTER_SERVER_URL and the "
        f"JupyterHub variables are not set, and {runtime_dir} holds no runtime file "
        f"(jpserver-*.json) of a live server. Start one (`jupyter lab`) or give its address "
        f"with {override_hint}."
    )
