"""What differs when Podman answers the Docker API (issue 18), without an engine."""

from __future__ import annotations

from jupyter_stardock.engine import ContainerSpec
from jupyter_stardock.engine.client import engine_product, podman_spec
from jupyter_stardock.engine.types import ImageInfo


def test_podman_is_told_from_docker_engine_by_its_version_components() -> None:
    podman = {"Components": [{"Name": "Podman Engine", "Version": "4.3.1"}], "Version": "4.3.1"}
    docker = {"Components": [{"Name": "Engine", "Version": "20.10.24"}], "Version": "20.10.24"}
    assert engine_product(podman) == "Podman"
    assert engine_product(docker) == "Docker Engine"
    assert engine_product({}) == "Docker Engine"


def test_podmans_qualified_tags_are_read_in_their_familiar_form() -> None:
    image = ImageInfo.from_inspect(
        {
            "Id": "sha256:1",
            "RepoTags": [
                "docker.io/stardock/env:0123",
                "localhost/stardock/base:latest",
                "docker.io/library/debian:bookworm",
                "registry.example.org:5000/stardock/env:0123",
            ],
        }
    )
    assert image.tags == (
        "stardock/env:0123",
        "stardock/base:latest",
        "debian:bookworm",
        "registry.example.org:5000/stardock/env:0123",
    )


def test_a_tmpfs_owned_by_the_kernels_user_is_spelled_u_for_podman() -> None:
    spec = ContainerSpec(
        image="x",
        command=["true"],
        user="1000:1000",
        tmpfs={
            "/tmp": "rw,nosuid,nodev,size=1g,mode=1777",
            "/home/stardock": "rw,nosuid,nodev,size=256m,uid=1000,gid=1000,mode=0700",
        },
    )
    assert podman_spec(spec).tmpfs == {
        "/tmp": "rw,nosuid,nodev,size=1g,mode=1777",
        "/home/stardock": "rw,nosuid,nodev,size=256m,mode=0700,U",
    }
