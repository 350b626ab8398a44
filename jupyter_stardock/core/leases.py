"""Whose kernel is it: each server instance's identity, and the lease that shows it lives.

Several Jupyter servers share one engine (and often one user, one state folder).
Each server instance makes a random instance id when it starts, and labels every
kernel container it starts with that id and with its *lineage*: a hash of the
unix user, the state folder and the server's root folder. The instance keeps a
lease, ``<state_dir>/servers/<instance>.json``, renewed while it runs.

A container is an orphan, to be archived or adopted, only for a server of the
same lineage, and only when the lease of the instance that owns it has lapsed:

- the lease file is gone (its server exited, or never was), or
- it names this host (and boot) and its process is no longer running with the
  recorded start time, so a server restarted right after a SIGKILL reconciles
  at once, and a reused pid never passes for the old server; or
- it names another host (or an earlier boot of this one), and it was last
  renewed more than ``lease_seconds`` ago.

A live server on this host is never taken for dead because it renewed late: a
stopped terminal (Ctrl-Z) or a busy event loop keeps its kernels.

An instance that adopts another's container records the container's id in its
own lease, since a running container's labels cannot change: while that lease
lives, nobody else may touch the container. Reconciles of one lineage take
turns under a lock file, so two servers never adopt or archive the same one.

No tornado and no docker here: plain files and /proc.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..labels import ServerLabels

__all__ = [
    "Lease",
    "ServerIdentity",
    "current_identity",
    "hold_lease",
    "lapsed",
    "lineage_lock",
    "live_adoptions",
    "register",
    "unregister",
]

log = logging.getLogger(__name__)


def _resolved(path: Path | str) -> Path:
    return Path(path).expanduser().resolve()


def lineage_of(uid: int, state_dir: Path | str, root_dir: Path | str) -> str:
    """The hash naming a server's lineage: the same user, state folder and root folder."""
    text = f"{uid}\0{_resolved(state_dir)}\0{_resolved(root_dir)}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def process_start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class ServerIdentity:
    """One server instance (or one standalone tool's process) that starts kernels."""

    instance: str
    lineage: str
    state_dir: Path
    root_dir: Path
    uid: int = field(default_factory=os.getuid)

    @classmethod
    def new(cls, state_dir: Path | str, root_dir: Path | str) -> ServerIdentity:
        return cls(
            instance=secrets.token_hex(8),
            lineage=lineage_of(os.getuid(), state_dir, root_dir),
            state_dir=_resolved(state_dir),
            root_dir=_resolved(root_dir),
        )

    @property
    def server_labels(self) -> ServerLabels:
        """What a kernel container of this instance carries about its server."""
        return ServerLabels(instance=self.instance, lineage=self.lineage)


def leases_dir(state_dir: Path | str) -> Path:
    return Path(state_dir) / "servers"


def lease_path(state_dir: Path | str, instance: str) -> Path:
    return leases_dir(state_dir) / f"{instance}.json"


class Lease:
    """This instance's lease file: written atomically, readable by its user only."""

    def __init__(self, identity: ServerIdentity) -> None:
        self.identity = identity
        self.path = lease_path(identity.state_dir, identity.instance)
        #: Containers this instance adopted from servers that died (their labels name those).
        self.adopted: set[str] = set()

    def renew(self) -> None:
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        pid = os.getpid()
        record = {
            "instance": self.identity.instance,
            "lineage": self.identity.lineage,
            "host": socket.gethostname(),
            "boot_id": boot_id(),
            "pid": pid,
            "pid_start": process_start_time(pid),
            "renewed_at": time.time(),
            "adopted": sorted(self.adopted),
        }
        tmp = folder / f".{self.identity.instance}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(record, f)
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)

    def adopt(self, container_id: str) -> None:
        """Claim a container adopted from a dead server, and say so in the lease at once."""
        self.adopted.add(container_id)
        self.renew()

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        # Never half-written (atomic rename), so this is damage: its age alone decides.
        try:
            return {"renewed_at": path.stat().st_mtime}
        except OSError:
            return None
    return data if isinstance(data, dict) else None


def lapsed(
    state_dir: Path | str, instance: str, lease_seconds: float, now: float | None = None
) -> str | None:
    """Why the lease of that instance has lapsed (a phrase for the log), or None while it lives."""
    if not instance:
        return "the container names no server instance"
    record = _read(lease_path(state_dir, instance))
    if record is None:
        return "its server left no lease"
    return _lapsed(record, lease_seconds, time.time() if now is None else now)


def _lapsed(record: dict[str, Any], lease_seconds: float, now: float) -> str | None:
    pid = record.get("pid")
    if record.get("host") == socket.gethostname() and isinstance(pid, int):
        if record.get("boot_id") and record.get("boot_id") != boot_id():
            return "this host restarted since its server renewed its lease"
        started = process_start_time(pid)
        if started is None or started != record.get("pid_start"):
            return f"its server (process {pid}) is no longer running"
        return None  # alive here, however late it renewed
    age = now - float(record.get("renewed_at") or 0)
    if age > lease_seconds:
        return f"its server did not renew its lease for {age:.0f} seconds"
    return None


def live_adoptions(state_dir: Path | str, lease_seconds: float) -> set[str]:
    """Container ids that live instances adopted: owned, whatever their labels say."""
    folder = leases_dir(state_dir)
    claimed: set[str] = set()
    now = time.time()
    for path in folder.glob("*.json") if folder.is_dir() else ():
        record = _read(path)
        if record is None or _lapsed(record, lease_seconds, now) is not None:
            continue
        claimed.update(str(c) for c in record.get("adopted") or ())
    return claimed


def prune(state_dir: Path | str, lease_seconds: float, keep: set[str]) -> list[str]:
    """Remove lapsed leases of instances that own no container any more (ids in ``keep`` stay)."""
    folder = leases_dir(state_dir)
    removed = []
    now = time.time()
    for path in folder.glob("*.json") if folder.is_dir() else ():
        record = _read(path)
        if path.stem in keep or record is None:
            continue
        if _lapsed(record, lease_seconds, now) is not None:
            path.unlink(missing_ok=True)
            removed.append(path.stem)
    return removed


@contextlib.contextmanager
def lineage_lock(identity: ServerIdentity, blocking: bool = True) -> Iterator[bool]:
    """Serializes the reconciles of one lineage; yields False when not taken (non-blocking)."""
    folder = leases_dir(identity.state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f".{identity.lineage}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# -- this process's identities --------------------------------------------

#: The running server instances of this process, by state folder (usually one).
_REGISTERED: dict[Path, list[tuple[ServerIdentity, Lease]]] = {}


def register(identity: ServerIdentity, lease: Lease) -> None:
    _REGISTERED.setdefault(identity.state_dir, []).append((identity, lease))


def unregister(identity: ServerIdentity) -> None:
    entries = _REGISTERED.get(identity.state_dir, [])
    entries[:] = [e for e in entries if e[0] != identity]


def hold_lease(identity: ServerIdentity) -> Lease:
    """The lease of an instance of this process: registered, written now, released at exit.

    Released only when the process exits: a server shuts its kernels down after
    its extensions stop, and they are its until then. Registered before it is
    written, so kernels of this process keep this identity even when the state
    folder refuses the file (OSError).
    """
    lease = Lease(identity)
    atexit.register(lease.release)
    register(identity, lease)
    lease.renew()
    return lease


def registered_lease(identity: ServerIdentity) -> Lease | None:
    for known, lease in _REGISTERED.get(identity.state_dir, []):
        if known == identity:
            return lease
    return None


def current_identity(state_dir: Path | str, root_dir: Path | str | None = None) -> ServerIdentity:
    """The identity kernels started in this process for that state folder are labelled with.

    In a server, that of its running StarDock extension (the one of the same root
    folder, when given). A standalone tool (nbconvert, jupyter console) has no
    server: it gets an identity and a lease of its own, alive as long as its
    process runs, and removed when it exits.
    """
    key = _resolved(state_dir)
    entries = _REGISTERED.get(key, [])
    if root_dir is not None:
        root = _resolved(root_dir)
        for identity, _ in reversed(entries):
            if identity.root_dir == root:
                return identity
    if entries:
        return entries[-1][0]
    identity = ServerIdentity.new(key, root_dir if root_dir is not None else Path.cwd())
    try:
        hold_lease(identity)
    except OSError as err:
        path = lease_path(identity.state_dir, identity.instance)
        log.warning("StarDock: could not write the lease %s: %s", path, err)
    return identity
