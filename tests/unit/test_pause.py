"""Pause, resume, suspend and restore without an engine (issue 17): the parts that decide."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from jupyter_stardock.client.pause import expand_id, sentence
from jupyter_stardock.core import safefs
from jupyter_stardock.core.users import Viewer
from jupyter_stardock.errors import NotFound, UnsafePath
from jupyter_stardock.kernels.pause import (
    KernelPauses,
    container_state,
    guard_culler,
    idle_since,
)
from jupyter_stardock.kernels.suspend import SuspendRecord, SuspendRecords, parse_manifest
from jupyter_stardock.kernels.suspend_code import dump_code, load_code

from .test_magics import error_line, shell  # noqa: F401  (the fixture)


def test_container_state_reads_the_engine() -> None:
    assert container_state({"State": {"Running": True, "Paused": True}}) == "paused"
    assert container_state({"State": {"Running": True, "Paused": False}}) == "running"
    assert container_state({"State": {"Running": False}}) == "stopped"
    assert container_state(None) == "stopped"


def test_a_unique_prefix_names_a_kernel() -> None:
    ids = ["19ed8d3a-0000", "19ff0000-1111", "aa000000-2222"]
    assert expand_id("19e", ids) == "19ed8d3a-0000"
    assert expand_id("19", ids) == "19"  # two match: the server will say there is no "19"
    assert expand_id("zz", ids) == "zz"


def test_sentences_name_what_was_skipped() -> None:
    text = sentence(
        "suspend",
        {
            "kernel_id": "19ed8d3a-0000",
            "saved": ["image", "catalog"],
            "skipped": {"notes": "an open TextIOWrapper ('/outputs/notes.txt')"},
            "outputs": "/home/ana/stardock-outputs/x",
        },
    )
    assert "saved catalog, image" in text and "%stardock restore 19ed8d3a" in text
    assert "notes: an open TextIOWrapper" in text
    assert "paused" in sentence("pause", {"id": "19ed8d3a-0000"})


def test_the_magics_need_a_kernel(shell: Any) -> None:  # noqa: F811
    for action in ("pause", "resume", "suspend", "restore"):
        assert "the following arguments are required: kernel" in error_line(
            shell, f"%stardock {action}"
        )


def test_a_manifest_is_checked() -> None:
    saved, skipped, modules = parse_manifest(
        json.dumps(
            {
                "saved": ["a", 3, "b"],
                "skipped": {"f": "an open file"},
                "modules": {"np": "numpy", "not an identifier": "os"},
            }
        ).encode()
    )
    assert saved == ["a", "b"] and skipped == {"f": "an open file"} and modules == {"np": "numpy"}
    with pytest.raises(UnsafePath):
        parse_manifest(b"[1, 2]")
    with pytest.raises(UnsafePath):
        parse_manifest(b"not json")


def test_the_kernel_code_compiles_and_names_its_folder() -> None:
    compile(dump_code("/outputs/.stardock-suspend"), "dump", "exec")
    code = load_code("/outputs/.stardock-restore", {"np": "numpy"})
    compile(code, "load", "exec")
    assert '"/outputs/.stardock-restore", {"np": "numpy"}' in code


def test_a_planted_link_is_never_read_or_written_through(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("root's secret")
    folder = tmp_path / "outputs"
    folder.mkdir()
    os.symlink(secret, folder / "manifest.json")
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(UnsafePath, match="symlink"):
            safefs.read_file(fd, "manifest.json", max_bytes=100)
        (folder / "real.json").write_text("{}")
        assert safefs.read_file(fd, "real.json", max_bytes=100) == b"{}"
        with pytest.raises(UnsafePath, match="more than"):
            safefs.read_file(fd, "real.json", max_bytes=1)
        with pytest.raises(UnsafePath, match="kernel's own"):
            safefs.read_file(fd, "real.json", max_bytes=100, owners={os.getuid() + 1})
        # A copy replaces a link at its name in the target, never writing through it.
        target = tmp_path / "restore"
        target.mkdir()
        os.symlink(secret, target / "real.json")
        dst = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
        try:
            assert safefs.copy_file(fd, "real.json", dst) == 2
        finally:
            os.close(dst)
        assert not (target / "real.json").is_symlink() and secret.read_text() == "root's secret"
    finally:
        os.close(fd)


def test_suspend_records_are_each_owners(tmp_path: Path) -> None:
    records = SuspendRecords(tmp_path)
    for owner in ("ana", "ben"):
        records.save(SuspendRecord("k1", owner, "spec", "env", None, "/o", 1.0, ["a"]))
    assert [r.owner for r in records.list("ana")] == ["ana"]
    assert records.get(Viewer("ben", scoped=True), "k1").owner == "ben"
    with pytest.raises(NotFound, match="no suspended kernel 'k2'"):
        records.get(Viewer("ana", scoped=True), "k2")
    records.forget(records.get(Viewer("ana", scoped=True), "k1"))
    assert [r.owner for r in records.list()] == ["ben"]


def test_idle_is_counted_as_the_culler_counts() -> None:
    now = datetime.now(UTC)
    kernel = SimpleNamespace(last_activity=now - timedelta(seconds=30), execution_state="idle")
    assert idle_since(kernel, 0, now) == pytest.approx(30)
    assert idle_since(kernel, 1, now) is None  # a client is connected
    kernel.execution_state = "busy"
    assert idle_since(kernel, 0, now) is None


def test_the_culler_passes_over_paused_kernels() -> None:
    culled: list[str] = []

    class Managers:
        async def cull_kernel_if_idle(self, kernel_id: str) -> None:
            culled.append(kernel_id)

    class Pauses(KernelPauses):
        def __init__(self) -> None:
            pass

        async def is_paused(self, internal: str) -> bool:
            return internal == "paused"

    managers = Managers()
    guard_culler(managers, Pauses())

    async def cull() -> None:
        for kernel_id in ("paused", "idle"):
            await managers.cull_kernel_if_idle(kernel_id)

    asyncio.run(cull())
    assert culled == ["idle"]


def test_a_remote_server_asks_the_service_which_kernels_are_paused() -> None:
    from jupyter_stardock.errors import EngineUnavailable
    from jupyter_stardock.kernels.pause import RemotePauses

    class Service:
        answer: Any = {"kernels": [{"id": "a", "state": "paused"}, {"id": "b", "state": "running"}]}

        async def request(self, method: str, path: str) -> Any:
            assert (method, path) == ("GET", "kernels")
            if isinstance(self.answer, Exception):
                raise self.answer
            return self.answer

    service = Service()
    pauses = RemotePauses(service)  # type: ignore[arg-type]

    async def check(kernel_id: str) -> bool:
        return await pauses.is_paused(kernel_id)

    assert asyncio.run(check("a")) is True
    assert asyncio.run(check("b")) is False
    service.answer = EngineUnavailable("down")
    assert asyncio.run(check("a")) is False  # unsure: culled as any kernel


def test_kernels_are_found_by_their_owners_ids_only() -> None:
    from jupyter_stardock.server.pause_handlers import wire_pauses

    class Managers:
        def __init__(self) -> None:
            self.ids = {"mine", "internal-1"}

        def __contains__(self, kernel_id: str) -> bool:
            return kernel_id in self.ids

    class HubKernels:
        def owned_id(self, viewer: Viewer, kernel_id: str) -> str:
            if (viewer.name, kernel_id) != ("ana", "hers"):
                raise NotFound(f"There is no kernel {kernel_id!r}.")
            return "internal-1"

    def app(mode: str) -> Any:
        managers = Managers()
        managers.cull_kernel_if_idle = lambda kernel_id: None  # type: ignore[attr-defined]
        return SimpleNamespace(
            mode=mode,
            serverapp=SimpleNamespace(kernel_manager=managers),
            engine=None,
            state_dir="/nonexistent",
            hub_kernels=HubKernels(),
            forget_service_kernel=lambda internal: None,
            pause_idle_after=0,
        )

    local = app("local")
    wire_pauses(local)
    resolve = local.kernel_pauses._resolve
    assert resolve(Viewer("x"), "mine") == "mine"
    with pytest.raises(NotFound, match="There is no kernel 'theirs' on this server"):
        resolve(Viewer("x"), "theirs")

    service = app("service")
    wire_pauses(service)
    resolve = service.kernel_pauses._resolve
    assert resolve(Viewer("ana", scoped=True), "hers") == "internal-1"
    with pytest.raises(NotFound):
        resolve(Viewer("ben", scoped=True), "hers")  # another user's kernel: unknown
