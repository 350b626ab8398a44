"""Every language an environment has (issue 18): catalog entries, kernelspecs, the R command."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.core.catalog import Catalog, default_catalog_dirs
from jupyter_stardock.core.kernelspecs import (
    KernelspecStore,
    kernelspec_name,
    language_kernelspec_name,
)
from jupyter_stardock.core.languages import check_language
from jupyter_stardock.errors import KernelStartError
from jupyter_stardock.kernels.launch import kernel_command
from jupyter_stardock.server.kernelspecs import RemoteKernelspecs

ENV = "0123456789abcdef"


def test_the_r_app_brings_the_r_kernel_and_gdl_says_it_has_none() -> None:
    catalog = Catalog.load(default_catalog_dirs())
    assert catalog.apps["r"].kernel == "r"
    assert catalog.apps["gdl"].kernel is None
    assert "call it from Python" in catalog.apps["gdl"].description


def test_a_catalog_entry_may_name_only_a_known_language(tmp_path: Path) -> None:
    (tmp_path / "julia.toml").write_text(
        'id = "julia"\ntitle = "Julia"\ndescription = "d"\ncategory = "Languages"\n'
        'smoke = "true"\nkernel = "julia"\n'
    )
    catalog = Catalog.load([tmp_path])
    assert "julia" not in catalog.apps
    (problem,) = catalog.problems
    assert "kernel 'julia' is not a kernel language StarDock starts; the languages are r." in str(
        problem
    )


def test_one_kernelspec_per_language_same_image_and_dataset(tmp_path: Path) -> None:
    store = KernelspecStore(tmp_path)
    python = store.write(
        environment=ENV,
        image="stardock/env:x",
        dataset_id="m51",
        dataset_title="Messier 51",
        app_titles=["Astropy", "R"],
        recipe={"apps": ["astropy", "r"]},
        languages=["r"],
    )
    assert python == kernelspec_name(ENV, "m51")
    r_name = language_kernelspec_name(ENV, "m51", "r")
    assert r_name == f"stardock-{ENV}.r-m51"
    assert store.names() == sorted([python, r_name])
    py_spec, r_spec = store.read(python), store.read(r_name)
    assert py_spec is not None and r_spec is not None
    assert py_spec["display_name"] == "StarDock · Astropy, R · Messier 51 · Python"
    assert r_spec["display_name"] == "StarDock · Astropy, R · Messier 51 · R"
    assert (r_spec["language"], r_spec["interrupt_mode"]) == ("R", "signal")
    py_config = py_spec["metadata"]["kernel_provisioner"]["config"]
    r_config = r_spec["metadata"]["kernel_provisioner"]["config"]
    assert r_config == {**py_config, "language": "r"}
    assert store.environment_of(r_name) == ENV
    assert store.remove_environment(ENV) == sorted([python, r_name])
    # Without other languages a kernelspec is as it always was.
    store.write(
        environment=ENV,
        image="stardock/env:x",
        dataset_id=None,
        dataset_title=None,
        app_titles=["Astropy"],
        recipe={},
    )
    assert store.names() == [kernelspec_name(ENV, None)]
    assert store.read(kernelspec_name(ENV, None))["display_name"] == "StarDock · Astropy"  # type: ignore[index]


def test_irkernels_ipc_sockets_are_linked_to_the_names_jupyter_uses() -> None:
    sh, flag, script = kernel_command("r")
    assert (sh, flag) == ("/bin/sh", "-c")
    assert script.startswith("cp /run/stardock/connection.json /tmp/stardock-connection.json && ")
    for port in range(1, 6):
        assert f"ln -sf k:{port} /run/stardock/ipc/k-{port};" in script
    assert script.endswith(
        "exec R --no-save --no-restore --slave -e 'IRkernel::main()' --args "
        "/tmp/stardock-connection.json"
    )
    assert kernel_command("python")[0] == "/opt/stardock/venv/bin/python"


def test_an_r_kernel_refuses_encrypted_tcp_with_a_sentence() -> None:
    check_language("r", "ipc", True)
    check_language("r", "tcp", False)
    check_language("python", "tcp", True)
    with pytest.raises(KernelStartError, match="R kernels cannot encrypt their TCP traffic"):
        check_language("r", "tcp", True)
    with pytest.raises(KernelStartError, match="asks for a 'cobol' kernel"):
        check_language("cobol", "ipc", False)


class FakeService:
    def __init__(self, specs: list[dict[str, Any]]) -> None:
        self.specs = specs

    async def request(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        return {"kernelspecs": self.specs}


def test_a_hub_users_server_keeps_every_language_the_service_offers(tmp_path: Path) -> None:
    store = KernelspecStore(tmp_path)
    offered = {
        "name": kernelspec_name(ENV, "m51"),
        "environment": ENV,
        "image": "stardock/env:x",
        "dataset": "m51",
        "dataset_title": "Messier 51",
        "app_titles": ["R"],
        "recipe": {"apps": ["r"]},
        "languages": ["r"],
    }
    sync = RemoteKernelspecs(
        FakeService([offered]),  # type: ignore[arg-type]
        store,
        every=60,
        log=logging.getLogger("test"),
    )
    names = asyncio.run(sync.sync())
    assert names == sorted([kernelspec_name(ENV, "m51"), language_kernelspec_name(ENV, "m51", "r")])
    assert store.names() == names
    assert json.loads((tmp_path / names[1] / "kernel.json").read_text())["language"] == "R"


def test_the_hub_service_starts_the_kernelspec_of_the_language_asked_for(tmp_path: Path) -> None:
    from jupyter_stardock.errors import NotFound
    from jupyter_stardock.services.hub_kernels import HubKernels

    from .test_environments_service import ENV as SERVICE_ENV
    from .test_environments_service import FakeBuilds, image, service
    from .test_hub_kernels import ANA, KERNEL, FakeKernelManager, FakeKernelSite

    km = FakeKernelManager()
    envs = service(tmp_path, FakeBuilds(existing=image()))
    hub = HubKernels(envs, FakeKernelSite(), lambda: km)  # type: ignore[arg-type,return-value]
    # This environment has no R app, so no R kernelspec: refused, nothing started.
    with pytest.raises(NotFound, match="has no 'r' kernel"):
        asyncio.run(hub.start(ANA, KERNEL, SERVICE_ENV, None, language="r"))
    assert km.started == []
    envs.kernelspecs.write(
        environment=SERVICE_ENV,
        image="stardock/env:x",
        dataset_id=None,
        dataset_title=None,
        app_titles=["R"],
        recipe={},
        languages=["r"],
    )
    asyncio.run(hub.start(ANA, KERNEL, SERVICE_ENV, None, language="r"))
    assert km.started[0]["kernel_name"] == language_kernelspec_name(SERVICE_ENV, None, "r")
