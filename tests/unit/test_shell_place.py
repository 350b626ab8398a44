"""Which container a terminal or desktop goes into: only the caller's own running kernel."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from jupyter_stardock.core.users import Viewer
from jupyter_stardock.errors import Forbidden, NotFound, StarDockError
from jupyter_stardock.kernels.desktop import relay_command, start_command, start_problem
from jupyter_stardock.kernels.launch import KERNEL_PYTHON
from jupyter_stardock.kernels.shell import locate


class Engine:
    """Answers inspect for the containers it is given."""

    def __init__(self, containers: dict[str, dict[str, Any]]) -> None:
        self.containers = containers

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    def inspect_container_sync(self, container_id: str) -> dict[str, Any] | None:
        return self.containers.get(container_id)


def container(user: str = "1000:1000", running: bool = True) -> dict[str, Any]:
    return {
        "Id": "c" * 64,
        "State": {"Running": running},
        "Config": {"User": user, "WorkingDir": "/outputs", "Env": ["DISPLAY=:1", "HOME=/h"]},
    }


KERNELS = [
    {"id": "k-ana", "owner": "ana", "state": "running", "container": "ana1"},
    {"id": "k-bob", "owner": "bob", "state": "running", "container": "bob1"},
    {"id": "k-old", "owner": "ana", "state": "exited", "container": "old1"},
]
ENGINE = Engine({"ana1": container(), "bob1": container(), "old1": container(running=False)})


def find(viewer: Viewer, kernel_id: str, engine: Any = ENGINE) -> Any:
    return asyncio.run(locate(engine, KERNELS, viewer, kernel_id))


def test_the_owner_gets_the_kernels_container_user_and_folder() -> None:
    place = find(Viewer("ana", scoped=True), "k-ana")
    assert (place.user, place.workdir, place.container_id) == ("1000:1000", "/outputs", "c" * 64)
    assert place.environment["DISPLAY"] == ":1"


def test_another_users_kernel_is_not_found_even_for_an_admin() -> None:
    for viewer in (Viewer("ana", scoped=True), Viewer("ana", admin=True, scoped=True)):
        with pytest.raises(NotFound, match="no running StarDock kernel 'k-bob' of yours"):
            find(viewer, "k-bob")


def test_a_stopped_or_unknown_kernel_is_a_sentence_naming_the_running_ones() -> None:
    with pytest.raises(NotFound, match="Your running kernels: k-ana"):
        find(Viewer("ana", scoped=True), "k-old")
    with pytest.raises(NotFound, match="'nope'"):
        find(Viewer("ana", scoped=True), "nope")


def test_a_container_without_a_numeric_unprivileged_user_gets_no_shell() -> None:
    for user in ("", "root", "0:0", "stardock"):
        engine = Engine({"ana1": container(user=user)})
        with pytest.raises(NotFound):
            find(Viewer("ana", scoped=True), "k-ana", engine)


def test_the_desktop_listens_on_no_tcp_port_and_the_relay_is_the_kernels_python() -> None:
    script = start_command()[2]
    assert "-rfbport -1" in script and "-nolisten tcp" in script
    assert "-rfbunixpath" in script and "/tmp/.stardock-desktop/vnc" in script
    assert relay_command()[0] == KERNEL_PYTHON
    assert relay_command()[-1] == "/tmp/.stardock-desktop/vnc"


def test_start_problems_are_sentences() -> None:
    assert start_problem(0, b"") is None
    missing = start_problem(3, b"")
    assert isinstance(missing, NotFound) and "Desktop (noVNC)" in str(missing)
    assert isinstance(start_problem(5, b""), Forbidden)
    failed = start_problem(4, b"Fatal server error: no screens")
    assert isinstance(failed, StarDockError) and "no screens" in str(failed)
