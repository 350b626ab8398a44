"""The route tables, as data, for each mode. docs/openapi.yaml describes them (a test checks).

Composed here, above the handler modules, so that no handler module needs another's table.
"""

from __future__ import annotations

from ..config import Mode
from .desktop_handlers import DesktopHandler, DesktopSocket  # issue 15
from .exec_socket import ExecSocket  # issue 15
from .handlers import (
    API,
    AppsHandler,
    ArchiveHandler,
    ArchivesHandler,
    BuildHandler,
    BuildLogHandler,
    BuildsHandler,
    DockerfileHandler,
    EnvironmentDockerfileHandler,
    EnvironmentHandler,
    EnvironmentsHandler,
    KernelExitHandler,
    KernelsHandler,
    StarDockHandler,
    StatusHandler,
)
from .pause_handlers import (  # issue 17
    KernelPauseHandler,
    KernelRestoreHandler,
    KernelResumeHandler,
    KernelSuspendHandler,
    SuspendedHandler,
)
from .proxy_handlers import RemoteProxyHandler
from .remote_socket import RemoteDesktopSocket, RemoteShellSocket, RemoteSocket  # issue 15
from .service_handlers import (
    KernelspecsHandler,
    ServiceKernelActionHandler,
    ServiceKernelHandler,
    ServiceKernelsHandler,
)
from .staging_handlers import (  # issue 19: the data service
    StagedDatasetHandler,
    StagingCancelHandler,
    StagingDatasetsHandler,
    StagingHandler,
    StagingListHandler,
)
from .terminal_handlers import KernelShellSocket, KernelTerminalHandler  # issue 15

__all__ = ["API", "routes"]
Routes = list[tuple[str, type[StarDockHandler] | type[ExecSocket] | type[RemoteSocket]]]

_ID = r"(?P<build_id>[0-9a-f]{1,64})"
_ENV = r"(?P<env_id>[0-9a-f]{1,64})"
_KERNEL = r"(?P<kernel_id>[0-9a-f-]{1,64})"
_SERVICE_KERNEL = r"(?P<kernel_id>[0-9a-f-]{36})"
_STAGING = r"(?P<request_id>[0-9a-f]{1,64})"  # issue 19
_DATASET = r"(?P<dataset_id>[A-Za-z0-9][A-Za-z0-9_.-]{0,63})"  # issue 19


def local_routes() -> Routes:
    """What a server that holds the engine serves (the hub service serves these too)."""
    return [
        (rf"{API}/status", StatusHandler),
        (rf"{API}/apps", AppsHandler),
        (rf"{API}/datasets", StagingDatasetsHandler),  # issue 19: GET as before, POST stages
        (rf"{API}/datasets/{_DATASET}", StagedDatasetHandler),  # issue 19
        (rf"{API}/staging", StagingListHandler),  # issue 19
        (rf"{API}/staging/{_STAGING}", StagingHandler),  # issue 19
        (rf"{API}/staging/{_STAGING}/cancel", StagingCancelHandler),  # issue 19
        (rf"{API}/dockerfile", DockerfileHandler),
        (rf"{API}/builds", BuildsHandler),
        (rf"{API}/builds/{_ID}", BuildHandler),
        (rf"{API}/builds/{_ID}/log", BuildLogHandler),
        (rf"{API}/environments", EnvironmentsHandler),
        (rf"{API}/environments/{_ENV}", EnvironmentHandler),
        (rf"{API}/environments/{_ENV}/dockerfile", EnvironmentDockerfileHandler),
        (rf"{API}/kernels", KernelsHandler),
        (rf"{API}/archives", ArchivesHandler),
        (rf"{API}/archives/{_KERNEL}", ArchiveHandler),
        (rf"{API}/kernels/{_KERNEL}/exit", KernelExitHandler),
        # issue 17: pause, resume, suspend and restore
        (rf"{API}/kernels/{_KERNEL}/pause", KernelPauseHandler),
        (rf"{API}/kernels/{_KERNEL}/resume", KernelResumeHandler),
        (rf"{API}/kernels/{_KERNEL}/suspend", KernelSuspendHandler),
        (rf"{API}/kernels/{_KERNEL}/restore", KernelRestoreHandler),
        (rf"{API}/suspended", SuspendedHandler),
        *terminal_routes(),  # issue 15
    ]


# issue 15: a kernel's terminal (the user's own server creates it, in every mode), its
# shell websocket and its desktop (served where the engine is: here, or the hub service).
def terminal_routes() -> Routes:
    return [
        (rf"{API}/kernels/{_KERNEL}/terminal", KernelTerminalHandler),
        (rf"{API}/kernels/{_KERNEL}/shell", KernelShellSocket),
        (rf"{API}/kernels/{_KERNEL}/desktop", DesktopHandler),
        (rf"{API}/kernels/{_KERNEL}/desktop/websocket", DesktopSocket),
    ]


def service_routes() -> Routes:
    """The hub service adds the kernelspecs and the kernels it runs for users' servers."""
    return [
        (rf"{API}/kernelspecs", KernelspecsHandler),
        (rf"{API}/service/kernels", ServiceKernelsHandler),
        (rf"{API}/service/kernels/{_SERVICE_KERNEL}", ServiceKernelHandler),
        (
            rf"{API}/service/kernels/{_SERVICE_KERNEL}/(?P<action>signal|stop|restart)",
            ServiceKernelActionHandler,
        ),
    ]


def routes(mode: Mode = "local") -> Routes:
    """The table a server in ``mode`` serves; remote mode forwards everything to the service."""
    if mode == "remote":
        # issue 15: the terminal is this server's own, the websockets are relayed; everything
        # else goes to the service.
        return [
            terminal_routes()[0],
            (rf"{API}/kernels/{_KERNEL}/shell", RemoteShellSocket),
            (rf"{API}/kernels/{_KERNEL}/desktop/websocket", RemoteDesktopSocket),
            (rf"{API}/(?P<path>.*)", RemoteProxyHandler),
        ]
    if mode == "service":
        return [*local_routes(), *service_routes()]
    return local_routes()
