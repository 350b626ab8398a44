"""The README's commands stay true: CI runs the same test command the README gives."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bash_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)]


def fresh_machine_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## On a fresh machine", 1)[1].split("\n## ", 1)[0]
    return _bash_blocks(section)


def main_command() -> str:
    """The README's main command (tests/engine/test_fresh_venv.py runs it as written)."""
    return fresh_machine_commands()[0]


def test_readme_gives_two_fresh_machine_commands() -> None:
    blocks = fresh_machine_commands()
    assert len(blocks) == 2, blocks
    assert all("\n" not in block for block in blocks), "each is one command"
    assert "jupyter stardock demo" in blocks[0]
    assert "pytest" in blocks[1]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## On a fresh machine", 1)[1].split("\n## ", 1)[0]
    test_command = _bash_blocks(section)[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()


def test_ci_prepare_script_named_in_the_main_command_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    for script in re.findall(r"bash (\.ci/[\w.-]+)", readme):
        assert (ROOT / script).is_file(), script


def test_main_command_needs_no_pip_into_debians_python() -> None:
    # Debian's python3 is externally managed: its pip refuses `pip install .`, so the
    # main command installs into a venv and runs the demo from there.
    steps = main_command().split(" && ")
    assert not any(s.startswith(("pip ", "pip3 ", "python3 -m pip ")) for s in steps), steps
    venv = next(s.split()[-1] for s in steps if s.startswith("python3 -m venv "))
    assert f"{venv}/bin/pip install ." in steps
    assert steps[-1] == f"{venv}/bin/jupyter stardock demo"


def test_jupyterlab_is_a_dependency_not_only_a_test_extra() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(re.match(r"jupyterlab\b", d) for d in project["dependencies"])


def test_test_command_needs_no_pip_into_debians_python() -> None:
    # The same for the test command: the test extras go into a venv of their own.
    steps = fresh_machine_commands()[1].split(" && ")
    assert not any(s.startswith(("pip ", "pip3 ", "python3 -m pip ", "python ")) for s in steps)
    venv = next(s.split()[-1] for s in steps if s.startswith("python3 -m venv "))
    assert f'{venv}/bin/pip install -e ".[test]"' in steps
    assert steps[-1] == f"{venv}/bin/python -m pytest"
