"""The ``%stardock`` subcommands' argument parsers and the help text.

A usage mistake raises MagicUsageError (one line for the user), never SystemExit.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import MagicUsageError

__all__ = ["COMMANDS", "HELP", "parsers"]

COMMANDS: tuple[str, ...] = ("apps", "build", "connect", "datasets", "envs", "help", "kernels")
COMMANDS += ("start", "stop")
COMMANDS += ("stage",)  # issue 19
COMMANDS += ("pause", "resume", "suspend", "restore")  # issue 17
COMMANDS += ("terminal", "desktop")  # issue 15: terminal, desktop


class _HelpShown(Exception):
    """``--help`` was asked for and printed: nothing else to do."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise MagicUsageError(f"{message}; see `%stardock help`.")

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        if message:
            raise MagicUsageError(message.strip())
        raise _HelpShown


def recipe_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--app", action="append", default=[], help="a catalog app (repeatable)")
    add("--run", action="append", default=[], help="a shell command, as a RUN line (repeatable)")
    add("--pip", action="append", default=[], help="a pip package (repeatable)")
    add("--apt", action="append", default=[], help="a Debian package (repeatable)")
    add("--dataset", default=None, help="the dataset mounted read-only at /data")


def parsers() -> dict[str, argparse.ArgumentParser]:
    def parser(name: str, description: str) -> argparse.ArgumentParser:
        return _Parser(prog=f"%stardock {name}", description=description, add_help=True)

    build = parser("build", "Build an environment from catalog apps and your own commands.")
    recipe_options(build)
    start = parser("start", "Start a kernel in an environment, beside a dataset.")
    start.add_argument("env", nargs="?", help="an environment id (or give a recipe)")
    recipe_options(start)
    stop = parser("stop", "Stop the kernels this notebook started (all, or one environment's).")
    stop.add_argument("env", nargs="?")
    stop.add_argument("--dataset", default=None)
    connect = parser("connect", "Talk to this Jupyter server (default: the one found).")
    connect.add_argument("url", nargs="?")
    connect.add_argument("--token", default=None)
    cell = _Parser(prog="%%stardock", description="Run this cell in a StarDock kernel.")
    cell.add_argument("env", nargs="?", help="an environment id (or give a recipe)")
    recipe_options(cell)
    simple = {name: parser(name, "") for name in ("apps", "datasets", "envs", "help", "kernels")}
    # issue 19: stage archive files into a dataset
    simple["stage"] = stage = parser("stage", "Stage archive files (archive:id, URLs, @LIST).")
    stage.add_argument("files", nargs="*")
    stage.add_argument("--dataset", default=None)
    stage.add_argument("--cancel", default=None, help="cancel this staging request")
    # issue 17: pause, resume, suspend and restore a kernel by its id (or a unique prefix)
    for name, what in (
        ("pause", "Pause a kernel: memory kept, no CPU, what is sent to it waits."),
        ("resume", "Resume a paused kernel."),
        ("suspend", "Save a kernel's variables to its outputs folder and stop it."),
        ("restore", "Start a suspended kernel again with its variables."),
    ):
        simple[name] = parser(name, what)
        simple[name].add_argument("kernel", help="a kernel id (or its first characters)")
    # issue 15: a terminal / the desktop inside a kernel (default: this notebook's one).
    for name in ("terminal", "desktop"):
        simple[name] = parser(name, f"Open a {name} inside a running StarDock kernel.")
        simple[name].add_argument("kernel", nargs="?")
    return {**simple, "build": build, "start": start, "stop": stop, "connect": connect, "%%": cell}


HELP = """StarDock magics: your own environment, next to the data.
  %stardock apps | datasets | envs | kernels    list what there is
  %stardock build --app astropy --run "pip install photutils" [--dataset m51]
  %stardock start ENV --dataset m51              start a kernel (ENV: an id from envs)
  %stardock stop [ENV]                           stop the kernels this notebook started
  %stardock connect [URL] [--token TOKEN]        choose the Jupyter server
  %stardock stage tape:raw/a.fits ... --dataset obs   stage archive files into a dataset
  %stardock pause | resume | suspend | restore KERNEL   (KERNEL: an id from kernels)
  %stardock terminal | desktop [KERNEL]          a shell / the X desktop inside a kernel
  %%stardock ENV --dataset m51                   run the cell in that kernel
  %%stardock --app astropy --dataset m51         ...or in a recipe, built on first use
Options: --app, --run, --pip, --apt (repeatable), --dataset. `%stardock build --help` for more."""
