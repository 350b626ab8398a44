"""The warm pool's record of recent kernelspecs (kernels/pool_recent.py), on the real file system."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from jupyter_stardock.kernels.pool_recent import RECENT_FILE, RecentUse, RecentUses


def test_recent_uses_survive_a_restart_and_old_ones_go(tmp_path: Path) -> None:
    now = time.time()
    uses = RecentUses(tmp_path, hours=24)
    uses.note(RecentUse("stardock-abc-m51", "", now - 60))
    uses.note(RecentUse("stardock-abc-m51", "ana", now - 30, ("astro",)))
    uses.note(RecentUse("stardock-old-m51", "", now - 25 * 3600))
    uses.note(RecentUse("stardock-new", "", now, built=True))
    assert uses.dirty
    uses.save()
    assert not uses.dirty
    assert oct((tmp_path / RECENT_FILE).stat().st_mode & 0o777) == "0o600"
    loaded = RecentUses(tmp_path, hours=24).load()
    assert loaded == [
        RecentUse("stardock-new", "", now, built=True),
        RecentUse("stardock-abc-m51", "ana", now - 30, ("astro",)),
        RecentUse("stardock-abc-m51", "", now - 60),
    ]


def test_a_later_use_of_the_same_kernelspec_replaces_the_earlier(tmp_path: Path) -> None:
    uses = RecentUses(tmp_path, hours=1)
    uses.note(RecentUse("stardock-abc", "", 10.0))
    uses.note(RecentUse("stardock-abc", "", time.time()))
    assert len(uses.recent()) == 1


def test_a_planted_link_or_foreign_entries_are_never_believed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.json"
    victim.write_text(json.dumps({"uses": [{"spec": "stardock-x", "used": time.time()}]}))
    state = tmp_path / "state"
    state.mkdir()
    (state / RECENT_FILE).symlink_to(victim)
    assert RecentUses(state, hours=24).load() == []
    (state / RECENT_FILE).unlink()
    entries = [
        {"spec": "../../etc", "used": time.time()},  # not a StarDock kernelspec's name
        {"spec": "stardock-x", "owner": "a/b", "used": time.time()},
        {"spec": "stardock-x", "used": "soon"},
        {"spec": "stardock-x", "used": time.time(), "groups": [1]},
        "nonsense",
        {"spec": "stardock-ok", "owner": "ana", "used": time.time(), "groups": ["astro"]},
    ]
    (state / RECENT_FILE).write_text(json.dumps({"uses": entries}))
    [use] = RecentUses(state, hours=24).load()
    assert (use.spec, use.owner, use.groups) == ("stardock-ok", "ana", ("astro",))
    (state / RECENT_FILE).write_text("not json")
    assert RecentUses(state, hours=24).load() == []


def test_no_record_is_a_first_start(tmp_path: Path) -> None:
    assert RecentUses(tmp_path / "missing", hours=24).load() == []
    assert RecentUses(tmp_path, hours=24).load() == []
    assert not os.listdir(tmp_path)
