"""IPython magics: StarDock from a notebook cell, a thin front over the client.

``%load_ext jupyter_stardock``, then::

    %stardock apps | datasets | envs | kernels
    %stardock build --app astropy --run "pip install photutils" --dataset m51
    %stardock start ENV --dataset m51        %stardock stop [ENV] [--dataset m51]
    %stardock connect [URL] [--token TOKEN]
    %%stardock ENV --dataset m51             (or a recipe: --app astropy --run "...")

A ``%%stardock`` cell runs in a container kernel beside the data; its output
(stdout, stderr, images, tables) comes back into this notebook. Cells with the
same environment and dataset share one kernel until ``%stardock stop``.
Errors print one line, never a traceback of the magic.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import shlex
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display

from ..client import pause as pause_client  # issue 17
from ..client import staging  # issue 19
from ..client.api import StarDockClient, recipe_from
from ..client.discovery import ServerInfo, discover_server
from ..client.events import BuildProgress
from ..client.kernel import RemoteKernel
from ..client.presentation import (
    apps_table,
    datasets_table,
    environment_ready,
    environments_table,
    kernel_started,
    kernels_table,
)
from ..client.shell import open_desktop, open_terminal  # issue 15
from ..errors import ClientError, MagicUsageError, StarDockError
from .output import RichProgress, TextProgress
from .output import show as show_output
from .parsers import COMMANDS, HELP, _HelpShown, parsers

__all__ = ["StarDockMagics", "load_ipython_extension", "unload_ipython_extension"]

CONNECT_HINT = "`%stardock connect URL --token TOKEN`"
Key = tuple[str, str | None]


# -- the magics ----------------------------------------------------------------


@magics_class
class StarDockMagics(Magics):
    """``%stardock`` and ``%%stardock``; holds this notebook's StarDock kernels."""

    def __init__(self, shell: Any = None, server: ServerInfo | None = None) -> None:
        super().__init__(shell)
        self._server = server
        self._client: StarDockClient | None = None
        self.kernels: dict[Key, RemoteKernel] = {}
        self._targets: dict[str, tuple[dict[str, Any], str]] = {}
        #: "rich" (a display updated in place), "text" (printed lines) or "auto".
        self.progress = "auto"
        self._parsers = parsers()

    @property
    def client(self) -> StarDockClient:
        if self._client is None:
            self._client = StarDockClient(
                self._server or discover_server(override_hint=CONNECT_HINT)
            )
        return self._client

    @line_cell_magic
    def stardock(self, line: str, cell: str | None = None) -> None:
        try:
            if cell is not None:
                self._cell(line, cell)
            else:
                self._line(line)
        except _HelpShown:
            pass
        except StarDockError as err:
            raise MagicUsageError(str(err)) from None

    # -- line magic -------------------------------------------------------

    def _line(self, line: str) -> None:
        words = self._split(line)
        if not words:
            print(HELP)
            return
        command, rest = words[0], words[1:]
        if command not in COMMANDS:
            raise MagicUsageError(
                f"unknown command {command!r}; the commands are {', '.join(COMMANDS)}."
            )
        args = self._parsers[command].parse_args(rest)
        getattr(self, f"_do_{command}")(args)

    @staticmethod
    def _split(line: str) -> list[str]:
        try:
            return shlex.split(line)
        except ValueError as err:
            raise MagicUsageError(f"cannot read the options ({err}); check the quotes.") from None

    def _do_help(self, args: argparse.Namespace) -> None:
        print(HELP)

    def _do_apps(self, args: argparse.Namespace) -> None:
        print(apps_table(self.client.apps()))

    def _do_datasets(self, args: argparse.Namespace) -> None:
        print(datasets_table(self.client.datasets()))

    def _do_stage(self, args: argparse.Namespace) -> None:  # issue 19
        show = staging.when_changed(lambda v: print(staging.staging_bar(v), flush=True))
        view = staging.stage_and_follow(self.client, args, show)
        print(staging.outcome(view))

    def _do_envs(self, args: argparse.Namespace) -> None:
        print(environments_table(self.client.environments(), self.client.stardock_kernels()))

    def _do_kernels(self, args: argparse.Namespace) -> None:
        ours = {k.kernel_id for k in self.kernels.values()}
        print(kernels_table(self.client.stardock_kernels(), ours))

    # issue 17: each delegates to client/pause.py
    def _do_pause(self, args: argparse.Namespace) -> None:
        print(pause_client.run(self.client, "pause", args.kernel)[1])

    def _do_resume(self, args: argparse.Namespace) -> None:
        print(pause_client.run(self.client, "resume", args.kernel)[1])

    def _do_suspend(self, args: argparse.Namespace) -> None:
        print(pause_client.run(self.client, "suspend", args.kernel)[1])

    def _do_restore(self, args: argparse.Namespace) -> None:
        print(pause_client.run(self.client, "restore", args.kernel)[1])

    def _do_connect(self, args: argparse.Namespace) -> None:
        server = discover_server(args.url, args.token, override_hint=CONNECT_HINT)
        self._server, self._client, self._targets = server, StarDockClient(server), {}
        status = self.client.status()
        engine = status.get("engine") or {}
        print(
            f"Connected to {server.url} (found via {server.source}): StarDock "
            f"{status.get('version', '?')}, Docker Engine {engine.get('version', '?')}."
        )

    # issue 15: a terminal and the desktop inside a kernel's container.
    def _do_terminal(self, args: argparse.Namespace) -> None:
        ours = [k.kernel_id for k in self.kernels.values()]
        display(open_terminal(self.client, args.kernel, ours), raw=True)

    def _do_desktop(self, args: argparse.Namespace) -> None:
        ours = [k.kernel_id for k in self.kernels.values()]
        display(open_desktop(self.client, args.kernel, ours), raw=True)

    def _do_build(self, args: argparse.Namespace) -> None:
        recipe = self._recipe(args)
        environment = self._build(recipe)
        print(environment_ready(environment, args.dataset))

    def _do_start(self, args: argparse.Namespace) -> None:
        key, kernelspec, environment = self._target(args)
        if key in self.kernels and self.kernels[key].alive():
            print(f"A StarDock kernel for {self._describe(key)} is running already.")
            return
        kernel = self._start(key, kernelspec)
        outputs = next(
            (
                k.get("outputs")
                for k in self.client.stardock_kernels()
                if k["id"] == kernel.kernel_id
            ),
            None,
        )
        print(kernel_started(kernel.kernel_id, environment, key[1], kernelspec, outputs))

    def _do_stop(self, args: argparse.Namespace) -> None:
        chosen = [
            key
            for key in self.kernels
            if (args.env is None or key[0].startswith(args.env))
            and (args.dataset is None or key[1] == args.dataset)
        ]
        if not chosen:
            print("No StarDock kernel started from this notebook is running.")
            return
        for key in chosen:
            kernel = self.kernels.pop(key)
            kernel.shutdown()
            print(f"Stopped StarDock kernel {kernel.kernel_id} ({self._describe(key)}).")

    # -- cell magic -------------------------------------------------------

    def _cell(self, line: str, cell: str) -> None:
        args = self._parsers["%%"].parse_args(self._split(line))
        key, kernelspec, _environment = self._target(args)
        kernel = self.kernels.get(key)
        if kernel is not None and not kernel.alive():
            print(
                f"The StarDock kernel for {self._describe(key)} has stopped; starting a new one "
                "(variables from earlier cells are gone)."
            )
            self.kernels.pop(key, None)
            kernel = None
        if kernel is None:
            kernel = self._start(key, kernelspec)
            print(
                f"[stardock] started a kernel for {self._describe(key)}; `%stardock stop` stops it."
            )
        if not cell.strip():
            return
        try:
            kernel.execute(cell, show_output)
        except ClientError:
            if not kernel.alive():
                self.kernels.pop(key, None)
            raise

    # -- shared steps -----------------------------------------------------

    @staticmethod
    def _recipe(args: argparse.Namespace) -> dict[str, Any]:
        return recipe_from(
            apps=args.app, commands=args.run, pip=args.pip, apt=args.apt, dataset=args.dataset
        )

    def _target(self, args: argparse.Namespace) -> tuple[Key, str, dict[str, Any]]:
        """``((environment, dataset), kernelspec, environment)`` for ENV or an inline recipe."""
        has_recipe = bool(args.app or args.run or args.pip or args.apt)
        if args.env and has_recipe:
            raise MagicUsageError(
                "give an environment id or a recipe (--app, --run, --pip, --apt), not both."
            )
        if args.env and args.env.startswith("-"):
            raise MagicUsageError(f"unknown option {args.env}; see `%stardock help`.")
        cache_key = json.dumps([args.env, self._recipe(args)], sort_keys=True)
        if cache_key not in self._targets:
            if args.env:
                environment = self.client.resolve_environment(args.env)
                kernelspec = self.client.kernelspec_for(environment, args.dataset)
            else:
                environment = self._build(self._recipe(args))
                kernelspec = str(environment["kernelspec"])
            self._targets[cache_key] = (environment, kernelspec)
        environment, kernelspec = self._targets[cache_key]
        return (environment["id"], args.dataset), kernelspec, environment

    def _build(self, recipe: dict[str, Any]) -> dict[str, Any]:
        mode = self.progress
        if mode == "auto":
            mode = "rich" if getattr(self.shell, "kernel", None) is not None else "text"
        view: TextProgress | RichProgress = RichProgress() if mode == "rich" else TextProgress()
        last: list[BuildProgress] = []

        def on_progress(progress: BuildProgress) -> None:
            last[:] = [progress]
            view(progress)

        try:
            return self.client.build(recipe, on_progress)
        except KeyboardInterrupt:
            if not last:
                raise
            raise MagicUsageError(
                f"interrupted; the build {last[0].build_id} goes on in the server. Run the "
                "same command again to follow it."
            ) from None
        finally:
            if last:
                view.close(last[0])

    def _start(self, key: Key, kernelspec: str) -> RemoteKernel:
        try:
            kernel = RemoteKernel.start(self.client, kernelspec)
        except ClientError:
            # The environment may be gone since it was resolved: resolve it afresh next time.
            self._targets = {k: v for k, v in self._targets.items() if v[0]["id"] != key[0]}
            raise
        self.kernels[key] = kernel
        return kernel

    @staticmethod
    def _describe(key: Key) -> str:
        return f"environment {key[0]}" + (f" beside dataset {key[1]}" if key[1] else "")

    def stop_all(self) -> None:
        """Stop this notebook's kernels, quietly (at exit)."""
        for key in list(self.kernels):
            with contextlib.suppress(StarDockError):
                self.kernels.pop(key).shutdown()


_loaded: dict[int, StarDockMagics] = {}


def load_ipython_extension(ipython: Any) -> None:
    magics = StarDockMagics(ipython)
    ipython.register_magics(magics)
    previous = _loaded.pop(id(ipython), None)
    if previous is not None:
        previous.stop_all()
    _loaded[id(ipython)] = magics
    atexit.register(magics.stop_all)


def unload_ipython_extension(ipython: Any) -> None:
    magics = _loaded.pop(id(ipython), None)
    if magics is not None:
        magics.stop_all()
