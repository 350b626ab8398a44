"""``jupyter stardock``: the command line, a thin front over the core.

Subcommands read the same configuration as the server (``jupyter_server_config``
files, section ``StarDockApp``), so an operator sets things once.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from jupyter_core.application import JupyterApp
from jupyter_core.paths import jupyter_data_dir
from traitlets import Bool, Unicode

from ._version import __version__
from .app import StarDockApp
from .base import BaseImageRequest, ensure_base_image
from .errors import BaseImageError, StarDockError
from .sample import make_sample_dataset

__all__ = ["main"]

_shared_aliases = {
    "docker-host": "StarDockApp.docker_host",
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


def _reject_unknown_options(app: JupyterApp, argv: list[str] | None) -> None:
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


class StarDockSubcommand(JupyterApp):
    """Shared plumbing: config loading, the settings object, one-line errors."""

    version = __version__
    # Read the server's configuration files, so `c.StarDockApp.*` applies here too.
    config_file_name = Unicode("jupyter_server_config")
    classes = [StarDockApp]
    aliases = dict(_shared_aliases)
    flags: dict[str, Any] = {}

    def parse_command_line(self, argv: list[str] | None = None) -> None:
        _reject_unknown_options(self, argv)
        super().parse_command_line(argv)

    def settings(self) -> StarDockApp:
        return StarDockApp(config=self.config)

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


class BaseCommand(StarDockSubcommand):
    name = "base"
    description = """Build the base image every StarDock environment starts FROM.

    From an upstream image when a registry is reachable (default debian:bookworm-slim),
    or with --bootstrap from a Debian mirror through debootstrap and `docker import`
    (air-gapped sites). Running it again with the same inputs builds nothing.
    """
    examples = """
    jupyter stardock base
    sudo jupyter stardock base --bootstrap --extra-ca /usr/local/share/ca-certificates/proxy.crt
    """

    bootstrap = Bool(
        False,
        config=True,
        help="Make the root filesystem with debootstrap instead of pulling an upstream image.",
    )
    rebuild = Bool(False, config=True, help="Build again even when an identical base image exists.")

    aliases = {
        **_shared_aliases,
        "extra-ca": "StarDockApp.extra_ca_certs",
        "mirror": "StarDockApp.bootstrap_mirror",
        "suite": "StarDockApp.bootstrap_suite",
        "upstream": "StarDockApp.base_upstream",
        "repository": "StarDockApp.base_repository",
    }
    flags = {
        "bootstrap": ({"BaseCommand": {"bootstrap": True}}, bootstrap.help),
        "rebuild": ({"BaseCommand": {"rebuild": True}}, rebuild.help),
    }

    def run(self) -> None:
        settings = self.settings()
        engine = settings.make_engine()
        try:
            engine.info_sync()  # fail fast, with the engine's sentence
            ensure_base_image(
                engine,
                BaseImageRequest(
                    repository=settings.base_repository,
                    upstream=settings.base_upstream,
                    bootstrap=self.bootstrap,
                    suite=settings.bootstrap_suite,
                    mirror=settings.bootstrap_mirror,
                    extra_ca=tuple(Path(p) for p in settings.extra_ca_certs),
                    rebuild=self.rebuild,
                ),
                log=lambda line: print(line, flush=True),
            )
        finally:
            engine.close()


class DemoCommand(StarDockSubcommand):
    name = "demo"
    description = """Start JupyterLab with StarDock ready on a small generated sample dataset.

    Makes the sample dataset (synthetic FITS images of M51), makes sure the base
    image exists (bootstrapping it from the host's Debian mirror when no registry
    answers), and starts `jupyter lab`. Options after `--` go to JupyterLab.
    """
    examples = """
    jupyter stardock demo
    jupyter stardock demo --workdir ~/stardock-demo -- --no-browser --port 8890
    """

    workdir = Unicode(
        "~/stardock-demo",
        config=True,
        help="Folder JupyterLab serves; kernels' outputs folders appear below it.",
    )
    aliases = {
        **_shared_aliases,
        "workdir": "DemoCommand.workdir",
        "extra-ca": "StarDockApp.extra_ca_certs",
    }

    def run(self) -> None:
        settings = self.settings()
        engine = settings.make_engine()
        try:
            engine.info_sync()
            dataset = make_sample_dataset(
                Path(jupyter_data_dir()) / "stardock" / "sample-data" / "m51"
            )
            print(f"Sample dataset: {dataset}")
            if engine.image_sync(settings.base_alias) is None:
                self._make_base(settings, engine)
        finally:
            engine.close()

        workdir = Path(self.workdir).expanduser()
        workdir.mkdir(parents=True, exist_ok=True)
        config_dir = Path(jupyter_data_dir()) / "stardock" / "demo"
        config_dir.mkdir(parents=True, exist_ok=True)
        config_file = config_dir / "jupyter_server_config.json"
        demo_config = {
            "StarDockApp": {
                "datasets": {
                    **settings.datasets,
                    "m51": {
                        "path": str(dataset),
                        "title": "Messier 51 (synthetic sample)",
                        "description": "Three bands and a flat field, generated by jupyter-stardock.",
                    },
                }
            }
        }
        config_file.write_text(json.dumps(demo_config, indent=2))
        argv = ["jupyter", "lab", f"--config={config_file}", f"--ServerApp.root_dir={workdir}"]
        if os.geteuid() == 0:
            # Containers and test machines run as root; the kernels still never do.
            argv.append("--allow-root")
        argv += self.extra_args
        print("Starting: " + " ".join(argv), flush=True)
        os.execvp(argv[0], argv)

    def _make_base(self, settings: StarDockApp, engine: Any) -> None:
        certs = settings.extra_ca_certs or sorted(
            glob.glob("/usr/local/share/ca-certificates/*.crt")
        )
        request = BaseImageRequest(
            repository=settings.base_repository,
            upstream=settings.base_upstream,
            extra_ca=tuple(Path(p) for p in certs),
            mirror=settings.bootstrap_mirror,
            suite=settings.bootstrap_suite,
        )
        try:
            ensure_base_image(engine, request, log=lambda line: print(line, flush=True))
        except BaseImageError as err:
            if os.geteuid() != 0:
                raise
            print(f"{err}\nNo registry: bootstrapping the base image from a Debian mirror instead.")
            ensure_base_image(
                engine, replace(request, bootstrap=True), log=lambda line: print(line, flush=True)
            )


class StarDockCommand(JupyterApp):
    name = "jupyter-stardock"
    version = __version__
    description = """jupyter-stardock: build a scientist's environment into a container and
    run Jupyter kernels in it beside the data."""
    subcommands = {
        "base": (BaseCommand, BaseCommand.description.splitlines()[0]),
        "demo": (DemoCommand, DemoCommand.description.splitlines()[0]),
    }

    def parse_command_line(self, argv: list[str] | None = None) -> None:
        _reject_unknown_options(self, argv)
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
