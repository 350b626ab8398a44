"""Talking to a kernel over jupyter_server's websocket, as JupyterLab does."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import secrets
import shutil
import stat
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _message(msg_type: str, content: dict[str, Any], channel: str = "shell") -> dict[str, Any]:
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "username": "test",
            "session": uuid.uuid4().hex,
            "version": "5.3",
            "date": "",
        },
        "parent_header": {},
        "metadata": {},
        "content": content,
        "channel": channel,
        "buffers": [],
    }


async def execute(ws: Any, code: str, timeout: float = 120) -> dict[str, Any]:
    """Run code; returns stdout, stderr, the error (ename) and display data of that request."""
    request = _message(
        "execute_request",
        {"code": code, "silent": False, "store_history": False, "allow_stdin": False},
    )
    await ws.write_message(json.dumps(request))
    result: dict[str, Any] = {
        "stdout": "",
        "stderr": "",
        "error": None,
        "display": [],
        "status": None,
    }
    msg_id = request["header"]["msg_id"]
    idle = reply = False

    async def read() -> None:
        nonlocal idle, reply
        while not (idle and reply):
            raw = await ws.read_message()
            if raw is None:
                raise ConnectionError("the kernel websocket closed")
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                result[content["name"]] += content["text"]
            elif kind == "error":
                result["error"] = content["ename"]
            elif kind in ("display_data", "execute_result"):
                result["display"].append(content["data"])
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
            elif kind == "execute_reply":
                reply = True
                result["status"] = content["status"]

    await asyncio.wait_for(read(), timeout)
    return result


async def wait_ready(ws: Any, timeout: float = 60) -> None:
    """kernel_info until the kernel answers on shell *and* iopub (it may still be starting).

    After a restart the shell reply can come before the server's iopub subscription
    is live; an execute then would lose its output. The status messages a
    kernel_info_request causes on iopub show that it is.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        request = _message("kernel_info_request", {})
        await ws.write_message(json.dumps(request))
        replied = published = False
        try:
            while not (replied and published):
                raw = await asyncio.wait_for(ws.read_message(), 2)
                msg = json.loads(raw)
                if msg["parent_header"].get("msg_id") != request["header"]["msg_id"]:
                    continue
                replied = replied or msg["msg_type"] == "kernel_info_reply"
                published = published or msg["msg_type"] == "status"
            return
        except TimeoutError:
            if asyncio.get_running_loop().time() > deadline:
                raise


async def send_execute(ws: Any, code: str) -> str:
    """Send code without waiting for an answer (code that ends the kernel gets none)."""
    request = _message(
        "execute_request",
        {"code": code, "silent": False, "store_history": False, "allow_stdin": False},
    )
    await ws.write_message(json.dumps(request))
    return str(request["header"]["msg_id"])


# -- hostile kernels and users (issue 12): the victims tests make, and what must not change


@contextlib.contextmanager
def root_only_file() -> Iterator[Path]:
    """A root-owned 0600 file, with content no one else knows, in a root-only 0700 folder."""
    folder = Path(tempfile.mkdtemp(prefix="stardock-victim-", dir="/var/tmp"))
    try:
        os.chmod(folder, 0o700)
        secret = folder / "secret.txt"
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, f"root's secret {secrets.token_hex(16)}\n".encode())
        os.close(fd)
        yield secret
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class Snapshot:
    """What must not change about a victim: kind, content (a folder: its names), owner, mode."""

    kind: str
    digest: str
    uid: int
    gid: int
    mode: int
    nlink: int


def snapshot(path: Path) -> Snapshot:
    """The path itself, never what a link there points at."""
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        digest = hashlib.sha256("\n".join(sorted(os.listdir(path))).encode()).hexdigest()
        kind = "folder"
    elif stat.S_ISREG(st.st_mode):
        digest, kind = hashlib.sha256(path.read_bytes()).hexdigest(), "file"
    else:
        digest, kind = "", stat.filemode(st.st_mode)
    return Snapshot(kind, digest, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_nlink)


def snapshots(paths: list[Path]) -> dict[str, Snapshot]:
    return {str(p): snapshot(p) for p in paths}


def changed(before: dict[str, Snapshot]) -> dict[str, str]:
    """The victims that are not as they were: path -> 'before -> now'."""
    now = snapshots([Path(p) for p in before])
    return {p: f"{before[p]} -> {now[p]}" for p in before if now[p] != before[p]}


def tar_files(raw: bytes) -> dict[str, bytes]:
    """Every file of a tar.gz archive with its bytes (a hard link reads as its file)."""
    files = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for member in tar.getmembers():
            if member.isfile() or member.islnk():
                extracted = tar.extractfile(member)
                files[member.name] = extracted.read() if extracted else b""
    return files


def holding(files: dict[str, bytes], victims: list[Path]) -> list[str]:
    """Which files hold a victim's content."""
    secrets_ = [v.read_bytes() for v in victims]
    return [name for name, data in files.items() if any(s in data for s in secrets_)]


#: Attacker's Python (in a kernel, or in a user's shell): ``swap_tree(tops, victims)``
#: replaces every file below ``tops`` with a symlink to a victim and plants symlinks to
#: them in every folder, at spare names and at the names the server writes
#: (connection file, ipc sockets). ``report`` says what it did, for failure messages.
LINK_SWAPPER = r"""
import json, os
report = {"replaced": [], "planted": 0, "errors": set()}

def swap(path, target):
    tmp = path + '.swap'
    try:
        os.symlink(target, tmp)
        os.replace(tmp, path)
        report["replaced"].append(path)
    except OSError as err:
        report["errors"].add(f"{path}: {err.strerror}")
        try:
            os.unlink(tmp)
        except OSError:
            pass

def plant(folder, victims, first):
    names = {'connection.json': first, 'kernel.json': first, 'k': first}
    names.update({f'k-{i}': first for i in range(1, 6)})
    for i, target in enumerate(victims + [os.path.dirname(v) for v in victims]):
        names[f'planted-{i}'] = target
    for name, target in names.items():
        link = os.path.join(folder, name)
        if os.path.lexists(link):
            continue
        try:
            os.symlink(target, link)
            report["planted"] += 1
        except OSError as err:
            report["errors"].add(f"{link}: {err.strerror}")

def swap_tree(tops, victims, first, skip=()):
    for top in tops:
        for folder, dirs, files in os.walk(top):
            for name in files:
                path = os.path.join(folder, name)
                if path not in skip and not name.startswith('planted-'):
                    swap(path, victims[len(report["replaced"]) % len(victims)])
            plant(folder, victims, first)

def summary(**more):
    return json.dumps({**report, "errors": sorted(report["errors"])[:20], **more})
"""
