"""A kernel's outputs archive: the manifest of its run, and the archive of orphaned containers.

A kernel stopped by its own server is archived from its launch
(:meth:`ContainerKernel.finish`); a container whose server is gone is archived
from what the container itself says (its labels, mounts and image), never from
a lookup in the configuration of the server that happens to find it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._version import __version__
from ..core.datasets import Dataset
from ..core.outputs import Archive, ArchiveStore, checksum_listing
from ..core.outputs_mounts import release_outputs
from ..core.staging import read_manifest  # issue 19
from ..engine import Engine
from ..labels import EnvironmentLabels, KernelLabels
from ..services.locks import LockStore
from .launch import KernelLaunch, KernelSettings, MountedDataset, container_uid, mounted_dataset
from .notebooks import SessionNotebooks, read_notebooks
from .runtime import drop_labelled_folders, quota_images, server_is_root

__all__ = ["LOG_TAIL", "archive_launch", "archive_orphans", "build_manifest"]

log = logging.getLogger(__name__)

#: The container log lines an archive keeps (its manifest keeps their last 20000 characters).
LOG_TAIL = 200


def build_manifest(
    *,
    kernel_id: str,
    kernel_name: str,
    image: str,
    image_id: str,
    environment: str,
    recipe: Mapping[str, Any],
    dockerfile: str,
    dataset: Dataset | MountedDataset | None,
    outputs: Path,
    started: float,
    last_logs: str,
    stopped: float | None = None,
    note: str | None = None,
    owner: str = "",
    lock: Mapping[str, Any] | None = None,
    notebooks: Sequence[str] = (),
) -> dict[str, Any]:
    """What an archive says about the run that made it (blocking: checksums the dataset).

    ``dataset`` is what the container had mounted: the launch's own dataset, or
    :func:`mounted_dataset` of the container, never a lookup by id in the
    configuration of the server that happens to write the archive.
    """
    manifest: dict[str, Any] = {
        "format": "jupyter-stardock archive 1",
        "stardock_version": __version__,
        "kernel_id": kernel_id,
        "owner": owner,
        "kernel_name": kernel_name,
        "environment": environment,
        "image": image,
        "image_id": image_id,
        "recipe": dict(recipe),
        "dockerfile": dockerfile,
        "dataset": None,
        "outputs_folder": str(outputs),
        "started": started,
        "stopped": stopped or time.time(),
        "container_log_tail": last_logs[-20000:],
    }
    # issue 17: the environment's exact versions, and which notebooks the archive holds
    manifest["lock"] = dict(lock) if lock else None
    manifest["notebooks"] = list(notebooks)
    if note:
        manifest["note"] = note
    if dataset is not None:
        manifest["dataset"] = {
            "id": dataset.id,
            "title": dataset.title,
            "path": str(dataset.path),
            "checksums": checksum_listing(dataset.path),
        }
        # issue 19: a staged dataset's provenance (each file's archive, source, time, checksum).
        provenance = read_manifest(dataset.path)
        if provenance is not None:
            manifest["dataset"]["provenance"] = provenance
    return manifest


def _archive_owners(uid: int | None) -> set[int] | None:
    """A root server archives only files of the kernel's own uid (None: any file it can read).

    An unknown uid under root archives no file rather than a host's.
    """
    if not server_is_root():
        return None
    return {uid} if uid is not None else set()


async def _lock_json(engine: Engine, image_ref: str, state: Path) -> dict[str, Any] | None:
    """issue 17: the image's lock, kept by the server or taken now; None without an image."""
    image = await engine.image(image_ref) if image_ref else None
    if image is None:
        return None
    return await LockStore(engine, state / "locks").for_build(image, log.info)


async def archive_launch(
    engine: Engine, launch: KernelLaunch, last_logs: str, sessions: SessionNotebooks | None = None
) -> Archive:
    """Archive the outputs of a kernel this server started (or adopted) and has stopped.

    ``sessions`` names the notebooks that ran on it; they go in as saved (issue 17).
    """
    k = launch
    notebooks = await engine.run_long(read_notebooks, sessions)
    manifest = await engine.run_long(
        build_manifest,
        # The id its owner knows it by; the archive's file is named by our own.
        kernel_id=k.known_as,
        kernel_name=k.kernel_name,
        image=k.image,
        image_id=k.image_id,
        environment=k.environment,
        recipe=k.recipe,
        dockerfile=k.dockerfile,
        dataset=k.dataset,
        outputs=k.outputs_dir,
        started=k.started,
        last_logs=last_logs,
        owner=k.owner,
        lock=await _lock_json(engine, k.image_id or k.image, k.state_dir),
        notebooks=sorted(notebooks),
    )
    return await engine.run_long(
        ArchiveStore(k.archive_dir).create,
        k.kernel_id,
        k.outputs_dir,
        manifest,
        owners=_archive_owners(k.uid),
        notebooks=notebooks,
    )


async def archive_orphans(
    engine: Engine,
    containers: Sequence[Mapping[str, Any]],
    *,
    note: str = "Archived by a later server of the same user and folders: the server had "
    "stopped without shutting this kernel down.",
) -> list[str]:
    """Archive, then remove, kernel containers whose server is gone (``containers_sync`` entries).

    Which ones are orphans is the caller's decision (StarDockApp.reconcile, from
    the server leases): this never looks at anything else. Each archive goes
    where its container's labels say, with the dataset it had mounted. Returns
    the kernel ids handled.
    """
    handled = []
    for summary in containers:
        kernel = KernelLabels.from_labels(summary.get("Labels"))
        if kernel is None or not kernel.archives:
            continue
        kernel_id, archive_dir = kernel.kernel_id, Path(kernel.archives)
        container_id = summary["Id"]
        # Its own server would have stopped it with the default grace (no settings here).
        await engine.run_long(engine.stop_container_sync, container_id, KernelSettings.stop_timeout)
        logs = await engine.run(engine.container_logs_sync, container_id, LOG_TAIL)
        data = await engine.run(engine.inspect_container_sync, container_id) or {}
        image = await engine.image(summary.get("ImageID") or summary.get("Image", ""))
        outputs = Path(kernel.outputs)
        built = EnvironmentLabels.from_labels(image.labels) if image is not None else None
        manifest = await engine.run_long(
            build_manifest,
            kernel_id=kernel.client_id,
            kernel_name=kernel.name,
            image=summary.get("Image", ""),
            image_id=image.id if image else "",
            environment=kernel.environment,
            recipe=dict(built.recipe) if built else {},
            dockerfile=built.dockerfile if built else "",
            dataset=mounted_dataset(data),
            outputs=outputs,
            started=kernel.started,
            last_logs=logs,
            note=note,
            owner=kernel.owner,
            lock=await _lock_json(engine, image.id if image else "", archive_dir.parent),
        )
        store = ArchiveStore(archive_dir)
        if outputs.is_dir() and not store.exists(kernel_id):
            user = str((data.get("Config") or {}).get("User") or "")
            await engine.run_long(
                store.create,
                kernel_id,
                outputs,
                manifest,
                owners=_archive_owners(container_uid(user)),
            )
        await engine.run(engine.remove_container_sync, container_id)
        await engine.run_long(_drop_orphan_folders, kernel, archive_dir.parent)
        handled.append(kernel_id)
        log.warning("StarDock: archived and removed the orphaned kernel container of %s", kernel_id)
    return handled


def _drop_orphan_folders(kernel: KernelLabels, state: Path) -> None:
    """After an orphan's archive: its outputs mount, connection file and ipc folder go.

    The paths come from the container's labels; each is used only where this
    server makes such folders.
    """
    if kernel.outputs:
        release_outputs(Path(kernel.outputs), images=quota_images(state))
    drop_labelled_folders(kernel, state)
