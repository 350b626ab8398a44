"""``jupyter stardock pause|resume|suspend|restore KERNEL`` (issue 17), over the client only."""

from __future__ import annotations

from ..client import pause as pause_client
from .user import ServerCommand

__all__ = ["PAUSE_COMMANDS"]


class _KernelAction(ServerCommand):
    def run(self) -> None:
        if len(self.extra_args) != 1:
            self.fail(
                f"name one kernel to {self.name}; list them with `%stardock kernels` or "
                "GET /stardock/api/kernels (suspended ones: /stardock/api/suspended).",
                2,
            )
        reply, text = pause_client.run(self.client(), self.name, self.extra_args[0])
        self.emit(reply, text)


def _command(name: str, description: str) -> type[_KernelAction]:
    attributes = {
        "name": name,
        "description": description,
        "examples": f"jupyter stardock {name} 19ed8d3a",
    }
    return type(f"{name.title()}Command", (_KernelAction,), attributes)


PAUSE_COMMANDS = tuple(
    _command(name, description)
    for name, description in (
        ("pause", "Pause a kernel: memory kept, no CPU used, what is sent to it waits."),
        ("resume", "Resume a paused kernel; what was sent to it meanwhile is answered."),
        ("suspend", "Save a kernel's variables to its outputs folder, then stop its container."),
        ("restore", "Start a suspended kernel again, same environment, with its variables."),
    )
)
