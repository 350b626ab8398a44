"""Server leases (who may reconcile a kernel) and the sentences of a kernel's death."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jupyter_stardock.core import leases
from jupyter_stardock.core.exits import MAX_MESSAGE, ExitRecords, KernelExit, describe_exit
from jupyter_stardock.core.leases import Lease, ServerIdentity, lapsed, lineage_lock, live_adoptions


def test_lineage_is_user_state_and_root(tmp_path: Path) -> None:
    a = ServerIdentity.new(tmp_path / "state", tmp_path / "root")
    again = ServerIdentity.new(tmp_path / "state", tmp_path / "root")
    other_root = ServerIdentity.new(tmp_path / "state", tmp_path / "elsewhere")
    other_state = ServerIdentity.new(tmp_path / "state2", tmp_path / "root")
    assert a.lineage == again.lineage and a.instance != again.instance
    assert len({a.lineage, other_root.lineage, other_state.lineage}) == 3


def test_a_lease_lives_while_its_process_runs_however_late_it_renewed(tmp_path: Path) -> None:
    lease = Lease(ServerIdentity.new(tmp_path, tmp_path))
    lease.renew()
    assert oct(lease.path.stat().st_mode & 0o777) == "0o600"
    assert oct(lease.path.parent.stat().st_mode & 0o777) == "0o700"
    # Stopped in a terminal (Ctrl-Z) for an hour: still alive on this host.
    assert lapsed(tmp_path, lease.identity.instance, 60, now=time.time() + 3600) is None


def test_a_lease_lapses_at_once_when_its_process_is_gone(tmp_path: Path) -> None:
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from jupyter_stardock.core.leases import Lease, ServerIdentity;"
            "l = Lease(ServerIdentity.new(sys.argv[1], sys.argv[1])); l.renew();"
            "print(l.identity.instance)",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    instance = child.stdout.strip()
    assert "no longer running" in (lapsed(tmp_path, instance, 60) or "")


def test_a_reused_pid_is_not_the_old_server(tmp_path: Path) -> None:
    lease = Lease(ServerIdentity.new(tmp_path, tmp_path))
    lease.renew()
    record = json.loads(lease.path.read_text())
    record["pid_start"] = "1"  # this pid, but a process started at another time
    lease.path.write_text(json.dumps(record))
    assert "no longer running" in (lapsed(tmp_path, lease.identity.instance, 60) or "")


def test_a_lease_of_another_host_lapses_after_lease_seconds(tmp_path: Path) -> None:
    lease = Lease(ServerIdentity.new(tmp_path, tmp_path))
    lease.renew()
    record = json.loads(lease.path.read_text())
    record["host"] = socket.gethostname() + "-elsewhere"
    lease.path.write_text(json.dumps(record))
    instance = lease.identity.instance
    assert lapsed(tmp_path, instance, 60, now=record["renewed_at"] + 30) is None
    assert "did not renew" in (lapsed(tmp_path, instance, 60, now=record["renewed_at"] + 61) or "")


def test_no_lease_no_owner(tmp_path: Path) -> None:
    assert lapsed(tmp_path, "0123456789abcdef", 60) == "its server left no lease"
    assert lapsed(tmp_path, "", 60) is not None


def test_a_live_lease_claims_the_containers_it_adopted(tmp_path: Path) -> None:
    lease = Lease(ServerIdentity.new(tmp_path, tmp_path))
    lease.adopt("c0ffee")
    assert live_adoptions(tmp_path, 60) == {"c0ffee"}
    lease.release()
    assert live_adoptions(tmp_path, 60) == set()


def test_reconciles_of_one_lineage_take_turns(tmp_path: Path) -> None:
    identity = ServerIdentity.new(tmp_path, tmp_path)
    with lineage_lock(identity, blocking=False) as first:
        with lineage_lock(identity, blocking=False) as second:
            assert first and not second
    other = ServerIdentity.new(tmp_path, tmp_path / "other-root")
    with (
        lineage_lock(identity, blocking=False) as mine,
        lineage_lock(other, blocking=False) as theirs,
    ):
        assert mine and theirs


def test_a_standalone_tool_gets_an_identity_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leases, "_REGISTERED", {})
    identity = leases.current_identity(tmp_path / "state")
    assert leases.current_identity(tmp_path / "state") == identity
    assert lapsed(tmp_path / "state", identity.instance, 60) is None
    server = ServerIdentity.new(tmp_path / "state", tmp_path / "root")
    leases.register(server, Lease(server))
    assert leases.current_identity(tmp_path / "state", tmp_path / "root") == server


# -- why a kernel died ---------------------------------------------------

GIB = 1 << 30


def inspect(code: int, *, oom: bool = False, memory: int = 4 * GIB, pids: int = 512) -> dict:
    return {
        "State": {"Running": False, "ExitCode": code, "OOMKilled": oom, "Error": ""},
        "HostConfig": {"Memory": memory, "PidsLimit": pids},
    }


@pytest.mark.parametrize(
    ("data", "tail", "reason", "words"),
    [
        (inspect(137, oom=True), "", "oom", "memory limit 4 GiB reached"),
        (inspect(137, oom=True, memory=256 << 20), "", "oom", "memory limit 256 MiB reached"),
        (
            inspect(1),
            "RuntimeError: can't start new thread",
            "pids",
            "limit of 512 processes and threads",
        ),
        (inspect(137), "", "signal", "signal 9 (SIGKILL)"),
        (inspect(3), "Traceback\nValueError: bad", "exit", "code 3. It said: ValueError: bad"),
        (inspect(0), "", "exit", "exit code 0"),
        (None, "", "removed", "removed outside JupyterLab"),
    ],
)
def test_each_death_has_a_sentence_that_fits_a_notification(
    data: dict | None, tail: str, reason: str, words: str
) -> None:
    got_reason, message, _ = describe_exit(data, log_tail=tail)
    assert got_reason == reason
    assert words in message
    assert len(message) <= MAX_MESSAGE


def test_a_container_gone_with_the_engine_says_so() -> None:
    assert describe_exit(None, engine_lost=True)[0] == "engine"
    assert describe_exit(inspect(143), engine_lost=True)[0] == "engine"
    assert describe_exit(inspect(137, oom=True), engine_lost=True)[0] == "oom"


def test_records_are_per_owner_and_kernel() -> None:
    records = ExitRecords(limit=2)

    def exit_of(owner: str, kernel: str, at: float) -> KernelExit:
        return KernelExit(kernel, owner, "oom", "m", 137, at)

    records.add(exit_of("ana", "k1", 1.0))
    records.add(exit_of("bob", "k1", 2.0))
    assert records.last("k1", "ana").owner == "ana"  # type: ignore[union-attr]
    assert records.last("k1").owner == "bob"  # type: ignore[union-attr]
    assert records.last("k1", "eve") is None
    records.add(exit_of("ana", "k2", 3.0))  # the oldest goes
    assert records.last("k1", "ana") is None
