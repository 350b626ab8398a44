"""The Docker Engine: the only package that imports docker.

types.py       what the engine answers and is asked for (plain dataclasses)
client.py      Engine, the async facade; every call off the event loop
connection.py  per-thread docker-py clients, and docker's failures as our errors
build.py       one classic build: streamed, cancellable, no container left behind
build_stream.py  the build's JSON stream as log lines, and how it is cut
context.py     the build context tar
references.py  image references split into repository and tag
registry.py    push, pull and manifest deletion at the site's private registry (issue 16)
exec.py        an exec with a tty inside a kernel's container: shells, the desktop's relay (issue 15)
backend.py     the KernelBackend Protocol a second backend (Swarm, Kubernetes) implements (issue 16)
"""

from .client import Engine
from .connection import DEFAULT_SOCKET
from .context import make_context_tar
from .types import BindMount, BuildResult, ContainerSpec, EngineInfo, ImageInfo

__all__ = [
    "DEFAULT_SOCKET",
    "BindMount",
    "BuildResult",
    "ContainerSpec",
    "Engine",
    "EngineInfo",
    "ImageInfo",
    "make_context_tar",
]
