"""The kernel container's configuration, the kernelspecs and the outputs archive, without an engine."""

from __future__ import annotations

import asyncio
import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from jupyter_stardock.core.datasets import Dataset
from jupyter_stardock.core.kernelspecs import KernelspecStore, kernelspec_name
from jupyter_stardock.core.outputs import ArchiveStore, checksum_listing
from jupyter_stardock.engine import ContainerSpec
from jupyter_stardock.errors import EngineError, KernelStartError
from jupyter_stardock.kernels import runtime
from jupyter_stardock.kernels.container import ContainerKernel
from jupyter_stardock.kernels.launch import (
    KernelLaunch,
    KernelSettings,
    container_uid,
    container_user,
)
from jupyter_stardock.labels import KernelLabels

T = TypeVar("T")


def _kernel(tmp_path: Path, engine: object = None, **settings: object) -> ContainerKernel:
    launch = KernelLaunch(
        kernel_id="k-123",
        kernel_name="StarDock · Astropy · M51",
        image="stardock/env:abc",
        environment="abc",
        dataset=Dataset("m51", tmp_path / "data", "M51"),
        outputs_dir=tmp_path / "out",
        runtime_dir=tmp_path / "private" / "run",
        archive_dir=tmp_path / "archives",
        uid=1000,
        gid=1000,
        ipc_parent=tmp_path / "ipc",
    )
    return ContainerKernel(engine=engine, settings=KernelSettings(**settings), launch=launch)  # type: ignore[arg-type]


def test_hardened_by_default(tmp_path) -> None:
    spec = _kernel(tmp_path).container_spec(
        {
            "LANG": "C.UTF-8",
            "JUPYTER_TOKEN": "secret",
            "AWS_SECRET_ACCESS_KEY": "x",
            "PATH": "/usr/bin",
        }
    )
    assert spec.user == "1000:1000"
    assert spec.read_only and spec.init
    assert spec.cap_drop == ("ALL",) and spec.security_opt == ("no-new-privileges",)
    assert spec.network_mode == "none" and not spec.ports
    assert spec.mem_limit and spec.nano_cpus and spec.pids_limit
    assert set(spec.tmpfs) == {"/tmp", "/home/stardock"}
    # The connection file's folder is read-only: the kernel can change nothing the
    # server writes (the ipc folder, made at start, is the kernel's own).
    assert {(m.target, m.read_only) for m in spec.mounts} == {
        ("/data", True),
        ("/outputs", False),
        ("/run/stardock", True),
    }
    assert (
        "JUPYTER_TOKEN" not in spec.environment and "AWS_SECRET_ACCESS_KEY" not in spec.environment
    )
    assert spec.environment["LANG"] == "C.UTF-8" and "PATH" not in spec.environment


def test_loosened_by_the_operator(tmp_path) -> None:
    spec = _kernel(
        tmp_path, allow_network=True, drop_capabilities=False, read_only_root=False, mem_limit=None
    ).container_spec({})
    assert spec.network_mode == "bridge"
    assert set(spec.ports.values()) == {"127.0.0.1"}  # published on loopback only
    assert spec.cap_drop == () and not spec.read_only and spec.mem_limit is None


def test_ipc_connection_file_and_runtime_folder(tmp_path) -> None:
    kernel = _kernel(tmp_path)
    kernel._prepare_runtime()
    conn = tmp_path / "private" / "run" / "connection.json"
    info = json.loads(conn.read_text())
    assert info["transport"] == "ipc" and info["ip"] == "/run/stardock/ipc/k"
    assert oct(conn.stat().st_mode & 0o777) == "0o400"
    assert oct((tmp_path / "private").stat().st_mode & 0o777) == "0o700"
    assert kernel.ipc_dir is not None and kernel.ipc_dir.parent == tmp_path / "ipc"
    assert oct(kernel.ipc_dir.stat().st_mode & 0o777) == "0o700"
    mounts = {m.target: m for m in kernel.container_spec({}).mounts}
    assert mounts["/run/stardock/ipc"].source == str(kernel.ipc_dir)
    assert not mounts["/run/stardock/ipc"].read_only
    if os.geteuid() == 0:
        assert kernel.ipc_dir.stat().st_uid == 1000 and conn.stat().st_uid == 1000
        assert (tmp_path / "private" / "run").stat().st_uid == 0
    # A restart gets a fresh socket folder at the same path (jupyter_server reconnects
    # by address); what the kernel planted in the old one is removed, never followed.
    old = kernel.ipc_dir
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (old / "k-1").symlink_to(victim)
    (old / "sub").mkdir()
    kernel._prepare_runtime()
    assert kernel.ipc_dir == old and os.listdir(old) == [] and victim.read_text() == "keep"
    assert os.listdir(tmp_path / "ipc") == [old.name]


def test_connection_file_is_never_written_through_a_link(tmp_path) -> None:
    kernel = _kernel(tmp_path)
    kernel._prepare_runtime()
    conn = tmp_path / "private" / "run" / "connection.json"
    victim = tmp_path / "victim"
    victim.write_text("keep")
    victim.chmod(0o644)
    conn.unlink()
    conn.symlink_to(victim)
    kernel._prepare_runtime()
    assert victim.read_text() == "keep" and oct(victim.stat().st_mode & 0o777) == "0o644"
    assert not conn.is_symlink() and json.loads(conn.read_text())["key"]


class _TakenNameEngine:
    """An engine whose first create meets a container of the same name, with ``status``."""

    def __init__(self, status: int | None, message: str) -> None:
        self.status, self.message = status, message
        self.created: list[str] = []
        self.removed: list[str] = []

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(*args, **kwargs)

    run_long = run

    def run_container_sync(self, spec: ContainerSpec) -> str:
        if not self.created and not self.removed:
            self.created.append("refused")
            raise EngineError(self.message, engine_status=self.status)
        self.created.append(spec.name or "")
        return "c-2"

    def remove_container_sync(self, container_id: str) -> None:
        self.removed.append(container_id)


def _start(kernel: ContainerKernel, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    # No mount in a unit test (a root test run would bind-mount the outputs folder).
    monkeypatch.setattr("jupyter_stardock.kernels.container.protect_outputs", lambda *a, **k: None)
    return dict(asyncio.run(kernel.start({})))


def test_a_left_container_of_the_same_name_goes_and_the_start_is_tried_again(
    tmp_path, monkeypatch
) -> None:
    engine = _TakenNameEngine(409, "The container name is already in use by another one")
    kernel = _kernel(tmp_path, engine)
    info = _start(kernel, monkeypatch)
    assert engine.removed == ["stardock-kernel-k-123"]
    assert engine.created == ["refused", "stardock-kernel-k-123"]
    assert kernel.container_id == "c-2"
    # The host's side of the same connection the kernel was given (its key as bytes).
    assert kernel.ipc_dir is not None and info["ip"] == str(kernel.ipc_dir / "k")
    conn = json.loads((tmp_path / "private" / "run" / "connection.json").read_text())
    assert info["key"] == conn["key"].encode()
    ports = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
    assert [info[p] for p in ports] == [conn[p] for p in ports]


def test_a_conflict_is_told_by_the_engines_status_not_by_its_words(tmp_path, monkeypatch) -> None:
    engine = _TakenNameEngine(500, "Conflict: the engine's words, with another status")
    kernel = _kernel(tmp_path, engine)
    released: list[Path] = []
    monkeypatch.setattr(
        "jupyter_stardock.kernels.container.release_outputs",
        lambda folder, **_: released.append(folder),
    )
    with pytest.raises(KernelStartError, match="could not start: Conflict"):
        _start(kernel, monkeypatch)
    assert engine.removed == [] and kernel.container_id is None
    # A failed first start undoes its set-up: no connection file (its key), no outputs mount.
    assert not (tmp_path / "private" / "run").exists()
    assert released == [kernel.launch.outputs_dir]


def test_both_ends_of_a_tcp_kernel_share_one_curve_keypair(tmp_path) -> None:
    kernel = _kernel(tmp_path, allow_network=True)
    kernel._prepare_runtime()
    conn = json.loads((tmp_path / "private" / "run" / "connection.json").read_text())
    assert conn["transport"] == "tcp" and conn["ip"] == "0.0.0.0"
    assert (conn["curve_publickey"], conn["curve_secretkey"]) == kernel.curve
    assert kernel.ipc_dir is None and not (tmp_path / "ipc").exists()


def test_a_containers_user_is_read_back_as_it_was_written() -> None:
    assert container_uid(container_user(1000, 100)) == 1000
    assert container_uid("") is None and container_uid("stardock") is None


def test_labelled_folders_are_used_only_where_this_server_makes_them(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(runtime, "ipc_parent", lambda: tmp_path / "ipc")
    state = tmp_path / "state"
    ours_runtime, ours_ipc = state / "runtime" / "r1", tmp_path / "ipc" / "i1"
    elsewhere = tmp_path / "home" / "r1"
    for folder in (ours_runtime, ours_ipc, elsewhere):
        folder.mkdir(parents=True)
    (ours_runtime / "connection.json").write_text(json.dumps({"key": "abc"}))

    def labels(runtime_dir: Path, ipc: Path | None) -> KernelLabels:
        return KernelLabels(kernel_id="k-1", runtime=str(runtime_dir), ipc=str(ipc or ""))

    assert runtime.folders_are_ours(labels(ours_runtime, ours_ipc), state)
    assert runtime.folders_are_ours(labels(ours_runtime, None), state)
    assert not runtime.folders_are_ours(labels(elsewhere, ours_ipc), state)
    assert not runtime.folders_are_ours(labels(ours_runtime, elsewhere), state)
    assert runtime.connection_key(ours_runtime) == "abc"
    (elsewhere / "connection.json").symlink_to(ours_runtime / "connection.json")
    assert runtime.connection_key(elsewhere) is None  # never read through a link
    runtime.drop_labelled_folders(labels(elsewhere, elsewhere), state)
    assert elsewhere.is_dir()
    runtime.drop_labelled_folders(labels(ours_runtime, ours_ipc), state)
    assert not ours_runtime.exists() and not ours_ipc.exists()


def test_kernelspecs_written_and_pruned(tmp_path) -> None:
    store = KernelspecStore(tmp_path)
    name = store.write(
        environment="abc123",
        image="stardock/env:abc123",
        dataset_id="M51_deep",
        dataset_title="Messier 51",
        app_titles=["Astropy", "SExtractor"],
        recipe={"apps": ["astropy", "sextractor"]},
    )
    assert name == kernelspec_name("abc123", "M51_deep") == "stardock-abc123-m51_deep"
    spec = json.loads((tmp_path / name / "kernel.json").read_text())
    assert spec["display_name"] == "StarDock · Astropy, SExtractor · Messier 51"
    assert spec["interrupt_mode"] == "message"
    assert spec["metadata"]["kernel_provisioner"] == {
        "provisioner_name": "stardock-provisioner",
        "config": {"image": "stardock/env:abc123", "environment": "abc123", "dataset": "M51_deep"},
    }
    assert store.prune({"abc123"}) == []
    assert store.prune(set()) == [name]
    assert store.names() == []


def test_checksum_listing_samples_big_datasets(tmp_path) -> None:
    for i in range(5):
        (tmp_path / f"f{i}.fits").write_bytes(bytes([i]) * 1000)
    full = checksum_listing(tmp_path)
    assert full["complete"] and all("sha256" in f for f in full["files"])
    sample = checksum_listing(tmp_path, max_files=2)
    assert not sample["complete"]
    assert len(sample["files"]) == 5 and sum("sha256" in f for f in sample["files"]) == 2


def test_archive_holds_manifest_and_outputs(tmp_path) -> None:
    outputs = tmp_path / "out"
    (outputs / "sub").mkdir(parents=True)
    (outputs / "sub" / "result.fits").write_bytes(b"x" * 2880)
    store = ArchiveStore(tmp_path / "archives")
    archive = store.create("k-1", outputs, {"kernel_id": "k-1", "stopped": 2.0})
    with tarfile.open(archive.path) as tar:
        assert sorted(tar.getnames()) == ["manifest.json", "outputs/sub/result.fits"]
        assert json.load(tar.extractfile("manifest.json"))["kernel_id"] == "k-1"  # type: ignore[arg-type]
    assert [a.kernel_id for a in store.list()] == ["k-1"]
