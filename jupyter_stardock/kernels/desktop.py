"""The desktop of a kernel: TigerVNC's X server inside its container, reached through an exec.

Xtigervnc runs as the kernel's user in the kernel's container (so it counts against
the kernel's memory limit, sees /data as the kernel does, and stops with it) and
listens only on a unix socket in the container's private /tmp: no TCP port, and
the container keeps no network. Nothing on the host ever connects to that socket:
the kernel can replace it (a symlink to the engine's socket, say), so the server
instead starts a small relay *inside* the container, with the kernel's own rights,
and bridges the relay's stdio to the browser's websocket. Whatever the relay
reaches, the kernel could reach already. docs/terminal-desktop.md says more.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import Forbidden, NotFound, StarDockError
from .launch import KERNEL_PYTHON

__all__ = ["DESKTOP_DIR", "DISPLAY", "relay_command", "start_command", "start_problem"]

#: In the container's own /tmp (a tmpfs no other container or host user sees).
DESKTOP_DIR = "/tmp/.stardock-desktop"
VNC_SOCKET = f"{DESKTOP_DIR}/vnc"
DISPLAY = ":1"
GEOMETRY = "1600x1000"

_NO_APP = 3
_NO_SOCKET = 4
_REPLACED = 5

# Start Xtigervnc unless it runs (its name among the container's processes: the
# container is the kernel's own pid namespace), then wait for its socket. The exec
# that runs this ends at once; Xtigervnc stays, a child of the container's init,
# until the kernel's container stops. /tmp/.X11-unix is made first: as a user,
# the X server would not make it, and X clients (ds9, Tk) look for it there.
_START = f"""
d={DESKTOP_DIR}; s={VNC_SOCKET}
command -v Xtigervnc >/dev/null 2>&1 || exit {_NO_APP}
running() {{
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = Xtigervnc ] && return 0
  done
  return 1
}}
mkdir -p -m 700 "$d"
mkdir -p -m 1777 /tmp/.X11-unix 2>/dev/null
if ! running; then
  rm -f "$s" /tmp/.X{DISPLAY[1:]}-lock /tmp/.X11-unix/X{DISPLAY[1:]}
  setsid Xtigervnc {DISPLAY} -rfbunixpath "$s" -rfbunixmode 0600 -rfbport -1 \\
    -nolisten tcp -SecurityTypes None -AlwaysShared -geometry {GEOMETRY} -depth 24 \\
    -desktop StarDock </dev/null >"$d/log" 2>&1 &
  started=$!
fi
i=0
while [ -L "$s" ] || ! [ -S "$s" ]; do
  # It ran before this call and its socket is gone or not a socket: the kernel did that.
  if [ -L "$s" ] || [ -z "${{started:-}}" ]; then exit {_REPLACED}; fi
  i=$((i + 1))
  if [ $i -gt 150 ] || {{ [ -n "${{started:-}}" ] && ! kill -0 "$started"; }}; then tail -n 5 "$d/log" >&2; exit {_NO_SOCKET}; fi
  sleep 0.1
done
"""

# The relay: the socket's bytes to stdout, stdin's to the socket (the exec's stdio).
_RELAY = """
import os, socket, sys, threading
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
def up():
    while data := os.read(0, 65536):
        s.sendall(data)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=up, daemon=True).start()
while data := s.recv(65536):
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]
"""


def start_command() -> Sequence[str]:
    return ("/bin/sh", "-c", _START)


def relay_command() -> Sequence[str]:
    return (KERNEL_PYTHON, "-c", _RELAY, VNC_SOCKET)


def start_problem(code: int, output: bytes) -> StarDockError | None:
    """What went wrong starting the X server (None: it runs)."""
    if code == 0:
        return None
    if code == _NO_APP:
        return NotFound(
            "This kernel's environment has no desktop: build it with the "
            "'Desktop (noVNC)' app to see X programs (DS9, TOPCAT) in the browser."
        )
    if code == _REPLACED:
        # Only the kernel itself can have done it: its desktop is gone until it restarts.
        return Forbidden(
            "The kernel's desktop socket was removed or replaced from inside the kernel; "
            "restart the kernel to get a desktop again."
        )
    said = output.decode(errors="replace").strip()[-400:]
    return StarDockError(f"The kernel's X server did not start ({said or f'exit {code}'}).")
