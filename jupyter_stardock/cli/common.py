"""What every ``jupyter stardock`` subcommand shares: options, config, one-line errors.

Light on purpose: the user commands start from here, so nothing here imports the
server, the services or the engine (tests/unit/test_cli_start.py keeps it so).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from jupyter_core.application import JupyterApp
from traitlets import Unicode

from .._version import __version__
from ..errors import StarDockError

if TYPE_CHECKING:
    from ..server.app import StarDockApp

__all__ = ["StarDockSubcommand", "reject_unknown_options", "server_settings", "shared_aliases"]

shared_aliases = {
    "docker-host": "StarDockApp.docker_host",
    # jupyter_core's own: a configuration file beside (after) the usual ones.
    "config": "JupyterApp.config_file",
    "log-level": "Application.log_level",
}


_COMMON_OPTIONS = {
    "help",
    "help-all",
    "version",
    "debug",
    "show-config",
    "show-config-json",
    "generate-config",
    "y",
    "log-level",
    "config",
}


def reject_unknown_options(app: JupyterApp, argv: list[str] | None) -> None:
    """Stop on an option the command does not know.

    traitlets reads any unknown ``--option`` as a possible ``--Class.trait`` and
    answers with a puzzling argparse message; name the option and where to look.
    """
    args = list(argv if argv is not None else sys.argv[1:])
    if args and args[0] in getattr(app, "subcommands", {}):
        return  # the subcommand checks its own
    known = {*app.aliases, *app.flags, *_COMMON_OPTIONS}
    for arg in args:
        if arg == "--":
            break
        if arg.startswith("-") and len(arg) > 1:
            option = arg.lstrip("-").split("=", 1)[0]
            if option not in known and "." not in option:
                where = (
                    f"jupyter stardock {app.name}"
                    if app.name != "jupyter-stardock"
                    else "jupyter stardock"
                )
                print(
                    f"{where}: error: unknown option {arg.split('=', 1)[0]}; see `{where} --help`.",
                    file=sys.stderr,
                )
                app.exit(2)


def server_settings() -> type[StarDockApp]:
    """The server's settings class, imported by the commands that need it, when they run.

    ``import jupyter_stardock.server.app`` loads jupyter_server and tornado: 1.5 s
    here, three times all of ``jupyter kernelspec list``. A user command talks to a
    running server over REST and never pays it (benchmarks/cli_start.py).
    """
    from ..server.app import StarDockApp

    return StarDockApp


class StarDockSubcommand(JupyterApp):
    """Shared plumbing: config loading, the settings object, one-line errors."""

    version = __version__
    # Read the server's configuration files, so `c.StarDockApp.*` applies here too.
    config_file_name = Unicode("jupyter_server_config")
    aliases = dict(shared_aliases)
    flags: dict[str, Any] = {}
    #: The operator commands read the server's settings; a user command only shows them in
    #: --help-all (and writes them with --generate-config), as it always has.
    uses_server_settings = True

    def parse_command_line(self, argv: list[str] | None = None) -> None:
        reject_unknown_options(self, argv)
        args = list(argv if argv is not None else sys.argv[1:])
        if self.uses_server_settings or {"--help-all", "--generate-config"} & set(args):
            # After this command's own class, as a class attribute would have put it;
            # the aliases' help needs it too.
            self.classes = [*self.classes, server_settings()]
        super().parse_command_line(argv)

    def settings(self) -> StarDockApp:
        return server_settings()(config=self.config)

    def fail(self, message: str, status: int = 1) -> None:
        print(f"jupyter stardock {self.name}: error: {message}", file=sys.stderr)
        self.exit(status)

    def start(self) -> None:
        try:
            self.run()
        except StarDockError as err:
            self.fail(str(err))
        except KeyboardInterrupt:
            self.fail("interrupted; nothing was tagged.", status=130)

    def run(self) -> None:
        raise NotImplementedError
