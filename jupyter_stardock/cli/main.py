"""``jupyter stardock``: the command line, a thin front over the client and the core.

The entry point (``[project.scripts]`` and ``python -m jupyter_stardock``) and
its list of subcommands. User commands (user.py) talk to a running server over
REST; operator commands (operator.py, doctor.py, and ``service`` in hub/) drive
the engine and load what they need only when they run. Subcommands read the
same configuration as the server (``jupyter_server_config`` files, section
``StarDockApp``), so an operator sets things once.
"""

from __future__ import annotations

import sys

from jupyter_core.application import JupyterApp

from .._version import __version__
from .common import reject_unknown_options
from .diff import DiffCommand  # issue 17
from .doctor import DoctorCommand
from .operator import BaseCommand, DemoCommand
from .pause import PAUSE_COMMANDS  # issue 17
from .rebuild import RebuildCommand  # issue 17
from .shell import ShellCommand  # issue 15
from .stage import StageCommand  # issue 19
from .user import BuildCommand, EnvsCommand, LogsCommand, PruneCommand, RmCommand

__all__ = ["StarDockCommand", "main"]


class StarDockCommand(JupyterApp):
    name = "jupyter-stardock"
    version = __version__
    description = """jupyter-stardock: build a scientist's environment into a container and
    run Jupyter kernels in it beside the data."""
    subcommands = {
        "base": (BaseCommand, BaseCommand.description.splitlines()[0]),
        "demo": (DemoCommand, DemoCommand.description.splitlines()[0]),
        "service": (
            "jupyter_stardock.hub.app.StarDockServiceApp",
            "Run StarDock as a JupyterHub service: the one process that holds the engine.",
        ),
        **{
            command.name: (command, command.description.splitlines()[0])
            for command in (
                BuildCommand,
                EnvsCommand,
                LogsCommand,
                RmCommand,
                PruneCommand,
                DoctorCommand,
                StageCommand,  # issue 19
                RebuildCommand,  # issue 17
                DiffCommand,  # issue 17
                ShellCommand,  # issue 15: a shell in a kernel's container
            )
        },
        # issue 17: pause, resume, suspend, restore
        **{c.name: (c, c.description.splitlines()[0]) for c in PAUSE_COMMANDS},
    }

    def parse_command_line(self, argv: list[str] | None = None) -> None:
        reject_unknown_options(self, argv)
        super().parse_command_line(argv)

    def start(self) -> None:
        if self.subapp is None:
            choices = ", ".join(sorted(self.subcommands))
            if self.extra_args:
                print(
                    f"jupyter stardock: error: unknown subcommand {self.extra_args[0]!r}; "
                    f"choose one of: {choices}.",
                    file=sys.stderr,
                )
                self.exit(2)
            self.print_help()
            print(f"\nSubcommands: {choices}")
            self.exit(0)
        super().start()


def main(argv: list[str] | None = None) -> None:
    StarDockCommand.launch_instance(argv)
