"""``jupyter stardock``: the command line, a thin front over the core.

Subcommands read the same configuration as the server (``jupyter_server_config``
files, section ``StarDockApp``), so an operator sets things once.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from jupyter_core.application import JupyterApp
from jupyter_core.paths import jupyter_data_dir, jupyter_runtime_dir
from traitlets import Bool, Float, List, Unicode

from .._version import __version__
from ..client.api import (
    ApiError,
    BuildProgress,
    ServerInfo,
    StarDockClient,
    _runtime_servers,
    discover_server,
    environments_table,
    failure_sentence,
    format_age,
    format_size,
    parse_size,
    parse_time,
    progress_bar,
    recipe_from,
)
from ..core.datasets import Dataset, DatasetRegistry, scan
from ..core.sample import make_sample_dataset
from ..engine.client import Engine, ImageInfo
from ..errors import BaseImageError, StarDockError
from ..labels import BaseImageLabels
from ..server.app import StarDockApp
from ..services.base_image import BaseImageRequest, ensure_base_image, read_extra_certs

__all__ = ["main"]

_shared_aliases = {
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


DEMO_NEXT_STEP = (
    "Next: open the address JupyterLab prints below in a browser, then the StarDock tab "
    "in the left sidebar: pick the dataset m51, tick apps, press Build."
)


def require_jupyterlab() -> None:
    """The demo runs this interpreter's JupyterLab; say how to get it when it is missing."""
    if importlib.util.find_spec("jupyterlab") is None:
        raise StarDockError(
            f"JupyterLab is not installed for {sys.executable}, and the demo runs the "
            f"JupyterLab of this Python. Install it with `{sys.executable} -m pip install "
            "jupyterlab` (or reinstall jupyter-stardock, which depends on it), then run "
            "`jupyter stardock demo` again."
        )


class DemoCommand(StarDockSubcommand):
    name = "demo"
    description = """Start JupyterLab with StarDock ready on a small generated sample dataset.

    Makes the sample dataset (synthetic FITS images of M51), makes sure the base
    image exists (bootstrapping it from the host's Debian mirror when no registry
    answers), and starts the JupyterLab of this Python (`python -m jupyterlab`).
    Options after `--` go to JupyterLab.
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
        require_jupyterlab()  # before any slow step: the last one needs it
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
        # This interpreter's JupyterLab, never the first `jupyter-lab` on PATH: that one
        # may belong to another Python, with another (or no) jupyter-stardock.
        argv = [
            sys.executable,
            "-m",
            "jupyterlab",
            f"--config={config_file}",
            f"--ServerApp.root_dir={workdir}",
        ]
        if os.geteuid() == 0:
            # Containers and test machines run as root; the kernels still never do.
            argv.append("--allow-root")
        argv += self.extra_args
        print("Starting: " + " ".join(argv), flush=True)
        print(DEMO_NEXT_STEP, flush=True)
        os.execv(argv[0], argv)

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


@dataclass(frozen=True)
class Check:
    """One finding of ``jupyter stardock doctor``."""

    name: str
    status: str  # "ok", "warn" or "fail"
    message: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        mark = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}[self.status]
        return f"[{mark}] {self.name}: {self.message}" + (
            f"\n       fix: {self.fix}" if self.fix else ""
        )


class DoctorCommand(StarDockSubcommand):
    name = "doctor"
    description = """Check the engine, the base image, the CA setup and each dataset, and say what to fix.

    Needs no running server: it reads the same configuration as the server and
    asks the engine directly. A running server, when one is found, is checked too.
    Exits 1 when something must be fixed.
    """
    examples = """
    jupyter stardock doctor
    jupyter stardock doctor --json
    """

    json_output = Bool(False, config=True, help="Print JSON for scripts instead of text.")
    url = Unicode(
        None,
        allow_none=True,
        config=True,
        help=(
            "Check only the Jupyter server at this address, e.g. 'http://127.0.0.1:8888/'. "
            "Default: JUPYTER_SERVER_URL, else every server running in Jupyter's runtime folder."
        ),
    )
    token = Unicode(
        None,
        allow_none=True,
        config=True,
        help="The token of the server given with --url. Default: its runtime file's, or JUPYTER_TOKEN.",
    )
    aliases = {**_shared_aliases, "url": "DoctorCommand.url", "token": "DoctorCommand.token"}
    flags = {"json": ({"DoctorCommand": {"json_output": True}}, json_output.help)}

    def run(self) -> None:
        settings = self.settings()
        checks: list[Check] = []
        engine = settings.make_engine()
        try:
            checks += self._engine_and_base(settings, engine)
        finally:
            engine.close()
        checks += self._datasets(settings)
        checks += [
            Check("catalog", "warn", problem, "Fix or remove that catalog entry.")
            for problem in map(str, settings.load_catalog().problems)
        ]
        checks += self._servers()
        failed = sum(c.status == "fail" for c in checks)
        warned = sum(c.status == "warn" for c in checks)
        if self.json_output:
            print(
                json.dumps(
                    {"ok": not failed, "warnings": warned, "checks": [c.to_json() for c in checks]},
                    indent=2,
                )
            )
        else:
            print("\n".join(map(str, checks)))
            print("\n" + doctor_summary(failed, warned))
        if failed:
            self.exit(1)

    def _engine_and_base(self, settings: StarDockApp, engine: Engine) -> list[Check]:
        try:
            info = engine.info_sync()
        except StarDockError as err:
            return [
                Check("engine", "fail", str(err)),
                Check("base image", "fail", "Not checked: the engine is unreachable."),
            ]
        checks = [
            Check(
                "engine",
                "ok",
                f"Docker Engine {info.version} (API {info.api_version}) at {info.address}, "
                f"storage {info.storage_driver}, {info.cpus} CPUs.",
            )
        ]
        base = engine.image_sync(settings.base_alias)
        if base is None:
            checks.append(
                Check(
                    "base image",
                    "fail",
                    f"There is no base image {settings.base_alias}.",
                    "Run `jupyter stardock base` (or `jupyter stardock base --bootstrap` on a "
                    "site with no image registry).",
                )
            )
        else:
            built = format_age(parse_time(base.created))
            made = BaseImageLabels.from_labels(base.labels)
            source = (made.from_ref if made else "") or "unknown"
            checks.append(
                Check(
                    "base image",
                    "ok",
                    f"{settings.base_alias} is {base.id[:19]}, built {built} from {source}.",
                )
            )
        checks.append(self._ca(settings, base))
        return checks

    def _ca(self, settings: StarDockApp, base: ImageInfo | None) -> Check:
        try:
            configured = read_extra_certs(settings.extra_ca_certs)
        except StarDockError as err:
            return Check("CA setup", "fail", str(err), "Fix c.StarDockApp.extra_ca_certs.")
        host_files = sorted(glob.glob("/usr/local/share/ca-certificates/*.crt"))
        host = set(read_extra_certs(host_files)) if host_files else set()
        trusted = set(
            made.extra_ca if base and (made := BaseImageLabels.from_labels(base.labels)) else ()
        )
        wanted = set(configured) or host
        if base is None:
            if wanted and not configured:
                return Check(
                    "CA setup",
                    "warn",
                    f"This machine trusts {', '.join(sorted(host))}; a base image made without "
                    "them cannot download through a TLS-intercepting proxy.",
                    "Make the base with `jupyter stardock base --extra-ca "
                    "'/usr/local/share/ca-certificates/*.crt'`.",
                )
            return Check(
                "CA setup", "ok", f"{len(configured)} extra CA file(s) configured, readable."
            )
        if wanted - trusted:
            missing = ", ".join(sorted(wanted - trusted))
            origin = "c.StarDockApp.extra_ca_certs lists" if configured else "this machine trusts"
            return Check(
                "CA setup",
                "warn" if not configured else "fail",
                f"{origin} {missing}, but the base image does not trust it; behind a "
                "TLS-intercepting proxy, downloads in builds fail with CERTIFICATE_VERIFY_FAILED.",
                "Run `jupyter stardock base --extra-ca '/usr/local/share/ca-certificates/*.crt'` "
                "(and set c.StarDockApp.extra_ca_certs to the same).",
            )
        if trusted:
            return Check("CA setup", "ok", f"The base image trusts {', '.join(sorted(trusted))}.")
        return Check("CA setup", "ok", "No extra certificate authority is configured or needed.")

    def _datasets(self, settings: StarDockApp) -> list[Check]:
        registry = DatasetRegistry(settings.datasets)
        try:
            checks = [
                Check("datasets", "fail", problem, "Fix c.StarDockApp.datasets.")
                for problem in registry.problems
            ]
            if not len(registry) and not registry.problems:
                checks.append(
                    Check(
                        "datasets",
                        "warn",
                        "No dataset is configured: kernels will have nothing at /data.",
                        "Set c.StarDockApp.datasets = {'m51': {'path': '/srv/data/m51'}}.",
                    )
                )
            for dataset in registry:
                checks.append(_dataset_check(dataset))
            return checks
        finally:
            registry.close()

    def _servers(self) -> list[Check]:
        """The server given (--url, JUPYTER_SERVER_URL), else every running one."""
        if self.url or os.environ.get("JUPYTER_SERVER_URL"):
            server = discover_server(self.url, self.token, override_hint="--url URL --token TOKEN")
            return [_server_check(server, given=True)]
        runtime = Path(jupyter_runtime_dir())
        running = _runtime_servers(runtime)
        if not running:
            return [
                Check(
                    "server",
                    "ok",
                    f"No Jupyter server is running (none in {runtime}); not needed for these checks.",
                )
            ]
        return [
            _server_check(
                ServerInfo(info["url"], str(info.get("token") or ""), str(path)), given=False
            )
            for path, info in running
        ]


def doctor_summary(failed: int, warned: int) -> str:
    """Say "All good." only when every check passed; a warning is worth reading, not a failure."""
    if failed:
        return f"{failed} problem{'s' if failed != 1 else ''} to fix."
    if warned:
        return f"Nothing must be fixed; {warned} warning{'s' if warned != 1 else ''} above."
    return "All good."


def _server_check(server: ServerInfo, *, given: bool) -> Check:
    """Whether a running server has StarDock and its engine; a server asked for must."""
    name = f"server {server.url}"
    try:
        status = StarDockClient(server).status()
    except ApiError as err:
        if err.status == 404:
            return Check(
                name,
                "fail" if given else "warn",
                f"It runs no StarDock extension (found via {server.source}).",
                "Enable it: `jupyter server extension enable jupyter_stardock`, then restart "
                "that server.",
            )
        if err.status == 503:
            return Check(
                name,
                "fail",
                f"Its StarDock cannot reach its engine: {err}",
                "Start the engine that server uses (or fix its c.StarDockApp.docker_host).",
            )
        return Check(name, "fail" if given else "warn", str(err))
    except StarDockError as err:
        return Check(name, "fail" if given else "warn", str(err))
    version = status.get("version", "?")
    if version != __version__:
        return Check(
            name,
            "warn",
            f"It runs StarDock {version}, this command is {__version__} (found via "
            f"{server.source}).",
            "Restart that server so it loads the installed version.",
        )
    return Check(name, "ok", f"It runs StarDock {version} (found via {server.source}).")


def _dataset_check(dataset: Dataset) -> Check:
    name = f"dataset {dataset.id}"
    size = scan(dataset.path)
    if not size.exists:
        return Check(
            name,
            "fail",
            size.problem or f"{dataset.path} is missing.",
            f"Fix its path in c.StarDockApp.datasets, or create {dataset.path}.",
        )
    if not os.access(dataset.path, os.R_OK | os.X_OK):
        return Check(
            name,
            "fail",
            f"{dataset.path} is not readable by this account.",
            f"Grant read access: `chmod -R a+rX {dataset.path}`.",
        )
    if os.geteuid() == 0 and dataset.path.stat().st_mode & 0o005 != 0o005:
        return Check(
            name,
            "warn",
            f"{dataset.path} is not readable by other users; kernels of a server run as root "
            "run as an unprivileged uid and may not read it.",
            f"`chmod -R a+rX {dataset.path}`, or give the kernels' uid access.",
        )
    if size.files == 0:
        return Check(name, "warn", f"{dataset.path} holds no files.", "Put the data there.")
    return Check(
        name,
        "ok",
        f"{dataset.title}: {size.files} files, {format_size(size.bytes)} at {dataset.path}.",
    )


# -- commands that talk to a running server, through client.py ---------------------


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
        new = min(progress.count - self._printed, len(progress.lines))
        self._printed = progress.count
        lines = progress.lines[len(progress.lines) - new :]
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


def last_used(
    environments: list[dict[str, Any]],
    kernels: list[dict[str, Any]],
    archives: list[dict[str, Any]],
    builds: list[dict[str, Any]],
    now: float | None = None,
) -> dict[str, float]:
    """The latest of: built, asked for in a build, a kernel stopped in it, a kernel runs in it.

    The server does not record every use (a kernel's start, or a build request
    answered from an existing image); these are the traces it keeps.
    """
    now = time.time() if now is None else now
    used: dict[str, float] = {}

    def seen(env_id: Any, moment: Any) -> None:
        moment = parse_time(moment)
        if env_id and moment is not None:
            used[env_id] = max(used.get(env_id, 0.0), moment)

    for env in environments:
        seen(env["id"], env.get("created"))
    for build in builds:
        seen(build.get("environment_id"), build.get("finished") or build.get("created"))
    for archive in archives:
        manifest = archive.get("manifest") or {}
        seen(manifest.get("environment"), manifest.get("stopped"))
    for kernel in kernels:
        seen(kernel.get("environment"), now)
    return used


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


def plan_prune(
    environments: list[dict[str, Any]],
    used: dict[str, float],
    in_use: set[str],
    *,
    days: float | None,
    max_bytes: int | None,
    base_size: int = 0,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """The environments to remove, least recently used first; never one in use.

    Environments share the base image's layers, so the disk they take together is
    counted as the base once plus what each adds to it.
    """
    now = time.time() if now is None else now
    removable = sorted(
        (e for e in environments if e["id"] not in in_use), key=lambda e: used.get(e["id"], 0.0)
    )
    chosen = [
        e for e in removable if days is not None and used.get(e["id"], 0.0) < now - days * 86400
    ]
    if max_bytes is not None:

        def adds(env: dict[str, Any]) -> int:
            return max(0, int(env.get("size") or 0) - base_size)

        total = base_size + sum(adds(e) for e in environments if e not in chosen)
        for env in removable:
            if total <= max_bytes:
                break
            if env not in chosen:
                chosen.append(env)
                total -= adds(env)
    return chosen


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
            )
        },
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
