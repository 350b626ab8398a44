"""The real engine's refusals keep their status: 404 and 409 decide, never the message's words."""

from __future__ import annotations

import uuid

import pytest

from jupyter_stardock.engine import ContainerSpec, Engine
from jupyter_stardock.errors import EngineError, NotFound


def test_name_conflict_not_running_and_gone_are_told_by_their_status(engine, base_image) -> None:
    assert isinstance(engine, Engine)
    name = f"stardock-test-errors-{uuid.uuid4().hex[:12]}"
    spec = ContainerSpec(image=base_image, command=["sleep", "300"], name=name)
    container_id = engine.run_container_sync(spec)
    try:
        with pytest.raises(EngineError) as taken:
            engine.run_container_sync(spec)
        assert taken.value.engine_status == 409  # what kernels/container.py retries on

        engine.kill_container_sync(container_id)
        state = (engine.inspect_container_sync(container_id) or {})["State"]
        assert state["Running"] is False
        with pytest.raises(EngineError) as stopped:
            engine._call(lambda: engine._client().kill(container_id))
        assert stopped.value.engine_status == 409
        engine.kill_container_sync(container_id)  # the same 409, taken as "already stopped"
    finally:
        engine.remove_container_sync(container_id)

    assert engine.inspect_container_sync(container_id) is None
    with pytest.raises(NotFound):
        engine._call(lambda: engine._client().remove_container(container_id, force=True))
    engine.remove_container_sync(container_id)  # the 404, taken as "already gone"
    engine.kill_container_sync(container_id)
    assert engine.image_sync(f"stardock-test/no-such-image:{uuid.uuid4().hex[:8]}") is None
