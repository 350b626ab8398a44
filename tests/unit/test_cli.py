"""The `jupyter stardock` server commands: planning, output, and one-line errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from jupyter_stardock.cli.doctor import doctor_summary
from jupyter_stardock.cli.operator import DEMO_NEXT_STEP, require_jupyterlab
from jupyter_stardock.cli.prune import last_used, plan_prune
from jupyter_stardock.cli.user import _TerminalProgress
from jupyter_stardock.client.events import BuildProgress

from ..conftest import run_cli

DAY = 86400.0
NOW = 100 * DAY


def env(env_id: str, size: int, created: float) -> dict[str, object]:
    return {"id": env_id, "size": size, "created": created, "apps": []}


def test_last_use_comes_from_builds_archives_and_running_kernels() -> None:
    environments = [env("a", 0, 10 * DAY), env("b", 0, 10 * DAY), env("c", 0, 10 * DAY)]
    used = last_used(
        environments,
        kernels=[{"environment": "c"}],
        archives=[{"manifest": {"environment": "a", "stopped": 50 * DAY}}],
        builds=[{"environment_id": "b", "finished": 40 * DAY, "created": 39 * DAY}],
        now=NOW,
    )
    assert used == {"a": 50 * DAY, "b": 40 * DAY, "c": NOW}


def test_prune_by_age_never_takes_an_environment_in_use() -> None:
    environments = [env("old", 10, 0), env("busy", 10, 0), env("new", 10, 99 * DAY)]
    used = {"old": 1 * DAY, "busy": 1 * DAY, "new": 99 * DAY}
    chosen = plan_prune(environments, used, {"busy"}, days=30, max_bytes=None, now=NOW)
    assert [e["id"] for e in chosen] == ["old"]


def test_prune_to_a_disk_budget_counts_the_base_once_and_goes_oldest_first() -> None:
    base = 300
    environments = [env("a", 400, 0), env("b", 500, 0), env("c", 350, 0), env("busy", 900, 0)]
    used = {"a": 3 * DAY, "b": 1 * DAY, "c": 2 * DAY, "busy": 0.0}
    # Together: 300 + 100 + 200 + 50 + 600 = 1250 bytes.
    chosen = plan_prune(environments, used, {"busy"}, days=None, max_bytes=1050, base_size=base)
    assert [e["id"] for e in chosen] == ["b"]  # b (least recently used) frees 200
    chosen = plan_prune(environments, used, {"busy"}, days=None, max_bytes=0, base_size=base)
    assert [e["id"] for e in chosen] == ["b", "c", "a"]  # everything but the one in use
    assert plan_prune(environments, used, set(), days=None, max_bytes=5000, base_size=base) == []


def test_terminal_progress_prints_each_line_once() -> None:
    out = io.StringIO()
    view = _TerminalProgress(out)
    progress = BuildProgress("b", "e")
    progress.add("one")
    view(progress)
    progress.add("Step 1/2 : FROM x")
    progress.add("three")
    view(progress)
    view(progress)
    view.close()
    assert out.getvalue() == "  one\n  Step 1/2 : FROM x\n  three\n"


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_no_server_is_one_line_naming_what_was_tried(tmp_path: Path) -> None:
    result = run_cli(
        "envs",
        env={
            "JUPYTER_RUNTIME_DIR": str(tmp_path),
            "JUPYTER_SERVER_URL": "",
            "JUPYTERHUB_API_TOKEN": "",
        },
        timeout=60,
    )
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert line.startswith("jupyter stardock envs: error: Found no running Jupyter server")
    assert str(tmp_path) in line and "--url URL --token TOKEN" in line


def test_an_unreachable_server_is_one_line_naming_it() -> None:
    result = run_cli("envs", "--url", "http://127.0.0.1:9/", "--token", "x", timeout=60)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert "Could not reach the Jupyter server at http://127.0.0.1:9/" in line


def test_bad_commands_and_options_are_one_line() -> None:
    result = run_cli("frobnicate", timeout=60)
    assert result.returncode == 2
    assert "unknown subcommand 'frobnicate'" in one_line(result.stderr)
    assert "prune" in result.stderr and "doctor" in result.stderr
    result = run_cli("build", "--colour", "blue", timeout=60)
    assert result.returncode == 2
    assert "unknown option --colour" in one_line(result.stderr)
    result = run_cli("prune", "--url", "http://127.0.0.1:9/", timeout=60)
    assert result.returncode == 2
    assert "--days N" in one_line(result.stderr)
    result = run_cli("rm", timeout=60)
    assert result.returncode == 2
    assert "name the environment" in one_line(result.stderr)


def test_doctor_says_all_good_only_when_every_check_passed() -> None:
    assert doctor_summary(0, 0) == "All good."
    assert doctor_summary(0, 2) == "Nothing must be fixed; 2 warnings above."
    assert doctor_summary(1, 3) == "1 problem to fix."


def test_demo_says_what_to_install_when_jupyterlab_is_missing(monkeypatch) -> None:
    import importlib.util
    import sys

    from jupyter_stardock.errors import StarDockError

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "jupyterlab" else real(name, *a),
    )
    with pytest.raises(StarDockError) as info:
        require_jupyterlab()
    assert f"{sys.executable} -m pip install jupyterlab" in str(info.value)


def test_demo_runs_this_pythons_jupyterlab() -> None:
    require_jupyterlab()  # installed here: the package depends on it
    assert "StarDock tab in the left sidebar" in DEMO_NEXT_STEP


def test_build_can_lift_the_pip_constraints() -> None:
    from jupyter_stardock.cli.user import BuildCommand

    command = BuildCommand()
    command.parse_command_line(["--app", "astropy", "--no-pip-constraints"])
    assert command.apps == ["astropy"] and command.pip_constraints is False
    assert BuildCommand().pip_constraints is True


def test_help_lists_each_commands_options_and_the_server_settings_in_help_all() -> None:
    # The server's settings are imported lazily; the help still names them as before.
    result = run_cli("demo", "--help", timeout=60)
    assert result.returncode == 0 and "--workdir=<Unicode>" in result.stdout
    assert "StarDockApp.extra_ca_certs" in result.stdout
    result = run_cli("envs", "--help-all", timeout=60)
    assert result.returncode == 0 and "--ServerCommand.url=<Unicode>" in result.stdout
    assert "--StarDockApp.docker_host=<Unicode>" in result.stdout
    result = run_cli("envs", "--help", timeout=60)
    assert result.returncode == 0 and "StarDockApp" not in result.stdout
