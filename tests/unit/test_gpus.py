"""GPUs (issue 18): the operator's setting, the environment's opt-in, the engine's device request."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from docker.api import APIClient

from jupyter_stardock.core.catalog import Catalog
from jupyter_stardock.core.gpus import ALL_GPUS, GpuRequest, environment_wants_gpus, parse_gpus
from jupyter_stardock.core.recipe import Recipe, compose
from jupyter_stardock.core.users import Viewer
from jupyter_stardock.engine import ContainerSpec
from jupyter_stardock.engine.client import host_config
from jupyter_stardock.engine.types import EngineInfo
from jupyter_stardock.errors import KernelStartError, QuotaExceeded, RecipeError
from jupyter_stardock.kernels.launch import KernelLaunch, KernelSettings, container_spec
from jupyter_stardock.kernels.provisioner import StarDockProvisioner
from jupyter_stardock.labels import EnvironmentLabels
from jupyter_stardock.services.environments import Quotas
from jupyter_stardock.services.hub_kernels import HubKernels

from .test_environments_service import ENV, FakeBuilds, image, service
from .test_hub_kernels import ANA, KERNEL, FakeKernelManager, FakeKernelSite

BASE_ID = "sha256:" + "b" * 64


@pytest.mark.parametrize(
    ("value", "request_"),
    [
        (None, None),
        ("", None),
        (0, None),
        ("0", None),
        ("all", GpuRequest(count=ALL_GPUS)),
        (" ALL ", GpuRequest(count=ALL_GPUS)),
        (1, GpuRequest(count=1)),
        ("2", GpuRequest(count=2)),
        ("0,1", GpuRequest(device_ids=("0", "1"))),
        (["GPU-3a4f", "1"], GpuRequest(device_ids=("GPU-3a4f", "1"))),
        ("GPU-3a4f-77", GpuRequest(device_ids=("GPU-3a4f-77",))),
    ],
)
def test_the_setting_reads_all_a_count_or_device_ids(value: Any, request_: Any) -> None:
    assert parse_gpus(value) == request_


@pytest.mark.parametrize("value", ["two", -3, "0,,1", True, "0;rm -rf /", 1.5])
def test_a_setting_that_cannot_be_meant_is_refused_with_a_sentence(value: Any) -> None:
    with pytest.raises(RecipeError) as info:
        parse_gpus(value)
    assert str(info.value) == (
        f"c.StarDockProvisioner.gpus = {value!r} is not understood: use 'all', a number of "
        "GPUs (e.g. 1), or device ids or UUIDs separated by commas (e.g. '0,1' or "
        "'GPU-3a4f...'); None for no GPUs."
    )


def test_the_user_sees_the_sentence_when_a_kernel_starts() -> None:
    provisioner = StarDockProvisioner(gpus="two")
    with pytest.raises(KernelStartError) as info:
        provisioner.kernel_settings()
    assert str(info.value).startswith("c.StarDockProvisioner.gpus = 'two' is not understood")
    assert StarDockProvisioner(gpus="all").kernel_settings().gpus == GpuRequest(count=ALL_GPUS)
    assert StarDockProvisioner().kernel_settings().gpus is None  # none by default


def test_the_recipe_opts_in_and_makes_an_image_of_its_own() -> None:
    assert Recipe.from_json({"gpus": True}).gpus
    assert not Recipe.from_json({}).gpus
    with pytest.raises(RecipeError, match="'gpus' must be true or false"):
        Recipe.from_json({"gpus": "yes"})
    catalog = Catalog([])
    plain = compose(Recipe(), catalog, BASE_ID)
    gpu = compose(Recipe(gpus=True), catalog, BASE_ID)
    assert gpu.content_hash != plain.content_hash
    assert "ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility" in gpu.dockerfile
    assert "NVIDIA" not in plain.dockerfile
    # The label's recipe (what a kernel start reads) says so; a plain one stays as before.
    assert gpu.recipe.to_json()["gpus"] is True and "gpus" not in plain.recipe.to_json()
    assert environment_wants_gpus(gpu.recipe.to_json())
    assert not environment_wants_gpus(plain.recipe.to_json())


def _launch(tmp_path: Path, recipe: dict[str, Any]) -> KernelLaunch:
    return KernelLaunch(
        kernel_id="k-1",
        kernel_name="StarDock · GPU",
        image="stardock/env:abc",
        environment="abc",
        dataset=None,
        outputs_dir=tmp_path / "out",
        runtime_dir=tmp_path / "run",
        archive_dir=tmp_path / "archives",
        uid=1000,
        gid=1000,
        recipe=recipe,
    )


def test_only_an_environment_that_opted_in_gets_the_operators_gpus(tmp_path: Path) -> None:
    one = KernelSettings(gpus=GpuRequest(count=1))
    spec = container_spec(one, _launch(tmp_path, {"gpus": True}), {})
    assert (spec.gpu_count, spec.gpu_device_ids) == (1, ())
    spec = container_spec(one, _launch(tmp_path, {}), {})
    assert (spec.gpu_count, spec.gpu_device_ids) == (0, ())
    spec = container_spec(KernelSettings(), _launch(tmp_path, {"gpus": True}), {})
    assert (spec.gpu_count, spec.gpu_device_ids) == (0, ())
    ids = KernelSettings(gpus=GpuRequest(device_ids=("0", "2")))
    spec = container_spec(ids, _launch(tmp_path, {"gpus": True}), {})
    assert (spec.gpu_count, spec.gpu_device_ids) == (0, ("0", "2"))


def test_the_engine_gets_a_device_request_with_the_gpu_capability() -> None:
    api = APIClient(base_url="unix:///nonexistent.sock", version="1.41")
    config = host_config(ContainerSpec(image="x", command=["true"], gpu_count=ALL_GPUS), api)
    assert config["DeviceRequests"] == [
        {"Driver": "", "Count": -1, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}
    ]
    assert "DeviceRequests" not in host_config(ContainerSpec(image="x", command=["true"]), api)


def test_status_says_whether_the_engine_offers_a_gpu_runtime() -> None:
    fields: dict[str, Any] = dict(
        address="unix:///var/run/docker.sock",
        version="20.10",
        api_version="1.41",
        storage_driver="overlay2",
        os="Debian",
        kernel_version="6.1",
        architecture="x86_64",
        cpus=2,
        memory_bytes=1,
    )
    assert EngineInfo(**fields, runtimes=("runc",)).to_json()["gpu_runtime"] is False
    with_nvidia = EngineInfo(**fields, runtimes=("nvidia", "runc")).to_json()
    assert with_nvidia["gpu_runtime"] is True and with_nvidia["runtimes"] == ["nvidia", "runc"]


class GpuKernelSite(FakeKernelSite):
    async def running_kernels(self, viewer: Viewer | None = None) -> list[dict[str, Any]]:
        return [{"id": str(n), "environment": ENV} for n in range(self.running)]


def test_the_hub_counts_a_users_running_gpu_kernels_against_their_gpu_quota(
    tmp_path: Path,
) -> None:
    gpu_image = dataclasses.replace(
        image(),
        labels=EnvironmentLabels(recipe={"gpus": True}, content_hash="c" * 64).to_labels(),
    )
    km, site = FakeKernelManager(), GpuKernelSite(running=1)
    envs = service(tmp_path, FakeBuilds(existing=gpu_image), quotas=Quotas(gpu_kernels=1))
    hub = HubKernels(envs, site, lambda: km)  # type: ignore[arg-type,return-value]
    with pytest.raises(QuotaExceeded) as info:
        asyncio.run(hub.start(ANA, KERNEL, ENV, None))
    assert str(info.value) == (
        "You have 1 StarDock kernel(s) with GPUs running, the most this service allows (1). "
        "Shut one down first, or start an environment without GPUs."
    )
    assert km.started == []
    # Within the quota (or for an admin) the start goes on.
    site.running = 0
    asyncio.run(hub.start(ANA, KERNEL, ENV, None))
    assert len(km.started) == 1
