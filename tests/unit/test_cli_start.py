"""The user commands start fast because they import only the client (a structural check).

benchmarks/cli_start.py measures the time; this only proves what is loaded: parsing
a user command, and the top-level help, leave the server stack unimported.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Modules a user command must not load: the server stack, the engine's library, and
#: the package's own server side.
HEAVY = (
    "jupyter_server",
    "tornado",
    "docker",
    "jupyter_stardock.server",
    "jupyter_stardock.services",
    "jupyter_stardock.engine",
)

PROBE = """
import json, sys
from jupyter_stardock.cli.main import StarDockCommand
app = StarDockCommand()
try:
    app.initialize({argv!r})
except SystemExit:
    pass  # --help prints and exits
heavy = {heavy!r}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy or m.startswith(heavy))))
"""


def loaded_heavy_modules(argv: list[str]) -> list[str]:
    code = PROBE.format(argv=argv, heavy=HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return list(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "argv",
    [
        ["envs", "--help"],
        ["--help"],
        ["envs", "--url", "http://127.0.0.1:9/", "--json"],
        ["build", "--app", "astropy", "--dataset", "m51"],
    ],
)
def test_user_commands_leave_the_server_stack_unimported(argv: list[str]) -> None:
    assert loaded_heavy_modules(argv) == []


def test_an_operator_command_still_loads_the_server_settings_for_its_help() -> None:
    # The check above would pass vacuously if the probe could not see an import.
    assert "jupyter_stardock.server.app" in loaded_heavy_modules(["base", "--help"])
