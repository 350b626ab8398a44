"""issue 16, part 6: the backend Protocol a second backend implements, and the engine's own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jupyter_stardock.engine import ContainerSpec, Engine
from jupyter_stardock.engine.backend import EngineBackend, KernelBackend, KernelState


def test_the_engine_backend_is_a_kernel_backend() -> None:
    backend: KernelBackend = EngineBackend(Engine())  # mypy checks the shape, isinstance the names
    assert isinstance(backend, KernelBackend)
    assert not isinstance(Engine(), KernelBackend)  # the raw Engine speaks docker's terms


def test_a_containers_state_in_the_backends_terms() -> None:
    assert KernelState.from_inspect(None) == KernelState(exists=False)
    running = KernelState.from_inspect(
        {
            "State": {"Running": True, "Paused": True, "ExitCode": 0},
            "NetworkSettings": {
                "Ports": {
                    "5555/tcp": [{"HostIp": "127.0.0.1", "HostPort": "49153"}],
                    "5556/tcp": None,
                }
            },
        }
    )
    assert running == KernelState(
        exists=True, running=True, paused=True, exit_code=None, ports={5555: ("127.0.0.1", 49153)}
    )
    dead = KernelState.from_inspect(
        {"State": {"Running": False, "ExitCode": 137, "OOMKilled": True}}
    )
    assert (dead.running, dead.exit_code, dead.oom_killed) == (False, 137, True)


def test_the_engine_backend_calls_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine()
    calls: list[tuple[str, Any]] = []
    for name in ("kill_container_sync", "pause_container_sync", "remove_container_sync"):
        monkeypatch.setattr(engine, name, lambda *a, _n=name: calls.append((_n, a)))
    monkeypatch.setattr(engine, "run_container_sync", lambda spec: f"id-of-{spec.name}")
    monkeypatch.setattr(
        engine,
        "containers_sync",
        lambda label: [{"Id": "c1", "Names": ["/k1"], "Labels": {label: "x"}, "State": "exited"}],
    )
    backend = EngineBackend(engine)

    async def go() -> None:
        assert await backend.start(ContainerSpec(image="i", command=[], name="k1")) == "id-of-k1"
        await backend.signal("c1", "SIGINT")
        await backend.pause("c1")
        await backend.remove("c1")
        [summary] = await backend.kernels("org.example.kernel")
        assert (summary.handle, summary.name, summary.running) == ("c1", "k1", False)

    try:
        asyncio.run(go())
    finally:
        engine.close()
    assert calls == [
        ("kill_container_sync", ("c1", "SIGINT")),
        ("pause_container_sync", ("c1",)),
        ("remove_container_sync", ("c1",)),
    ]
