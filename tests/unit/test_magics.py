"""The magics' own behaviour, without a server: parsing, help and one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from jupyter_stardock.client.discovery import ServerInfo
from jupyter_stardock.client.events import BuildProgress
from jupyter_stardock.magics import StarDockMagics
from jupyter_stardock.magics.output import RichProgress, show


@pytest.fixture
def shell() -> Iterator[Any]:
    ip = InteractiveShell.instance()
    magics = StarDockMagics(ip, server=ServerInfo("http://127.0.0.1:9/", "x", "a test"))
    ip.register_magics(magics)
    yield ip
    magics.stop_all()


def run(shell: Any, source: str) -> tuple[Any, Any]:
    with capture_output() as captured:
        result = shell.run_cell(source)
    return result, captured


def error_line(shell: Any, source: str) -> str:
    result, captured = run(shell, source)
    assert result.error_in_exec is not None, captured.stdout
    lines = [line for line in captured.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, captured.stdout
    assert "Traceback" not in captured.stdout
    assert lines[0].startswith("StarDock: ")
    return lines[0]


def test_unknown_command_lists_the_commands(shell: Any) -> None:
    line = error_line(shell, "%stardock frobnicate")
    assert "unknown command 'frobnicate'" in line and "build" in line and "start" in line


def test_bad_options_and_quotes(shell: Any) -> None:
    assert "unrecognized arguments: --colour" in error_line(shell, "%stardock build --colour red")
    assert "check the quotes" in error_line(shell, '%stardock build --run "echo hi')
    line = error_line(shell, "%%stardock abc123 --app astropy\nprint(1)")
    assert "an environment id or a recipe" in line


def test_unreachable_server_is_one_line(shell: Any) -> None:
    line = error_line(shell, "%stardock envs")
    assert "Could not reach the Jupyter server at http://127.0.0.1:9/" in line
    line = error_line(shell, "%stardock connect http://127.0.0.1:9/ --token t")
    assert "http://127.0.0.1:9/" in line and "the address given" in line


def test_help(shell: Any) -> None:
    result, captured = run(shell, "%stardock")
    assert result.error_in_exec is None
    assert "%%stardock ENV --dataset m51" in captured.stdout
    result, captured = run(shell, "%stardock build --help")
    assert result.error_in_exec is None and "--app" in captured.stdout


def test_stop_with_nothing_running(shell: Any) -> None:
    result, captured = run(shell, "%stardock stop")
    assert result.error_in_exec is None
    assert "No StarDock kernel" in captured.stdout


def test_remote_output_becomes_output_of_this_cell(shell: Any) -> None:
    with capture_output() as captured:
        show("stream", {"name": "stdout", "text": "hello\n"})
        show("stream", {"name": "stderr", "text": "careful\n"})
        show("display_data", {"data": {"image/png": "iVBOR"}, "metadata": {}})
        show(
            "update_display_data",
            {"data": {"text/plain": "2"}, "metadata": {}, "transient": {"display_id": "d"}},
        )
    assert captured.stdout == "hello\n" and captured.stderr == "careful\n"
    first, second = captured.outputs
    assert first.data == {"image/png": "iVBOR"}
    assert second.data == {"text/plain": "2"} and second.update is True


def test_rich_progress_updates_one_display(shell: Any) -> None:
    view = RichProgress(interval=0)
    progress = BuildProgress("b", "e" * 16)
    with capture_output() as captured:
        view(progress)
        progress.add("Step 2/4 : RUN <echo>")
        view(progress)
        progress.state = "succeeded"
        view.close(progress)
    first, *updates = captured.outputs
    assert not first.update and all(u.update for u in updates)
    ids = {o.transient["display_id"] for o in captured.outputs}
    assert len(ids) == 1
    html = updates[-1].data["text/html"]
    assert '<progress max="1" value="1.000"' in html and "&lt;echo&gt;" in html
    assert "100%" in updates[-1].data["text/plain"]
