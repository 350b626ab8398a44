"""Every label is written and read by labels.py: round trips, and readers of other kinds."""

from __future__ import annotations

from jupyter_stardock import labels
from jupyter_stardock.labels import (
    BaseImageLabels,
    EnvironmentLabels,
    KernelLabels,
    ServerLabels,
)


def test_kernel_labels_round_trip() -> None:
    kernel = KernelLabels(
        kernel_id="k1",
        name="Astropy",
        spec="stardock-abc",
        owner="ana",
        environment="stardock/env:abc",
        dataset="m51",
        dataset_title="M51 (WIYN ODI)",
        data_mount="/data",
        outputs="/srv/out/k1",
        outputs_view="/home/ana/stardock-outputs/k1",
        archives="/srv/state/archives",
        started=1700000000.125,
        runtime="/srv/state/runtime/ab",
        ipc="/run/stardock-kernels/cd",
        client_id="c1",
        server=ServerLabels(instance="i1", lineage="l1"),
        version="0.1",
    )
    written = kernel.to_labels()
    assert all(key.startswith(labels.PREFIX + ".") for key in written)
    assert written[labels.KERNEL] == "k1"
    assert KernelLabels.from_labels(written) == kernel


def test_kernel_labels_of_an_older_container() -> None:
    # No lineage, no client id, a started time that does not parse: still readable.
    old = {labels.KERNEL: "k2", f"{labels.KERNEL}.started": "soon"}
    kernel = KernelLabels.from_labels(old)
    assert kernel is not None
    assert (kernel.client_id, kernel.started, kernel.server) == ("k2", 0.0, None)
    assert KernelLabels.from_labels({}) is None
    assert KernelLabels.from_labels(None) is None


def test_environment_labels_round_trip_and_build_labels() -> None:
    env = EnvironmentLabels(
        recipe={"apps": ["astropy"], "commands": ["echo é"]},
        content_hash="ab" * 32,
        apps=("astropy",),
        base_image="sha256:" + "cd" * 32,
    )
    written = {**env.to_labels(), **EnvironmentLabels.build_labels("FROM x\n", "b1")}
    assert written[labels.ENVIRONMENT] == "1"
    assert "é" in written[labels.RECIPE]  # canonical JSON keeps the user's text as typed
    read = EnvironmentLabels.from_labels(written)
    assert read is not None
    assert (read.recipe, read.apps, read.dockerfile, read.build_id, read.env_id) == (
        env.recipe,
        ("astropy",),
        "FROM x\n",
        "b1",
        "ab" * 8,
    )
    # A kernel container's labels are not an environment's.
    assert EnvironmentLabels.from_labels({labels.KERNEL: "k"}) is None


def test_base_image_labels_round_trip() -> None:
    base = BaseImageLabels(
        from_ref="debian:bookworm", from_id="sha256:1", extra_ca=("b.crt", "a.crt")
    )
    read = BaseImageLabels.from_labels(base.to_labels())
    assert read is not None
    assert read.extra_ca == ("a.crt", "b.crt") and read.from_ref == "debian:bookworm"
    assert BaseImageLabels.from_labels({labels.ENVIRONMENT: "1"}) is None
