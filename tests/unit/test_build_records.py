"""Build history survives restarts; a build running at a crash is marked interrupted."""

from __future__ import annotations

import json

from jupyter_stardock.builds import INTERRUPTED, BuildManager, BuildRecord, BuildState
from jupyter_stardock.catalog import Catalog


class NoEngine:
    """Loading records must not touch the engine at all."""

    def __getattr__(self, name: str) -> None:
        raise AssertionError(f"engine.{name} used while loading records")


def test_running_build_becomes_interrupted_after_restart(tmp_path) -> None:
    records = [
        BuildRecord(
            id="a1",
            owner="ana",
            recipe={},
            content_hash="0" * 64,
            tag="t:0",
            state=BuildState.RUNNING,
        ),
        BuildRecord(
            id="b2",
            owner="ana",
            recipe={},
            content_hash="1" * 64,
            tag="t:1",
            state=BuildState.QUEUED,
        ),
        BuildRecord(
            id="c3",
            owner="ana",
            recipe={},
            content_hash="2" * 64,
            tag="t:2",
            state=BuildState.SUCCEEDED,
        ),
    ]
    for record in records:
        (tmp_path / f"{record.id}.json").write_text(json.dumps(record.to_json()))
    (tmp_path / "broken.json").write_text("{half a rec")
    manager = BuildManager(
        NoEngine(), catalog=lambda: Catalog({}), base_ref="b", state_dir=tmp_path
    )  # type: ignore[arg-type]
    states = {r.id: (r.state, r.error) for r in manager.records()}
    assert states["a1"] == (BuildState.FAILED, INTERRUPTED)
    assert states["b2"] == (BuildState.FAILED, INTERRUPTED)
    assert states["c3"] == (BuildState.SUCCEEDED, None)
    assert "interrupted by a server restart" in INTERRUPTED
    # Written back, so the next start does not need to decide again.
    assert json.loads((tmp_path / "a1.json").read_text())["state"] == "failed"


def test_progress_from_steps() -> None:
    record = BuildRecord(id="x", owner="o", recipe={}, content_hash="0" * 64, tag="t")
    assert record.progress == 0.0
    record.step, record.steps = 3, 9
    assert record.progress == round(2 / 9, 4)
    record.state = BuildState.SUCCEEDED
    assert record.progress == 1.0
