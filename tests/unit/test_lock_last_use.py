"""The last-use record: kept across readers, only ever moving forward, private, robust to damage."""

from __future__ import annotations

import stat
from pathlib import Path

from jupyter_stardock.services.last_use import LastUse


def test_uses_are_kept_and_only_move_forward(tmp_path: Path) -> None:
    used = LastUse(tmp_path / "state")
    assert used.read() == {}
    assert used.record("abc", 100.0) == 100.0
    assert used.record("abc", 50.0) == 100.0  # an older use does not turn the clock back
    used.record("def", 200.0)
    assert LastUse(tmp_path / "state").read() == {"abc": 100.0, "def": 200.0}
    assert stat.S_IMODE(used.path.stat().st_mode) == 0o600


def test_a_damaged_file_reads_as_no_uses_and_is_rewritten(tmp_path: Path) -> None:
    used = LastUse(tmp_path)
    used.path.write_text("{not json")
    assert used.read() == {}
    used.path.write_text('{"abc": "yesterday", "def": 5}')
    assert used.read() == {"def": 5.0}
    used.record("abc", 10.0)
    assert used.read() == {"abc": 10.0, "def": 5.0}
