"""The README's commands stay true: CI runs the same test command the README gives."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bash_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_readme_gives_two_fresh_machine_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## On a fresh machine", 1)[1].split("\n## ", 1)[0]
    blocks = _bash_blocks(section)
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
