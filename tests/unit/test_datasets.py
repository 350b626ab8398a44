"""The dataset registry: configuration errors reported, access rules, safe size scans."""

from __future__ import annotations

import asyncio
import os

import pytest

from jupyter_stardock.core.datasets import DatasetRegistry, scan
from jupyter_stardock.errors import Forbidden, NotFound


def test_scan_counts_files_and_never_leaves_the_root(tmp_path) -> None:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "a.fits").write_bytes(b"a" * 100)
    (root / "sub" / "b.fits").write_bytes(b"b" * 50)
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "big.bin").write_bytes(b"s" * 10_000)
    os.symlink(outside / "big.bin", root / "escape.bin")  # a file outside: not counted
    os.symlink(outside, root / "escape-dir")  # a folder outside: not entered
    os.symlink(root / "a.fits", root / "alias.fits")  # inside: counted
    os.symlink(root, root / "sub" / "loop")  # a loop: not entered
    size = scan(root)
    assert size.exists and size.files == 3 and size.bytes == 250


def test_missing_path_is_reported_not_fatal(tmp_path) -> None:
    registry = DatasetRegistry({"gone": {"path": str(tmp_path / "nope")}})
    described = asyncio.run(registry.describe(registry.get("gone")))
    assert described["exists"] is False and "does not exist" in described["problem"]


def test_bad_entries_are_reported_and_skipped(tmp_path) -> None:
    registry = DatasetRegistry(
        {
            "ok": {"path": str(tmp_path)},
            "no-path": {"title": "x"},
            "bad id!": {"path": str(tmp_path)},
            "relative": {"path": "data/m51"},
            "typo": {"path": str(tmp_path), "allowed_user": ["ana"]},
        }
    )
    assert [d.id for d in registry] == ["ok"]
    assert len(registry.problems) == 4
    assert any("allowed_user" in p for p in registry.problems)


def test_access_by_user_and_group(tmp_path) -> None:
    registry = DatasetRegistry(
        {
            "open": {"path": str(tmp_path)},
            "team": {"path": str(tmp_path), "allowed_users": ["ana"], "allowed_groups": ["astro"]},
        }
    )
    assert [d.id for d in registry.visible_to("bob", [])] == ["open"]
    assert {d.id for d in registry.visible_to("bob", ["astro"])} == {"open", "team"}
    assert {d.id for d in registry.visible_to("ana", [])} == {"open", "team"}
    with pytest.raises(Forbidden, match="may not use"):
        registry.for_user("team", "bob", [])
    with pytest.raises(NotFound, match="no dataset 'x'"):
        registry.for_user("x", "bob", [])
