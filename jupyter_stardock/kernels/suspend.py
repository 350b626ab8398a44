"""Suspend a kernel to disk and restore it (issue 17).

Suspend: the kernel pickles its own variables into ``.stardock-suspend/`` in
its outputs folder, with a manifest of what was saved and what could not be
(an open file, a generator); the server reads that manifest (through safefs:
the kernel can plant links in that folder), records the suspend in its state
folder, and shuts the kernel down as at any shutdown: container gone, outputs
kept and archived.

Restore: the same kernelspec is started again (the same image on the same
dataset), the pickle's bytes are copied, uninterpreted, into the new kernel's
outputs folder, and the new kernel loads them itself. The server never
unpickles anything: a kernel's pickle is untrusted.
"""

from __future__ import annotations

import ast
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..core import safefs
from ..core.users import Viewer
from ..errors import InUse, KernelStartError, NotFound, StarDockError, UnsafePath
from .container import ContainerKernel
from .pause import KernelPauses, Managers
from .suspend_code import FOLDER, MANIFEST, RESTORE_FOLDER, VARIABLES, dump_code, load_code

__all__ = ["KernelSuspender", "SuspendRecord", "SuspendRecords"]

#: Seconds a suspend's or restore's code may run (a busy kernel finishes its cell first).
EXECUTE_TIMEOUT = 600.0
MANIFEST_BYTES = 1 << 20
#: At most this many names are kept from a manifest, each at most this long.
MAX_NAMES, MAX_TEXT = 2000, 300


@dataclass
class SuspendRecord:
    """A suspended kernel: what restore needs, and what the user is told."""

    kernel_id: str
    owner: str
    kernel_name: str
    environment: str
    dataset: str | None
    outputs: str
    suspended_at: float
    saved: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    modules: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _text(value: Any) -> str:
    return str(value)[:MAX_TEXT]


def parse_manifest(raw: bytes) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """A kernel's manifest, checked: (saved, skipped, modules); anything malformed is refused."""
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise UnsafePath(f"The kernel's suspend manifest is not JSON: {err}.") from err
    if not isinstance(data, dict):
        raise UnsafePath("The kernel's suspend manifest is not a JSON object.")
    saved = [_text(n) for n in list(data.get("saved") or [])[:MAX_NAMES] if isinstance(n, str)]
    skipped_raw, modules_raw = data.get("skipped") or {}, data.get("modules") or {}
    if not isinstance(skipped_raw, dict) or not isinstance(modules_raw, dict):
        raise UnsafePath("The kernel's suspend manifest has lists of the wrong kind.")
    skipped = {_text(k): _text(v) for k, v in list(skipped_raw.items())[:MAX_NAMES]}
    modules = {
        _text(k): _text(v)
        for k, v in list(modules_raw.items())[:MAX_NAMES]
        if isinstance(k, str) and k.isidentifier() and isinstance(v, str)
    }
    return saved, skipped, modules


class SuspendRecords:
    """The server's own records of suspended kernels, one JSON file each in its state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.folder = self.state_dir / "suspended"

    @staticmethod
    def _name(owner: str, kernel_id: str) -> str:
        return f"{owner}--{kernel_id}.json".replace("/", "_")

    def save(self, record: SuspendRecord) -> None:
        fd = safefs.open_dir(self.folder, trusted=self.state_dir, create=True)
        try:
            data = json.dumps(record.to_json()).encode()
            safefs.write_private_file(fd, self._name(record.owner, record.kernel_id), data)
        finally:
            os.close(fd)

    def list(self, owner: str | None = None) -> list[SuspendRecord]:
        records = []
        for found in safefs.read_files(self.folder):
            if not found.relative.endswith(".json") or found.relative.startswith("."):
                continue
            try:
                with os.fdopen(os.dup(found.fd), "rb") as f:
                    record = SuspendRecord(**json.loads(f.read()))
            except (ValueError, TypeError):
                continue
            if owner is None or record.owner == owner:
                records.append(record)
        return sorted(records, key=lambda r: r.suspended_at)

    def get(self, viewer: Viewer, kernel_id: str) -> SuspendRecord:
        for record in self.list(viewer.owner_filter):
            if record.kernel_id == kernel_id:
                return record
        raise NotFound(
            f"There is no suspended kernel {kernel_id!r}. The suspended kernels are listed in "
            "the StarDock panel and by GET /stardock/api/suspended."
        )

    def forget(self, record: SuspendRecord) -> None:
        try:
            os.unlink(self.folder / self._name(record.owner, record.kernel_id))
        except FileNotFoundError:
            pass


async def run_in_kernel(kernel: Any, code: str, expression: str | None = None) -> str | None:
    """Run ``code`` silently in a kernel manager's kernel; the text of ``expression`` after it."""
    client = kernel.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        expressions = {"r": expression} if expression else {}
        reply = await client.execute_interactive(
            code,
            silent=True,
            store_history=False,
            user_expressions=expressions,
            timeout=EXECUTE_TIMEOUT,
            output_hook=lambda msg: None,
        )
    except TimeoutError as err:
        raise InUse(
            f"The kernel did not answer within {EXECUTE_TIMEOUT:.0f} s (a long cell may be "
            "running); interrupt it and try again."
        ) from err
    finally:
        client.stop_channels()
    content = reply.get("content") or {}
    if content.get("status") != "ok":
        raise KernelStartError(
            f"The kernel could not run StarDock's code: {content.get('ename')}: {content.get('evalue')}"
        )
    if not expression:
        return None
    result = (content.get("user_expressions") or {}).get("r") or {}
    return str((result.get("data") or {}).get("text/plain", ""))


class KernelSuspender:
    """Suspend a container kernel to its outputs folder; restore it in a new kernel."""

    def __init__(
        self,
        pauses: KernelPauses,
        managers: Callable[[], Managers],
        state_dir: Path,
        *,
        local: bool,
        forget_kernel: Callable[[str], None] = lambda internal: None,
    ) -> None:
        self.pauses = pauses
        self._managers = managers
        self.records = SuspendRecords(state_dir)
        self.local = local
        self._forget_kernel = forget_kernel

    def _folder_fd(self, kernel: ContainerKernel, name: str, create: bool = False) -> int:
        outputs = kernel.launch.outputs_dir
        # The outputs folder's parent is the server's; below it the kernel can plant links.
        return safefs.open_dir(
            outputs / name,
            trusted=outputs.parent,
            create=create,
            mode=0o700,
            uid=kernel.launch.uid if create else None,
            gid=kernel.launch.gid if create else None,
        )

    async def suspend(self, viewer: Viewer, kernel_id: str) -> SuspendRecord:
        internal, kernel = self.pauses.lookup(viewer, kernel_id)
        if not self.local:
            # The user's server holds the kernel JupyterLab talks to; the service cannot
            # start it again there, so a suspend would be a shutdown with no way back.
            raise InUse(
                "Suspending a kernel is not available in a hub yet (it could not be restored "
                "from here); pause it instead to free its CPU and keep its memory."
            )
        engine = self.pauses.engine
        if await self.pauses.state_of(kernel) == "paused":
            await engine.run(engine.unpause_container_sync, kernel.container_id or "")
        manager = self._managers().get_kernel(internal)
        mount = kernel.settings.outputs_mount
        await run_in_kernel(manager, dump_code(f"{mount}/{FOLDER}"))
        try:
            raw = await engine.run(self._read_manifest, kernel)
        except (UnsafePath, OSError) as err:
            raise UnsafePath(
                f"Kernel {kernel_id} was not suspended (it keeps running): its saved variables "
                f"cannot be read safely. {err}"
            ) from err
        saved, skipped, modules = parse_manifest(raw)
        launch = kernel.launch
        record = SuspendRecord(
            kernel_id=kernel_id,
            owner=launch.owner,
            kernel_name=str(getattr(manager, "kernel_name", "") or launch.spec_name),
            environment=launch.environment,
            dataset=launch.dataset.id if launch.dataset is not None else None,
            outputs=str(launch.outputs_dir),
            suspended_at=time.time(),
            saved=saved,
            skipped=skipped,
            modules=modules,
        )
        await engine.run(self.records.save, record)
        await self._managers().shutdown_kernel(internal)  # type: ignore[attr-defined]
        self._forget_kernel(internal)
        return record

    def _read_manifest(self, kernel: ContainerKernel) -> bytes:
        fd = self._folder_fd(kernel, FOLDER)
        try:
            return safefs.read_file(
                fd, MANIFEST, max_bytes=MANIFEST_BYTES, owners={kernel.launch.uid}
            )
        finally:
            os.close(fd)

    def _copy_variables(self, record: SuspendRecord, kernel: ContainerKernel) -> None:
        old = Path(record.outputs)
        src = safefs.open_dir(old / FOLDER, trusted=old.parent)
        try:
            dst = self._folder_fd(kernel, RESTORE_FOLDER, create=True)
            try:
                safefs.copy_file(src, VARIABLES, dst, uid=kernel.launch.uid, gid=kernel.launch.gid)
            finally:
                os.close(dst)
        finally:
            os.close(src)

    async def restore(self, viewer: Viewer, kernel_id: str) -> dict[str, Any]:
        record = self.records.get(viewer, kernel_id)
        managers: Any = self._managers()
        try:
            new_id = str(await managers.start_kernel(kernel_name=record.kernel_name))
        except KeyError as err:  # jupyter_client's NoSuchKernel
            raise NotFound(
                f"The kernelspec {record.kernel_name} of the suspended kernel is gone (its "
                "environment was removed); build the environment again, then restore."
            ) from err
        try:
            kernel = self.pauses.container(new_id)
            engine = self.pauses.engine
            await engine.run(self._copy_variables, record, kernel)
            mount = kernel.settings.outputs_mount
            text = await run_in_kernel(
                managers.get_kernel(new_id),
                load_code(f"{mount}/{RESTORE_FOLDER}", record.modules),
                "__stardock_restored",
            )
            await run_in_kernel(managers.get_kernel(new_id), "del __stardock_restored")
            loaded, failed = _restored(text or "")
        except (StarDockError, OSError):
            await managers.shutdown_kernel(new_id)
            raise
        await engine.run(self.records.forget, record)
        skipped = {**record.skipped, **failed}
        return {
            "id": new_id,
            "restored_from": kernel_id,
            "kernel_name": record.kernel_name,
            "loaded": loaded,
            "modules": sorted(record.modules),
            "skipped": skipped,
        }


def _restored(text: str) -> tuple[list[str], dict[str, str]]:
    """What the new kernel says it loaded (its repr of a JSON string), checked."""
    try:
        data = json.loads(ast.literal_eval(text))
    except (ValueError, SyntaxError, TypeError) as err:
        raise KernelStartError("The restored kernel did not say what it loaded.") from err
    loaded = [_text(n) for n in list(data.get("loaded") or [])[:MAX_NAMES]]
    failed = {_text(k): _text(v) for k, v in list((data.get("failed") or {}).items())[:MAX_NAMES]}
    return loaded, failed
