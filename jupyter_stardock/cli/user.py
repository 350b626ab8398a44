"""The user's commands, over the REST API of a running server: build, envs, logs, rm, prune.

They import only the client (and traitlets, for the options), never the server,
the services or the engine, so each starts about as fast as ``jupyter kernelspec
list`` (benchmarks/cli_start.py measures it; tests/unit/test_cli_start.py checks
the imports).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any, TextIO

from traitlets import Bool, Float, List, Unicode

from ..client.api import StarDockClient, recipe_from
from ..client.discovery import discover_server
from ..client.events import BuildProgress
from ..client.presentation import (
    environments_table,
    failure_sentence,
    format_age,
    format_size,
    parse_size,
    progress_bar,
)
from ..errors import ApiError, StarDockError
from .common import StarDockSubcommand
from .prune import last_used, plan_prune

__all__ = [
    "BuildCommand",
    "EnvsCommand",
    "LogsCommand",
    "PruneCommand",
    "RmCommand",
    "ServerCommand",
]


class ServerCommand(StarDockSubcommand):
    """A subcommand that talks to a running Jupyter server with the StarDock extension."""

    url = Unicode(
        None,
        allow_none=True,
        config=True,
        help=(
            "Address of the Jupyter server, e.g. 'http://127.0.0.1:8888/'. Default: "
            "JUPYTER_SERVER_URL, JupyterHub's variables, else the running server found in "
            "Jupyter's runtime folder."
        ),
    )
    token = Unicode(
        None,
        allow_none=True,
        config=True,
        help="The server's token. Default: the runtime file's, JUPYTERHUB_API_TOKEN or JUPYTER_TOKEN.",
    )
    json_output = Bool(False, config=True, help="Print JSON for scripts instead of text.")

    aliases = {"url": "ServerCommand.url", "token": "ServerCommand.token"}
    uses_server_settings = False
    flags = {"json": ({"ServerCommand": {"json_output": True}}, json_output.help)}

    def client(self) -> StarDockClient:
        return StarDockClient(
            discover_server(self.url, self.token, override_hint="--url URL --token TOKEN")
        )

    def emit(self, data: Any, text: str) -> None:
        print(json.dumps(data, indent=2) if self.json_output else text, flush=True)


class _TerminalProgress:
    """Build progress on stderr: log lines, and a bar redrawn in place on a terminal."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._printed = 0
        self.build_id: str | None = None

    def __call__(self, progress: BuildProgress) -> None:
        self.build_id = progress.build_id
        lines = progress.since(self._printed)
        self._printed = progress.count
        if self.tty:
            text = "".join(f"\r\033[K  {line}\n" for line in lines)
            self.stream.write(f"{text}\r\033[K{progress_bar(progress)}")
        else:
            self.stream.write("".join(f"  {line}\n" for line in lines))
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._printed:
            self.stream.write("\n")
            self.stream.flush()
            self._printed = 0


class BuildCommand(ServerCommand):
    name = "build"
    description = """Build an environment from catalog apps and your own commands.

    Identical recipes resolve to the same environment: building one that exists
    answers at once. The log goes to stderr (with a progress bar on a terminal);
    the environment and its kernelspec go to stdout.
    """
    examples = """
    jupyter stardock build --app astropy --app sextractor --run "pip install photutils" --dataset m51
    jupyter stardock build --app astropy --json | jq -r .kernelspec
    """

    apps = List(Unicode(), config=True, help="Catalog apps to install (repeat --app).")
    commands = List(
        Unicode(), config=True, help="Shell commands, one RUN line each (repeat --run)."
    )
    pip = List(Unicode(), config=True, help="pip packages (repeat --pip).")
    apt = List(Unicode(), config=True, help="Debian packages (repeat --apt).")
    dataset = Unicode(
        None, allow_none=True, config=True, help="The dataset whose kernelspec to publish."
    )
    pip_constraints = Bool(
        True,
        config=True,
        help=(
            "Hold pip to the versions apt installed (and the kernel runtime), so a command "
            "like `pip install -U matplotlib` cannot break astropy; --no-pip-constraints lifts it."
        ),
    )
    flags = {
        **ServerCommand.flags,
        "no-pip-constraints": (
            {"BuildCommand": {"pip_constraints": False}},
            "Let pip change the versions of packages apt installed.",
        ),
    }
    aliases = {
        **ServerCommand.aliases,
        "app": "BuildCommand.apps",
        "run": "BuildCommand.commands",
        "pip": "BuildCommand.pip",
        "apt": "BuildCommand.apt",
        "dataset": "BuildCommand.dataset",
    }

    def run(self) -> None:
        recipe = recipe_from(
            apps=self.apps,
            commands=self.commands,
            pip=self.pip,
            apt=self.apt,
            dataset=self.dataset,
            pip_constraints=self.pip_constraints,
        )
        progress = _TerminalProgress()
        try:
            environment = self.client().build(recipe, progress)
        except KeyboardInterrupt:
            if progress.build_id is None:
                raise
            progress.close()
            self.fail(
                f"interrupted; the build {progress.build_id} goes on in the server. Follow it "
                f"with `jupyter stardock logs {progress.build_id} --follow`.",
                status=130,
            )
        finally:
            progress.close()
        self.emit(
            environment,
            f"Environment {environment['id']} is ready (kernelspec {environment.get('kernelspec')}).",
        )


def _usage(
    client: StarDockClient, environments: list[dict[str, Any]]
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """When each environment was last used, and the running StarDock kernels."""
    kernels = client.stardock_kernels()
    return last_used(environments, kernels, client.archives(), client.builds()), kernels


class EnvsCommand(ServerCommand):
    name = "envs"
    description = """List the built environments: apps, extras, size, age, last use, kernels."""
    examples = """
    jupyter stardock envs
    jupyter stardock envs --json
    """

    def run(self) -> None:
        client = self.client()
        environments = client.environments()
        used, kernels = _usage(client, environments)
        running = Counter(k.get("environment") for k in kernels)
        data = [
            {**env, "last_used": used.get(env["id"]), "kernels": running[env["id"]]}
            for env in environments
        ]
        self.emit(data, environments_table(environments, kernels, used))


class LogsCommand(ServerCommand):
    name = "logs"
    description = """Show a build's log: by build id, by environment id (its latest build),
    or the latest build when none is given. --follow streams a running build to its end."""
    examples = """
    jupyter stardock logs
    jupyter stardock logs 3f2a9c1b0d4e --follow
    """

    follow = Bool(False, config=True, help="Stream the log until the build ends.")
    flags = {
        **ServerCommand.flags,
        "follow": ({"LogsCommand": {"follow": True}}, follow.help),
        "f": ({"LogsCommand": {"follow": True}}, follow.help),
    }

    def run(self) -> None:
        client = self.client()
        build = self._find(client, self.extra_args[0] if self.extra_args else None)
        lines: list[str] = []
        if self.follow:
            for event in client.follow_log(build["id"]):
                if event.kind == "end":
                    build = event.build or build
                    break
                if event.kind == "progress":
                    continue  # the build's state riding along, not a line of its log
                lines.append(event.text)
                if not self.json_output:
                    print(event.text, flush=True)
        else:
            offset = 0
            while True:
                page = client.log_page(build["id"], offset)
                lines += page["lines"]
                if page["complete"] or page["next"] <= offset or not page["lines"]:
                    break
                offset = page["next"]
            if not self.json_output:
                print("\n".join(lines))
        if self.json_output:
            self.emit({"build": build, "lines": lines}, "")
        elif build.get("state") not in ("queued", "running", "succeeded"):
            print(failure_sentence(build), file=sys.stderr)

    def _find(self, client: StarDockClient, ref: str | None) -> dict[str, Any]:
        builds = client.builds()
        if not builds:
            raise StarDockError("There are no builds yet; start one with `jupyter stardock build`.")
        if ref is None:
            return builds[0]
        matches = [b for b in builds if b["id"].startswith(ref)] or [
            b for b in builds if b.get("environment_id", "").startswith(ref)
        ]
        if not matches:
            raise StarDockError(
                f"There is no build or environment {ref!r} in your build history; list them with "
                "`jupyter stardock envs`."
            )
        return matches[0]  # newest first


class RmCommand(ServerCommand):
    name = "rm"
    description = """Remove environments (their images). One a running kernel uses is kept."""
    examples = """
    jupyter stardock rm 1806e153c361bb43
    """

    def run(self) -> None:
        if not self.extra_args:
            self.fail(
                "name the environment(s) to remove; list them with `jupyter stardock envs`.", 2
            )
        client = self.client()
        removed, errors = [], []
        for ref in self.extra_args:
            try:
                env_id = client.resolve_environment(ref)["id"]
                client.delete_environment(env_id)
                removed.append(env_id)
            except StarDockError as err:
                errors.append({"environment": ref, "message": str(err)})
        if self.json_output:
            self.emit({"removed": removed, "errors": errors}, "")
        for env_id in [] if self.json_output else removed:
            print(f"Removed environment {env_id}.")
        if errors:
            self.fail("; ".join(f"{e['environment']}: {e['message']}" for e in errors))


class PruneCommand(ServerCommand):
    name = "prune"
    description = """Remove environments unused for some days, or beyond a disk budget.

    The least recently used go first; an environment a running kernel uses is
    never removed. "Used" means built, asked for in a build, or run in a kernel
    (from the archives of stopped kernels).
    """
    examples = """
    jupyter stardock prune --days 30
    jupyter stardock prune --max-size 20G --dry-run
    """

    days = Float(
        None, allow_none=True, config=True, help="Remove environments unused for this many days."
    )
    max_size = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Remove the least recently used environments until they take at most this, e.g. 20G.",
    )
    dry_run = Bool(False, config=True, help="Say what would be removed; remove nothing.")
    aliases = {
        **ServerCommand.aliases,
        "days": "PruneCommand.days",
        "max-size": "PruneCommand.max_size",
    }
    flags = {**ServerCommand.flags, "dry-run": ({"PruneCommand": {"dry_run": True}}, dry_run.help)}

    def run(self) -> None:
        if self.days is None and self.max_size is None:
            self.fail("say what to prune: --days N (unused that long) and/or --max-size SIZE.", 2)
        max_bytes = parse_size(self.max_size) if self.max_size is not None else None
        client = self.client()
        # Only environments this server manages (its repository); others are not its to remove.
        environments = [e for e in client.environments() if _manages(client, e["id"])]
        used, kernels = _usage(client, environments)
        managed = {e["id"] for e in environments}
        in_use = sorted({k.get("environment", "") for k in kernels} & managed)
        base = (client.status().get("base_image") or {}).get("size") or 0
        chosen = plan_prune(
            environments,
            used,
            set(in_use),
            days=self.days,
            max_bytes=max_bytes,
            base_size=int(base),
        )
        removed, skipped = [], []
        for env in chosen:
            if self.dry_run:
                continue
            try:
                client.delete_environment(env["id"])
                removed.append(env)
            except ApiError as err:
                if err.status != 404:
                    skipped.append({"environment": env["id"], "message": str(err)})
        listed = chosen if self.dry_run else removed
        verb = "Would remove" if self.dry_run else "Removed"
        lines = [f"{verb} {len(listed)} environment{'s' if len(listed) != 1 else ''}."]
        lines += [
            f"  {e['id']}  {', '.join(e.get('apps') or ()) or 'base'}  {format_size(e.get('size') or 0)}"
            f"  last used {format_age(used.get(e['id']))}"
            for e in listed
        ]
        lines += [f"Kept {s['environment']}: {s['message']}" for s in skipped]
        if in_use:
            lines.append(f"In use by running kernels, kept: {', '.join(in_use)}.")
        self.emit(
            {
                "dry_run": self.dry_run,
                "removed": [e["id"] for e in listed],
                "skipped": skipped,
                "in_use": in_use,
            },
            "\n".join(lines),
        )


def _manages(client: StarDockClient, env_id: str) -> bool:
    try:
        client.environment(env_id)
    except ApiError as err:
        if err.status == 404:
            return False
        raise
    return True
