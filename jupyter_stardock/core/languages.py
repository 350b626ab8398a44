"""The languages an environment has a Jupyter kernel for (issue 18).

Every environment has Python (ipykernel, from the base image). An app whose
catalog entry names a ``kernel`` adds one more kernelspec for the same
environment and dataset: same image, same container settings, mounts and
hardening; only the command the container runs differs. The commands live here,
in code, not in the catalog: a catalog entry picks one by its id.

IRkernel (Debian's ``r-cran-irkernel``) binds ``<transport>://<ip>:<port>``,
which for ZeroMQ's ipc transport is the socket file ``k:1`` where Jupyter's
clients look for ``k-1``. Its launcher links each Jupyter name to IRkernel's in
the kernel's own ipc folder (the links are relative, so they stay inside it).
IRkernel has no CurveZMQ: over TCP it needs ``encrypt_tcp`` off, and says so.

GDL: neither Debian 12 nor PyPI has a maintained Jupyter kernel for it (PyPI's
``idl_kernel`` last changed in 2015 and speaks an old protocol), so GDL stays
callable from Python (``subprocess.run(["gdl", "-quiet", "-e", ...])``) and its
catalog entry says so.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import KernelStartError

__all__ = ["LANGUAGES", "PYTHON", "Language", "check_language", "languages_of"]


@dataclass(frozen=True)
class Language:
    """One kernel language: its kernelspec fields and the container's command for it."""

    id: str
    #: As the kernelspec and the launcher show it.
    title: str
    #: The kernelspec's "language" (what notebooks record in their metadata).
    language: str
    #: "message" for kernels that handle interrupt_request, else "signal".
    interrupt_mode: str
    #: The kernelspec's argv, as documentation (the provisioner builds the real command).
    argv: tuple[str, ...]
    #: Whether the kernel speaks CurveZMQ (per-kernel keys on TCP).
    curve: bool
    #: The shell's last step, which starts the kernel on the copied connection file.
    run: str

    def command(
        self, connection_file: str, ipc_dir: str, ipc_socket: str, ports: Iterable[int]
    ) -> list[str]:
        """The container's command: copy the read-only connection file, then start the kernel."""
        copy = f"cp {shlex.quote(connection_file)} {_COPY}"
        links = " ".join(
            f"ln -sf {shlex.quote(f'{ipc_socket}:{port}')} "
            f"{shlex.quote(f'{ipc_dir}/{ipc_socket}-{port}')};"
            for port in ports
        )
        # The links only where the ipc folder is mounted (the TCP transport has none).
        folder = shlex.quote(ipc_dir)
        return ["/bin/sh", "-c", f"{copy} && if [ -d {folder} ]; then {links} fi; {self.run}"]

    def check_transport(self, transport: str, encrypted: bool) -> None:
        if transport == "tcp" and encrypted and not self.curve:
            raise KernelStartError(
                f"{self.title} kernels cannot encrypt their TCP traffic (the kernel has no "
                "CurveZMQ). Ask the operator to run kernels without network (the default), or "
                "to turn c.StarDockProvisioner.encrypt_tcp off for a trusted network."
            )


#: Every environment's kernel; its command is the provisioner's own (kernels/launch.py).
PYTHON = "python"
#: The kernel's private copy of its connection file, in the container's own /tmp.
_COPY = "/tmp/stardock-connection.json"

LANGUAGES: Mapping[str, Language] = {
    "r": Language(
        id="r",
        title="R",
        language="R",
        interrupt_mode="signal",
        argv=("R", "--slave", "-e", "IRkernel::main()", "--args", "{connection_file}"),
        curve=False,
        run=f"exec R --no-save --no-restore --slave -e 'IRkernel::main()' --args {_COPY}",
    ),
}


def languages_of(kernels: Iterable[str | None]) -> list[Language]:
    """The extra languages of an environment, from its apps' ``kernel`` fields, in order."""
    seen = dict.fromkeys(k for k in kernels if k)
    return [LANGUAGES[k] for k in seen if k in LANGUAGES]


def check_language(language: str, transport: str, encrypted: bool) -> None:
    """Refuse, with a sentence, a kernel language StarDock cannot start on this transport."""
    if language == PYTHON:
        return
    if language not in LANGUAGES:
        raise KernelStartError(
            f"This kernelspec asks for a {language!r} kernel, which this StarDock cannot "
            "start. Build the environment again to refresh its kernelspecs."
        )
    LANGUAGES[language].check_transport(transport, encrypted)
