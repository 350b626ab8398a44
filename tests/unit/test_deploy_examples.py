"""The hub deployment example and binder/ stay loadable, consistent and safe.

docs/examples/jupyterhub_config.py and docs/examples/jupyter_server_config.py are
loaded as traitlets config files; when JupyterHub is installed, the hub config is
also loaded by JupyterHub itself (in a subprocess: JupyterHub rewires logging) to
catch misspelt settings, unknown scopes and a service entry it would refuse.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
HUB_CONFIG = EXAMPLES / "jupyterhub_config.py"
OPERATOR_CONFIG = EXAMPLES / "jupyter_server_config.py"
HUB_DOC = ROOT / "docs" / "hub.md"
BINDER = ROOT / "binder"

SERVICE_SCOPE = "access:services!service=stardock"
# JupyterHub's own default for server_token_scopes: the scopes of its `server` role.
SERVER_ROLE_SCOPES = {"users:activity!user", "access:servers!server"}
# What the service reads about a token's user with its own token: admin flag, groups.
SERVICE_READS = {"read:users:name", "read:users:groups"}


def load(path: Path) -> Config:
    return PyFileConfigLoader(path.name, path=str(path.parent)).load_config()


def stardock_service(config: Config) -> dict[str, Any]:
    services = [s for s in config.JupyterHub.services if s["name"] == "stardock"]
    assert len(services) == 1, config.JupyterHub.services
    return dict(services[0])


# -- the hub config, as traitlets reads it ---------------------------------------


def test_hub_config_runs_the_service_as_a_managed_service() -> None:
    service = stardock_service(load(HUB_CONFIG))
    assert service["command"] == ["jupyter", "stardock", "service"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", service["url"]), service["url"]
    assert service["oauth_no_confirm"] is True
    assert not service.get("admin"), "the service needs no admin rights on the Hub"


def test_the_service_reads_the_operator_example_and_users_do_not() -> None:
    config = load(HUB_CONFIG)
    config_dir = Path(stardock_service(config)["environment"]["JUPYTER_CONFIG_DIR"])
    assert config_dir / "jupyter_server_config.py" == OPERATOR_CONFIG
    assert "JUPYTER_CONFIG_DIR" not in config.Spawner.environment


def test_users_and_their_servers_may_call_the_service() -> None:
    config = load(HUB_CONFIG)
    user_roles = [r for r in config.JupyterHub.load_roles if r["name"] == "user"]
    assert user_roles, "the `user` role must grant the service scope"
    assert {"self", SERVICE_SCOPE} <= set(user_roles[0]["scopes"])
    assert {*SERVER_ROLE_SCOPES, SERVICE_SCOPE} <= set(config.Spawner.server_token_scopes)


def test_the_service_may_read_groups_and_admin_flag_and_no_more() -> None:
    roles = [
        r for r in load(HUB_CONFIG).JupyterHub.load_roles if "stardock" in r.get("services", [])
    ]
    assert [set(r["scopes"]) for r in roles] == [SERVICE_READS]


def test_servers_find_the_service_through_its_url() -> None:
    config = load(HUB_CONFIG)
    url = stardock_service(config)["url"]
    assert config.Spawner.environment["STARDOCK_SERVICE_URL"] == f"{url}/services/stardock/"


# What would hand a user's server the engine: its socket, its address, its group.
ENGINE_GRANTS = re.compile(r"docker\.sock|podman\.sock|DOCKER_HOST|group_add|SupplementaryGroups")


def engine_grants(config: Config) -> list[str]:
    """The single-user server settings in ``config`` that would give users the engine."""
    found = []
    for section, values in config.items():
        if not section.endswith("Spawner"):
            continue
        for key, value in values.items():
            if key == "unit_extra_properties":
                # InaccessiblePaths hides the socket from the user's unit: that one is fine.
                value = {k: v for k, v in value.items() if k != "InaccessiblePaths"}
            if ENGINE_GRANTS.search(json.dumps(value, default=str)):
                found.append(f"{section}.{key}")
    return found


def test_single_user_servers_get_no_engine() -> None:
    assert engine_grants(load(HUB_CONFIG)) == []
    assert "docker.sock" not in HUB_CONFIG.read_text()


def test_engine_grants_are_noticed() -> None:
    config = Config()
    config.DockerSpawner.volumes = {"/var/run/docker.sock": "/var/run/docker.sock"}
    config.DockerSpawner.extra_create_kwargs = {"group_add": ["docker"]}
    config.Spawner.environment = {"DOCKER_HOST": "tcp://127.0.0.1:2375"}
    config.SystemdSpawner.unit_extra_properties = {"InaccessiblePaths": "-/run/docker.sock"}
    assert sorted(engine_grants(config)) == [
        "DockerSpawner.extra_create_kwargs",
        "DockerSpawner.volumes",
        "Spawner.environment",
    ]


# -- the operator config ----------------------------------------------------------


def test_operator_config_sets_stardock_settings_of_the_right_types() -> None:
    from jupyter_stardock.server.app import StarDockApp

    config = load(OPERATOR_CONFIG)
    assert set(config) == {"StarDockApp"}
    unknown = set(config.StarDockApp) - set(StarDockApp.class_trait_names(config=True))
    assert unknown == set(), f"not StarDockApp settings: {sorted(unknown)}"
    app = StarDockApp(config=config)  # a value of the wrong type raises TraitError
    assert app.quota_builds == config.StarDockApp.quota_builds


def test_operator_config_datasets_and_outputs() -> None:
    from jupyter_stardock.core.datasets import DatasetRegistry

    settings = load(OPERATOR_CONFIG).StarDockApp
    registry = DatasetRegistry(settings.datasets)
    try:
        assert registry.problems == []
    finally:
        registry.close()
    assert any("allowed_groups" in spec for spec in settings.datasets.values())
    assert "{username}" in settings.user_outputs_dir
    assert "extra_ca_certs" in settings


# -- docs/hub.md --------------------------------------------------------------------


def python_blocks(markdown: str) -> list[str]:
    """The ```python blocks of a Markdown text, list-item indentation removed."""
    found = re.findall(r"^( *)```python\n(.*?)^\1```", markdown, re.S | re.M)
    return [textwrap.dedent(block) for _indent, block in found]


def test_hub_doc_snippets_are_config_that_keeps_the_engine_away() -> None:
    blocks = python_blocks(HUB_DOC.read_text())
    assert len(blocks) >= 3
    for block in blocks:
        config = Config()
        exec(compile(block, str(HUB_DOC), "exec"), {"c": config})
        assert engine_grants(config) == [], block


def test_hub_doc_names_the_example_files() -> None:
    text = HUB_DOC.read_text()
    for path in (HUB_CONFIG, OPERATOR_CONFIG):
        assert str(path.relative_to(ROOT)) in text


# -- binder/ ------------------------------------------------------------------------


def test_binder_environment_has_python_and_node_for_the_build() -> None:
    import yaml

    environment = yaml.safe_load((BINDER / "environment.yml").read_text())
    deps = [d for d in environment["dependencies"] if isinstance(d, str)]
    python = next(d for d in deps if re.match(r"python\b", d))
    assert tuple(map(int, python.split("=", 1)[1].split(".")[:2])) >= (3, 11), python
    assert any(d.startswith("nodejs") for d in deps), "pip install . builds the panel with npm"


def test_binder_postbuild_is_an_executable_bash_script() -> None:
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK), "repo2docker runs ./binder/postBuild"
    text = post_build.read_text()
    assert text.startswith("#!/bin/bash\n")
    assert "pip install --no-cache-dir ." in text
    subprocess.run(["bash", "-n", str(post_build)], check=True)
    assert (BINDER / "README.md").is_file()


# -- the hub config, as JupyterHub reads it -----------------------------------------


def hub_report(config_file: str) -> dict[str, Any]:
    """Load ``config_file`` into a JupyterHub (in-memory database) and say what it made.

    Run in a subprocess: JupyterHub.initialize reconfigures tornado's loggers.
    """
    from jupyterhub import orm, roles
    from jupyterhub.app import JupyterHub
    from traitlets.config import Configurable

    warned: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warned.append(record.getMessage())

    async def run() -> dict[str, Any]:
        app = JupyterHub(db_url="sqlite://", cookie_secret=os.urandom(32))
        app.log.addHandler(Collect(logging.WARNING))
        app.load_config_file(config_file)
        await app.initialize([])
        users = {name: app.users[name] for name in sorted(app.authenticator.allowed_users)}
        # As JupyterHub does when it spawns: resolve "!server", then grant a token (here a
        # scope the user lacks is an error; a spawn would silently leave it out).
        granted = {}
        for name, user in users.items():
            requested = [
                f"{s}={name}/" if s.endswith("!server") else s
                for s in user.spawner.server_token_scopes
            ]
            token = user.new_api_token(scopes=requested, note="example check")
            granted[name] = sorted(orm.APIToken.find(app.db, token).scopes)
        # Settings for a class this hub never uses would be silently ignored.
        used = [app, app.authenticator, app.proxy, *(u.spawner for u in users.values())]
        classes = {
            cls.__name__: cls
            for obj in used
            for cls in type(obj).mro()
            if isinstance(cls, type) and issubclass(cls, Configurable)
        }
        unknown = []
        for section, values in app.config.items():
            if section not in classes:
                unknown.append(section)
                continue
            known = classes[section].class_trait_names(config=True)
            unknown += [f"{section}.{key}" for key in values if key not in known]
        service = orm.Service.find(app.db, "stardock")
        return {
            "services": sorted(s.name for s in app.db.query(orm.Service)),
            "service_scopes": sorted(roles.roles_to_scopes(roles.get_roles_for(service))),
            "user_scopes": {
                name: sorted(roles.roles_to_scopes(roles.get_roles_for(u.orm_user)))
                for name, u in users.items()
            },
            "server_token_scopes": granted,
            "spawner": type(next(iter(users.values())).spawner).__name__,
            "unknown": unknown,
            "warnings": warned,
        }

    report = asyncio.run(run())
    print(json.dumps(report))
    return report


def test_jupyterhub_accepts_the_hub_config() -> None:
    pytest.importorskip("jupyterhub")
    script = (
        f"from tests.unit.test_deploy_examples import hub_report; hub_report({str(HUB_CONFIG)!r})"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["services"] == ["stardock"]
    assert report["spawner"] == "LocalProcessSpawner"
    assert report["unknown"] == [], "settings JupyterHub does not know"
    suspicious = [w for w in report["warnings"] if re.search(r"not recognized|deprecat", w, re.I)]
    assert suspicious == []
    assert SERVICE_READS <= set(report["service_scopes"])
    assert set(report["user_scopes"]) == {"ana", "bob"}
    for name in ("ana", "bob"):
        assert SERVICE_SCOPE in report["user_scopes"][name]
        assert SERVICE_SCOPE in report["server_token_scopes"][name]
        assert "users:activity!user" in report["server_token_scopes"][name]
