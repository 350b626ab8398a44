"""A kernel start that is refused leaves nothing behind for /work (found in a real hub).

tests/hub/test_hub_reach.py saw each refused start (another user's folder, a link
in the home) leave an empty outputs folder in the service's store and a link to it
in the user's ~/stardock-outputs. The notebook's folder is now checked before the
outputs folder is made; and a start that fails after the folder was staged unmounts
it, since jupyter_client never calls cleanup for a kernel that did not start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpec
from traitlets.config import Config

from jupyter_stardock.config import settings_from_config
from jupyter_stardock.core.datasets import DatasetRegistry
from jupyter_stardock.errors import KernelStartError
from jupyter_stardock.kernels import provisioner as module
from jupyter_stardock.kernels.host import KernelHost
from jupyter_stardock.kernels.provisioner import KernelStartHTTPError, StarDockProvisioner
from jupyter_stardock.kernels.workdir import WorkFolder


class FakeEngine:
    async def image(self, ref: str) -> Any:
        return SimpleNamespace(id="sha256:" + "1" * 64, labels={}, tags=[ref])

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)


def provisioner_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StarDockProvisioner:
    config = Config({"StarDockApp": {"state_dir": str(tmp_path / "state")}})
    host = KernelHost(
        settings=settings_from_config(config),
        mode="service",
        engine=FakeEngine(),  # type: ignore[arg-type]
        datasets=lambda: DatasetRegistry({}),
    )
    provisioner = StarDockProvisioner(
        kernel_id="0" * 8 + "-0000-0000-0000-" + "0" * 12,
        image="stardock/env:0123456789abcdef",
        environment="0123456789abcdef",
        notebook_folder=True,
    )
    provisioner.kernel_spec = KernelSpec(argv=["python"], display_name="x", language="python")
    monkeypatch.setattr(provisioner, "_host", lambda: host)
    monkeypatch.setattr(module, "work_root", lambda owner, root: tmp_path)  # gil's home
    return provisioner


def start(provisioner: StarDockProvisioner, work: str) -> None:
    with pytest.raises(KernelStartHTTPError) as refused:
        asyncio.run(
            provisioner.pre_launch(
                stardock_owner="gil", stardock_groups=[], stardock_work=work, env={}
            )
        )
    assert "refused here" in str(refused.value)


def test_a_refused_folder_makes_no_outputs_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Any] = []

    def refuse(cwd: str, **_: Any) -> WorkFolder:
        raise KernelStartError(f"The notebook's folder {cwd} is refused here.")

    monkeypatch.setattr(module, "work_folder_for", refuse)
    monkeypatch.setattr(module, "make_outputs_dir", lambda *a, **k: made.append(a))
    monkeypatch.setattr(module, "link_outputs", lambda *a, **k: made.append(a))
    start(provisioner_on(tmp_path, monkeypatch), "/home/fay/project")
    assert made == []


def test_a_start_failing_after_the_folder_was_staged_unmounts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staged = WorkFolder(folder=tmp_path / "project", source=tmp_path / "point", staged=True)
    released: list[WorkFolder] = []

    def later_refusal(*_: Any) -> None:
        raise KernelStartError("The kernel's language is refused here.")

    monkeypatch.setattr(module, "work_folder_for", lambda cwd, **_: staged)
    monkeypatch.setattr(module, "release_work_folder", released.append)
    monkeypatch.setattr(module, "check_language", later_refusal)
    provisioner = provisioner_on(tmp_path, monkeypatch)
    start(provisioner, str(tmp_path / "project"))
    assert released == [staged]
    assert provisioner._work is None


def test_a_first_launch_that_fails_unmounts_it_but_a_restart_keeps_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staged = WorkFolder(folder=tmp_path / "project", source=tmp_path / "point", staged=True)
    released: list[WorkFolder] = []

    class FailingKernel:
        async def start(self, env: Any) -> Any:
            raise KernelStartError("The kernel's container could not start: refused here.")

    monkeypatch.setattr(module, "release_work_folder", released.append)
    provisioner = provisioner_on(tmp_path, monkeypatch)
    provisioner._kernel = FailingKernel()  # type: ignore[assignment]
    provisioner._work = staged
    provisioner.connection_info = {"key": b"k"}  # it ran before: a restart keeps /work
    with pytest.raises(KernelStartHTTPError):
        asyncio.run(provisioner.launch_kernel(["python"]))
    assert released == [] and provisioner._work is staged
    provisioner.connection_info = {}  # never started
    with pytest.raises(KernelStartHTTPError):
        asyncio.run(provisioner.launch_kernel(["python"]))
    assert released == [staged] and provisioner._work is None
