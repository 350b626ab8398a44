"""A warm slot's folders and claim record (kernels/pool_claim.py), on the real file system."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from jupyter_stardock.core.outputs import outputs_folder_prefix
from jupyter_stardock.core.pool_budget import SLOT_BYTES, PoolLimits
from jupyter_stardock.errors import UnsafePath
from jupyter_stardock.kernels.pool_claim import (
    CLAIM_RECORD,
    SLOT_PREFIX,
    ClaimRecord,
    claimed_labels,
    make_slot_outputs,
    read_claim,
    remove_slot_outputs,
    rename_slot_outputs,
    write_claim,
)
from jupyter_stardock.kernels.runtime import runtime_root
from jupyter_stardock.labels import KernelLabels

STARTED = 1_800_000_000.0


def slot(tmp_path: Path) -> tuple[Path, int, Path]:
    root = tmp_path / "root"
    root.mkdir()
    path, inode = make_slot_outputs(root / "out", trusted=root, uid=os.getuid(), gid=os.getgid())
    return path, inode, root


def test_a_slot_folder_is_hidden_fresh_and_private(tmp_path: Path) -> None:
    path, inode, _ = slot(tmp_path)
    assert path.name.startswith(SLOT_PREFIX) and path.stat().st_ino == inode
    assert oct(path.stat().st_mode & 0o777) == "0o700"


def test_the_claim_renames_the_slot_folder_keeping_its_random_part(tmp_path: Path) -> None:
    path, inode, root = slot(tmp_path)
    (path / "kept").write_text("x")
    new = rename_slot_outputs(path, inode=inode, trusted=root, dataset="m51", started=STARTED)
    assert not path.exists() and (new / "kept").read_text() == "x"
    assert new.parent == path.parent
    assert new.name == outputs_folder_prefix("m51", STARTED) + path.name[len(SLOT_PREFIX) :]


def test_a_planted_link_at_the_new_name_is_never_replaced_nor_followed(tmp_path: Path) -> None:
    path, inode, root = slot(tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    target = path.parent / (outputs_folder_prefix("m51", STARTED) + path.name[len(SLOT_PREFIX) :])
    target.symlink_to(victim)
    with pytest.raises(UnsafePath):
        rename_slot_outputs(path, inode=inode, trusted=root, dataset="m51", started=STARTED)
    assert target.is_symlink() and path.is_dir() and list(victim.iterdir()) == []


def test_a_slot_folder_swapped_for_a_link_or_another_folder_is_refused(tmp_path: Path) -> None:
    path, inode, root = slot(tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    other = path.parent / "other"
    other.mkdir()  # made while the slot's folder exists: another inode
    path.rmdir()
    path.symlink_to(victim)
    with pytest.raises(UnsafePath):
        rename_slot_outputs(path, inode=inode, trusted=root, dataset=None, started=STARTED)
    path.unlink()
    other.rename(path)  # a new folder at the old name is not the pool's
    with pytest.raises(UnsafePath):
        rename_slot_outputs(path, inode=inode, trusted=root, dataset=None, started=STARTED)


def test_an_unclaimed_slot_folder_goes_only_when_empty_and_never_through_a_link(
    tmp_path: Path,
) -> None:
    path, _, _ = slot(tmp_path)
    images = tmp_path / "images"
    (path / "user file").write_text("x")
    remove_slot_outputs(path, uid=os.getuid(), images=images)
    assert path.is_dir()
    (path / "user file").unlink()
    remove_slot_outputs(path, uid=os.getuid(), images=images)
    assert not path.exists()
    victim = tmp_path / "victim"
    victim.mkdir()
    link = path.parent / f"{SLOT_PREFIX}planted"
    link.symlink_to(victim)
    remove_slot_outputs(link, uid=os.getuid(), images=images)
    assert victim.is_dir() and link.is_symlink()


def _claimed(tmp_path: Path, outputs: str) -> tuple[KernelLabels, Path]:
    state = tmp_path / "state"
    runtime = runtime_root(state) / "abc"
    runtime.mkdir(parents=True)
    slot_outputs = tmp_path / "root" / "out" / f"{SLOT_PREFIX}0123456789ab"
    labels = KernelLabels(
        kernel_id="pool-1",
        spec="stardock-base-m51",
        owner="ana",
        outputs=str(slot_outputs),
        runtime=str(runtime),
        started=1.0,
        pool="k",
    )
    write_claim(runtime, ClaimRecord("k-1", "k-1", outputs, STARTED, "stardock-x-m51", "X"))
    return labels, state


def test_a_claimed_slot_reads_as_its_kernel(tmp_path: Path) -> None:
    outputs = str(tmp_path / "root" / "out" / "2027-01-15T08-00-00_m51_0123456789ab")
    labels, state = _claimed(tmp_path, outputs)
    effective, claimed = claimed_labels(labels, ["/stardock-kernel-k-1"], state)
    assert claimed and effective is not None
    assert (effective.kernel_id, effective.client_id, effective.outputs) == ("k-1", "k-1", outputs)
    assert (effective.started, effective.spec, effective.owner) == (
        STARTED,
        "stardock-x-m51",
        "ana",
    )
    assert not effective.pool
    record = json.loads((Path(labels.runtime) / CLAIM_RECORD).read_text())
    assert record["kernel_id"] == "k-1"


def test_a_claim_record_naming_another_folder_is_not_believed(tmp_path: Path) -> None:
    labels, state = _claimed(tmp_path, "/etc")
    effective, _ = claimed_labels(labels, ["/stardock-kernel-k-1"], state)
    assert effective is not None and effective.outputs == labels.outputs


def test_an_unclaimed_slot_is_nobodys_kernel(tmp_path: Path) -> None:
    labels, state = _claimed(tmp_path, "x")
    # Not renamed for a kernel yet (the record alone is not enough), or no record at all.
    assert claimed_labels(labels, ["/stardock-kernel-pool-1"], state) == (None, False)
    (Path(labels.runtime) / CLAIM_RECORD).unlink()
    assert read_claim(Path(labels.runtime)) is None
    assert claimed_labels(labels, ["/stardock-kernel-k-1"], state) == (None, False)


def test_a_record_outside_the_servers_runtime_folders_is_never_read(tmp_path: Path) -> None:
    labels, _ = _claimed(tmp_path, "x")
    assert claimed_labels(labels, ["/stardock-kernel-k-1"], tmp_path / "other") == (None, False)


def test_the_memory_budget_caps_the_pool() -> None:
    assert PoolLimits(max_total=10, memory_bytes=3 * SLOT_BYTES).capacity == 3
    assert PoolLimits(max_total=2, memory_bytes=100 * SLOT_BYTES).capacity == 2
    assert PoolLimits(max_total=5, memory_bytes=0).capacity == 0
