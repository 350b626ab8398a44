"""Small helpers shared by the engine tests."""

from __future__ import annotations

from jupyter_stardock.engine import Engine


def run_in_image(
    engine: Engine, image: str, command: list[str], *, user: str = "", network: bool = True
) -> tuple[int, str]:
    """Run a command in a throwaway container (create + start: never an implicit pull)."""
    api = engine._client(quick=False)
    container = api.create_container(
        image, command=command, user=user, network_disabled=not network
    )
    try:
        api.start(container)
        status = api.wait(container, timeout=600)["StatusCode"]
        logs = api.logs(container).decode(errors="replace")
    finally:
        api.remove_container(container, force=True)
    return status, logs


def step_containers(lines: list[str]) -> set[str]:
    """The containers the classic builder ran a build's steps in ("---> Running in ...")."""
    return {ln.split("Running in ", 1)[1].strip() for ln in lines if "---> Running in " in ln}


def left_over(engine: Engine, containers: set[str]) -> set[str]:
    """Which of these containers still exist (other tests' containers never count)."""
    existing = {c["Id"] for c in engine.containers_sync()}
    return {cid for cid in containers if any(e.startswith(cid) for e in existing)}
