"""``jupyter stardock doctor``: the engine, the base image, the CA setup, the datasets, the servers.

An operator command: it reads the server's settings and asks the engine
directly, importing them only when it runs.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_core.paths import jupyter_runtime_dir
from traitlets import Bool, Unicode

from .._version import __version__
from ..client.api import StarDockClient
from ..client.discovery import ServerInfo, discover_server, running_servers
from ..client.presentation import format_age, format_size, parse_time
from ..errors import ApiError, StarDockError
from ..labels import BaseImageLabels
from .common import StarDockSubcommand, shared_aliases

if TYPE_CHECKING:
    from ..core.datasets import Dataset
    from ..engine import Engine, ImageInfo
    from ..server.app import StarDockApp

__all__ = ["Check", "DoctorCommand", "doctor_summary"]


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
    aliases = {**shared_aliases, "url": "DoctorCommand.url", "token": "DoctorCommand.token"}
    flags = {"json": ({"DoctorCommand": {"json_output": True}}, json_output.help)}

    def run(self) -> None:
        settings = self.settings()
        checks: list[Check] = []
        engine = settings.make_engine()
        try:
            checks += self._engine_and_base(settings, engine)
            checks += registry_checks(settings, engine)  # issue 16
        finally:
            engine.close()
        checks += self._datasets(settings)
        checks += [
            Check("catalog", "warn", problem, "Fix or remove that catalog entry.")
            for problem in map(str, settings.load_catalog().problems)
        ]
        checks.append(pool_check(settings))  # issue 14: the warm pool's memory budget
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
                # issue 18: Podman answers the same API; say which engine it is.
                f"{info.product} {info.version} (API {info.api_version}) at {info.address}, "
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
        from ..services.base_image import read_extra_certs

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
        from ..core.datasets import DatasetRegistry

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
        running = running_servers(runtime)
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


# issue 16: the site's registry, reachable and taking our credentials (nothing when none is set).
def registry_checks(settings: StarDockApp, engine: Engine) -> list[Check]:
    from ..services.registry import registry_service

    service = registry_service(engine, settings.registry, settings.registry_credentials)
    if service is None:
        return []
    fix = "Fix c.StarDockApp.registry and c.StarDockApp.registry_credentials."
    if service.registry is None:
        return [Check("registry", "fail", service.problem, fix)]
    health = service.registry.health_sync()
    if not health.authenticated:
        return [Check("registry", "fail", health.problem, fix)]
    who = service.registry.credentials
    return [
        Check(
            "registry",
            "ok",
            f"{health.address} answers"
            + (f" and takes the credentials of user {who.username!r}." if who else "."),
        )
    ]


def pool_check(settings: StarDockApp) -> Check:
    """issue 14: the warm pool's memory budget, against what this machine has available."""
    from ..core.pool_budget import pool_budget

    status, message = pool_budget(settings)
    hint = "Lower c.StarDockApp.pool_memory or pool_max_total." if status != "ok" else ""
    return Check("warm pool", status, message, hint)


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
    from ..core.datasets import scan

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
