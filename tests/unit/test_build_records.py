"""Build history survives restarts; a build running at a crash is marked interrupted."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

from jupyter_stardock.core.buildlog import StepOutput, clean_line
from jupyter_stardock.core.catalog import Catalog
from jupyter_stardock.core.dockerfile import parse
from jupyter_stardock.core.recipe import BuildSpec, Recipe, compose
from jupyter_stardock.errors import Forbidden, NotFound
from jupyter_stardock.services.build_failures import describe_failure, step_parts
from jupyter_stardock.services.build_records import BuildRecord, BuildState
from jupyter_stardock.services.builds import INTERRUPTED, BuildManager

from .conftest import AppWriter


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


def _manager(state_dir: Path) -> BuildManager:
    return BuildManager(
        NoEngine(),  # type: ignore[arg-type]
        catalog=lambda: Catalog({}),
        base_ref="b",
        state_dir=state_dir,
    )


def test_records_and_logs_are_private_also_in_an_old_folder(tmp_path: Path) -> None:
    folder = tmp_path / "builds"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    old = BuildRecord(id="a1", owner="ana", recipe={}, content_hash="0" * 64, tag="t:0")
    (folder / "a1.json").write_text(json.dumps(old.to_json()))
    (folder / "a1.log").write_text("Step 1/2 : FROM b\n")
    for path in folder.iterdir():
        path.chmod(0o644)
    umask = os.umask(0)
    try:
        manager = _manager(folder)
        manager._save(
            BuildRecord(id="b2", owner="ana", recipe={}, content_hash="1" * 64, tag="t:1")
        )
    finally:
        os.umask(umask)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    assert modes == {"a1.json": 0o600, "a1.log": 0o600, "b2.json": 0o600}
    assert manager.log("a1").read(0).lines == ["Step 1/2 : FROM b"]
    # A new folder is made 0700 from the start, even under a loose umask.
    umask = os.umask(0)
    try:
        _manager(tmp_path / "state" / "new")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "state" / "new").stat().st_mode) == 0o700


def test_a_follower_cannot_cancel_the_owners_build(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    record = BuildRecord(
        id="c3",
        owner="ana",
        recipe={"dataset": "ana-only"},
        content_hash="2" * 64,
        tag="t:2",
        state=BuildState.RUNNING,
        followers=["bob"],
        follower_datasets={"bob": "open"},
    )
    manager._records[record.id] = record

    async def main() -> None:
        with pytest.raises(Forbidden, match="only whoever started it can cancel it"):
            await manager.cancel("c3", "bob")
        with pytest.raises(NotFound):
            await manager.cancel("c3", "eve")  # a stranger: no such build
        assert (await manager.cancel("c3", "ana")).id == "c3"
        assert (await manager.cancel("c3", None)).id == "c3"  # an admin

    asyncio.run(main())
    assert manager.get("c3", "bob") is record  # still followed: its log stays readable
    # A follower's dataset survives a restart.
    manager._save(record)
    again = _manager(tmp_path).get("c3")
    assert again.follower_datasets == {"bob": "open"}


@pytest.fixture
def spec(write_app: AppWriter) -> BuildSpec:
    write_app("swarp", order=31, apt=["swarp"], title="SWarp")
    folder = write_app("idl-build", order=70, apt=[], run=["echo build step", "true"]).parent
    catalog = Catalog.load([folder])
    recipe = Recipe(
        apps=("swarp", "idl-build"),
        commands=("echo one", "pip instal foo"),
        pip_packages=("six",),
        apt_packages=("wcstools",),
    )
    return compose(recipe, catalog, "sha256:" + "ab" * 32)


def test_each_dockerfile_step_is_named_by_its_part_of_the_recipe(spec: BuildSpec) -> None:
    parts = step_parts(spec)
    instructions = parse(spec.dockerfile).instructions
    assert len(parts) == len(instructions)
    items = [p.item for p in parts]
    # FROM, USER root, then the apps in catalog order, the packages, the commands, the finish.
    assert items[:2] == [None, None]
    assert items.count("app swarp") == 1 and items.count("app idl-build") == 2
    assert items.index("app swarp") < items.index("app idl-build")
    assert "Debian packages" in items and "pip packages" in items
    first, second = items.index("command 1"), items.index("command 2")
    assert second == first + 1
    assert instructions[second].args[-1] == "pip instal foo"
    assert parts[second].subject == "Custom command 2 (`pip instal foo`)"
    assert parts[items.index("app swarp")].subject == "Installing the app SWarp (swarp)"
    assert items[second + 1 :] == [None, None, None]
    assert parts[-1].subject.startswith(f"Step {len(parts)} (`WORKDIR")


def test_a_failed_command_is_named_and_its_own_output_quoted(spec: BuildSpec) -> None:
    step = step_parts(spec).index(next(p for p in step_parts(spec) if p.item == "command 2")) + 1
    engine = "The command '/bin/sh -c pip instal foo' returned a non-zero code: 1"
    output = StepOutput()
    for raw in [
        f"Step {step - 1}/20 : RUN echo one",
        " ---> Running in 1",
        "one",
        " ---> 7e5345b0fc60",
        f"Step {step}/20 : RUN pip instal foo",
        " ---> Running in df21dc82dce3",
        '\x1b[91mERROR: unknown command "instal" - maybe you meant "install"',
        "\x1b[0mRemoving intermediate container df21dc82dce3",
        f"ERROR: {engine}",
    ]:
        output.add(clean_line(raw))
    described = describe_failure(spec, output, engine)
    assert described is not None
    sentence, failure = described
    assert sentence.splitlines() == [
        "Custom command 2 (`pip instal foo`) failed with exit code 1. Its last output:",
        '    ERROR: unknown command "instal" - maybe you meant "install"',
        failure["hint"],
    ]
    assert failure["item"] == "command 2" and failure["exit_code"] == 1
    assert failure["step"] == step and failure["steps"] == 20
    assert failure["output"] == ['ERROR: unknown command "instal" - maybe you meant "install"']
    # Once a step made its layer, a later error is not that step's.
    output.add(" ---> 0123456789ab")
    assert (
        describe_failure(spec, output, "The engine finished the build without naming an image.")
        is None
    )
    assert describe_failure(spec, StepOutput(), engine) is None


def test_an_env_step_is_named_as_the_dockerfile_writes_it(spec: BuildSpec) -> None:
    # BuildKit's parser splits ENV into name and value; the step reads as the file does.
    env_lines = [line for line in spec.dockerfile.splitlines() if line.startswith("ENV ")]
    assert env_lines
    subjects = [p.subject for p in step_parts(spec)]
    assert any(f"(`{env_lines[0]}`)" in s for s in subjects), subjects
