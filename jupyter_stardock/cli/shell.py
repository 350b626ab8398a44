"""``jupyter stardock shell KERNEL``: a shell inside one of your running kernels' containers.

The "SSH command" of a StarDock kernel: the same user, mounts and hardening as the
kernel, /outputs as the working folder. JupyterLab's terminals of a kernel run
this module (``python -m jupyter_stardock.cli.shell KERNEL``) on their pty.
Imports only the client, like every user command.
"""

from __future__ import annotations

from ..client.shell import resolve_kernel, run_shell
from .user import ServerCommand

__all__ = ["ShellCommand"]


class ShellCommand(ServerCommand):
    name = "shell"
    description = """Open a shell inside a running StarDock kernel's container (as the kernel's
    user, in /outputs); it ends when you exit it or when the kernel stops."""
    examples = """
    jupyter stardock shell 3f2a
    jupyter stardock shell 3f2a9c1e-0d5b-4c4e-9a77-1b2c3d4e5f60 --url http://127.0.0.1:8888/
    """

    def run(self) -> None:
        if len(self.extra_args) != 1:
            self.fail("give one kernel id (or the start of one): jupyter stardock shell KERNEL")
        client = self.client()
        status = run_shell(client, resolve_kernel(client, self.extra_args[0]))
        self.exit(status)


if __name__ == "__main__":
    ShellCommand.launch_instance()
