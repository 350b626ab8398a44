"""The exceptions jupyter-stardock raises, written for the scientist who reads them.

Every message is a full sentence that says what was wrong and what to do.
Handlers map these to HTTP status codes; the CLI prints ``str(err)`` on one line.
This is the only module that defines them (a unit test keeps it so).

    StarDockError
    ├── EngineUnavailable        the Docker Engine cannot be reached        (503)
    ├── EngineError              the engine answered with an error          (502)
    │   └── RegistryError        the image registry refused, or is not there (502)
    ├── BuildFailed              a build failed, was stopped or timed out (server and client)
    ├── BaseImageError           the base image could not be made or found
    ├── KernelStartError         a kernel's container could not be started
    ├── OutputsQuotaError        an outputs quota could not be set up
    ├── UnsafePath               a path the server would act on can be changed by others
    ├── NotFound                 no such build, environment, dataset, ...   (404)
    ├── Forbidden                the user may not use this item             (403)
    ├── QuotaExceeded            a per-user limit was reached               (429)
    ├── InUse                    a running kernel holds what is to go       (409)
    ├── RecipeError              bad user input in a recipe                 (400)
    │   ├── CatalogError         unknown, conflicting or cyclic apps
    │   ├── PolicyError          a custom command or package name refused
    │   └── DockerfileSyntaxError  Docker would refuse the text, or read it differently
    ├── ServiceError             the hub service answered with an error     (its status)
    └── ClientError              a request to a Jupyter server failed (client side)
        ├── ServerNotFound       no running server was found
        ├── ServerUnreachable    the server's address did not answer
        ├── ApiError             the server answered with an error          (its status)
        └── KernelGone           the remote kernel stopped

Two more are not failures of StarDock and so sit outside the tree: ``ExecutionFailed``
(user code raised in a remote kernel; it renders as that kernel's traceback) and
``MagicUsageError`` (a magic's one-line complaint, shown without a traceback).
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "BaseImageError",
    "BuildFailed",
    "CatalogError",
    "ClientError",
    "DockerfileSyntaxError",
    "EngineError",
    "EngineUnavailable",
    "ExecutionFailed",
    "Forbidden",
    "InUse",
    "KernelGone",
    "KernelStartError",
    "MagicUsageError",
    "NotFound",
    "OutputsQuotaError",
    "PolicyError",
    "QuotaExceeded",
    "RecipeError",
    "RegistryError",
    "ServerNotFound",
    "ServerUnreachable",
    "ServiceError",
    "StarDockError",
    "UnsafePath",
]


class StarDockError(Exception):
    """Base of every error jupyter-stardock raises on purpose."""

    #: The HTTP status a REST handler answers with.
    status_code: int = 500


class EngineUnavailable(StarDockError):
    """The Docker Engine could not be reached (not running, wrong address, no permission)."""

    status_code = 503


class EngineError(StarDockError):
    """The engine answered, but with an error we cannot turn into anything better.

    ``engine_status`` keeps the engine's own HTTP status (404 no such object, 409
    conflict, ...), so callers decide by it and never by the message's words.
    """

    status_code = 502

    def __init__(self, message: str, *, engine_status: int | None = None) -> None:
        super().__init__(message)
        self.engine_status = engine_status


# issue 16: the private registry (push, pull, manifest deletion, its settings).
class RegistryError(EngineError):
    """The image registry refused an operation or could not be reached; the reason is said."""


class BuildFailed(StarDockError):
    """A build failed, was cancelled or ran out of time."""

    status_code = 500


class BaseImageError(StarDockError):
    """The base image could not be built, bootstrapped or found."""

    status_code = 500


class KernelStartError(StarDockError):
    """The kernel's container could not be started; the message is shown in JupyterLab."""

    status_code = 500


class OutputsQuotaError(StarDockError):
    """The outputs folder's size limit is malformed or could not be set up."""

    status_code = 500


class UnsafePath(StarDockError):
    """A path the server was to act on is a link, or not the server's own."""

    status_code = 500


class NotFound(StarDockError):
    status_code = 404


class Forbidden(StarDockError):
    status_code = 403


class QuotaExceeded(StarDockError):
    status_code = 429


class InUse(StarDockError):
    """What is to be removed or started is held already (a running kernel)."""

    status_code = 409


class RecipeError(StarDockError, ValueError):
    """Bad user input in a recipe. ``item`` names the offending app, line or field."""

    status_code = 400

    def __init__(self, message: str, *, item: str | None = None) -> None:
        super().__init__(message)
        self.item = item


class CatalogError(RecipeError):
    """Unknown app id, conflicting apps or a dependency cycle."""


class PolicyError(RecipeError):
    """A custom command, Debian package or pip package the policy refuses."""


class DockerfileSyntaxError(RecipeError):
    """Docker would refuse the file, or Docker versions would read it differently."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


class ServiceError(StarDockError):
    """The StarDock hub service answered a user's server with an error (its sentence)."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class ClientError(StarDockError):
    """A request to the Jupyter server could not be answered as asked."""


class ServerNotFound(ClientError):
    """No running Jupyter server was found; the message lists what was tried."""


class ServerUnreachable(ClientError):
    """The server's address did not answer (refused, timed out, closed)."""


class ApiError(ClientError):
    """The server answered with an error; ``message`` is its sentence."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class KernelGone(ClientError):
    """The remote kernel stopped (shut down, culled, crashed, or its server restarted)."""


class ExecutionFailed(Exception):
    """The code raised in the remote kernel; renders as that kernel's own traceback."""

    def __init__(self, ename: str, evalue: str, traceback: list[str]) -> None:
        super().__init__(f"{ename}: {evalue}")
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback

    def __str__(self) -> str:
        return f"{self.ename}: {self.evalue}"

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of a local traceback of the magic.
        return self.traceback or [str(self)]


class MagicUsageError(Exception):
    """Shown as one line: the sentence, never a traceback of the magic."""

    def _render_traceback_(self) -> list[str]:
        return [f"StarDock: {self}"]
