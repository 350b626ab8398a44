"""What issues 18 and 19 reach in a real hub: /work, R kernels and staged datasets.

One hub for the module (its own unix users, so no other hub test's are touched),
with the notebook's folder turned on in the StarDock service
(``c.StarDockProvisioner.notebook_folder``: in hub mode the service decides) and
a folder archive to stage from. Each user acts through their own server, which
runs in remote mode: the service starts every kernel as that Hub user's uid.
"""

from __future__ import annotations

import errno
import json
import os
import pwd
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.core.kernelspecs import language_kernelspec_name

from ..engine.test_staging import fits_files
from .conftest import Hub, _start_hub
from .test_hostile_neighbour import run_code
from .test_hub import build, kernelspec_visible, wait_build
from .test_hub_staging import _follow

FAY, GIL = "sdfay", "sdgil"  # their own: other hub tests' users keep their servers
MARK = uuid.uuid4().hex[:8]
RECIPE = {"commands": [f"echo reach-{MARK}"], "dataset": "open"}
R_RECIPE = {"apps": ["r"], "dataset": "open"}
SERVICE_KERNELS = "/services/stardock/stardock/api/service/kernels"


@pytest.fixture(scope="module")
def reach_hub(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Iterator[Hub]:
    home = tmp_path_factory.mktemp("reachhub")
    fits_files(home / "tape", "raw", 3)
    yield from _start_hub(
        home,
        (FAY, GIL),
        {"archives": {"tape": {"root": str(home / "tape"), "access": "all"}}},
        {"notebook_folder": True},
    )
    for user in (FAY, GIL):  # the folders and links this module put in their homes
        for made in home_of(user).glob(f"*-{MARK}"):
            if made.is_symlink():
                made.unlink()
            else:
                shutil.rmtree(made, ignore_errors=True)


@pytest.fixture(scope="module")
def r_build(reach_hub: Hub) -> dict[str, Any]:
    """Fay's build of an R environment, asked for at once: R takes minutes, the other
    tests run meanwhile (an identical recipe already built is found, not built again)."""
    return dict(reach_hub.as_user(FAY, "POST", "/stardock/api/builds", R_RECIPE))


def home_of(user: str) -> Path:
    return Path(pwd.getpwnam(user).pw_dir)


def owned_folder(user: str, name: str, files: dict[str, str]) -> Path:
    """A fresh folder in the user's home, with files, all theirs."""
    entry = pwd.getpwnam(user)
    folder = home_of(user) / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for file, text in files.items():
        (folder / file).write_text(text)
    for path in (folder, *folder.iterdir()):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return folder


def outputs_of(user: str) -> set[str]:
    """The outputs folders the user sees in their home (links into the service's store)."""
    view = home_of(user) / "stardock-outputs"
    return {p.name for p in view.iterdir()} if view.is_dir() else set()


def work_mounts(hub: Hub) -> list[str]:
    """The service's staging mounts of notebooks' folders that are mounted now."""
    staging = str(hub.home / "service-state" / "work-mounts")
    return [line for line in Path("/proc/mounts").read_text().splitlines() if staging in line]


def printed(hub: Hub, user: str, kernel_id: str, code: str) -> list[str]:
    """The lines a cell printed in the user's kernel (through their server), after no error."""
    out = run_code(hub, user, kernel_id, code)
    assert out["error"] is None, out
    return str(out["stdout"]).strip().split("\n")


def start_session(hub: Hub, user: str, notebook: str, kernel: str) -> tuple[int, Any]:
    """Open a notebook as JupyterLab does (a session names its path: that is the kernel's cwd)."""
    body = {
        "path": notebook,
        "name": os.path.basename(notebook),
        "type": "notebook",
        "kernel": {"name": kernel},
    }
    return hub.status("POST", f"/user/{user}/api/sessions", user, body)


def message_of(body: Any) -> str:
    return str(body.get("message") if isinstance(body, dict) else body)


def test_the_notebook_folder_is_read_only_at_work_and_only_the_users_own(
    reach_hub: Hub, r_build: dict[str, Any]
) -> None:
    hub = reach_hub
    env = build(hub, FAY, RECIPE)
    name = f"stardock-{env}-open"
    kernelspec_visible(hub, FAY, name)
    project = owned_folder(FAY, f"project-{MARK}", {"catalog.csv": "ra,dec\n202.47,47.19\n"})

    code, session = start_session(hub, FAY, f"{project.name}/night.ipynb", name)
    assert code == 200, session
    kernel_id = session["kernel"]["id"]
    try:
        ids, row, refused, first = printed(
            hub,
            FAY,
            kernel_id,
            "import os\n"
            "print(os.getuid(), os.getcwd())\n"
            "print(open('catalog.csv').read().splitlines()[1])\n"
            "try:\n"
            "    open('/work/mine.txt', 'w')\n"
            "except OSError as err:\n"
            "    print(err.errno)\n"
            "print(sorted(os.listdir('/data'))[0])\n",
        )
        assert ids.split() == [str(pwd.getpwnam(FAY).pw_uid), "/work"]
        assert row == "202.47,47.19"
        assert int(refused) == errno.EROFS  # the mount is read-only, though the folder is hers
        assert first == "README.txt"
        assert not (project / "mine.txt").exists()
        # A restart (through her server, as the toolbar's) keeps the folder at /work.
        (work_mount,) = work_mounts(hub)
        hub.as_user(FAY, "POST", f"/api/kernels/{kernel_id}/restart", {}, timeout=300)
        (row,) = printed(hub, FAY, kernel_id, "print(open('catalog.csv').read().split()[1])")
        assert row == "202.47,47.19" and work_mounts(hub) == [work_mount]
    finally:
        hub.as_user(FAY, "DELETE", f"/api/sessions/{session['id']}")

    # Gil, with the same environment (his own claim), names Fay's folder straight at the
    # service: refused with a sentence, and no kernel of his starts.
    assert build(hub, GIL, RECIPE) == env
    gil_outputs = outputs_of(GIL)
    for work in (str(project), f"{home_of(GIL)}/../{FAY}/{project.name}"):
        code, body = hub.status(
            "POST",
            SERVICE_KERNELS,
            GIL,
            {"kernel_id": str(uuid.uuid4()), "environment": env, "dataset": "open", "work": work},
        )
        assert code >= 400, body
        assert "cannot be mounted at /work" in message_of(body), body
        assert f"({home_of(GIL)})" in message_of(body), body
    assert hub.as_user(GIL, "GET", "/stardock/api/kernels")["kernels"] == []
    assert outputs_of(GIL) == gil_outputs  # a refused start leaves no outputs folder

    # A link in Fay's home to a folder of Gil's (which she may read): refused at the start.
    secret = owned_folder(GIL, f"secret-{MARK}", {"catalog.csv": "gil's\n"})
    link = home_of(FAY) / f"to-gil-{MARK}"
    link.unlink(missing_ok=True)
    link.symlink_to(secret)
    os.lchown(link, pwd.getpwnam(FAY).pw_uid, pwd.getpwnam(FAY).pw_gid)
    fay_outputs = outputs_of(FAY)
    code, body = start_session(hub, FAY, f"{link.name}/stolen.ipynb", name)
    assert code >= 400, body
    assert "cannot be mounted at /work" in message_of(body), body
    assert "symlink" in message_of(body), body
    assert hub.as_user(FAY, "GET", "/stardock/api/kernels")["kernels"] == []
    assert outputs_of(FAY) == fay_outputs
    assert work_mounts(hub) == []  # Fay's kernel has gone, and its folder's mount with it


def test_an_r_kernel_runs_as_the_hub_user_beside_the_data(
    reach_hub: Hub, r_build: dict[str, Any]
) -> None:
    hub = reach_hub
    if r_build["build"] is not None:
        done = wait_build(hub, FAY, r_build["build"]["id"], timeout=1500)
        assert done["state"] == "succeeded", done
        env = str(done["environment_id"])
    else:
        env = str(r_build["environment"]["id"])
    r_name = language_kernelspec_name(env, "open", "r")
    kernelspec_visible(hub, FAY, r_name)
    spec = hub.as_user(FAY, "GET", "/api/kernelspecs")["kernelspecs"][r_name]["spec"]
    assert spec["language"] == "R"
    # Opened as a notebook in her home: the R kernel gets its folder at /work too.
    project = owned_folder(FAY, f"r-project-{MARK}", {"catalog.csv": "ra,dec\n10.68,41.27\n"})
    code, session = start_session(hub, FAY, f"{project.name}/fit.ipynb", r_name)
    assert code == 200, session
    try:
        first, row, writable, *listed = printed(
            hub,
            FAY,
            session["kernel"]["id"],
            'cat(system("id -u", intern = TRUE), R.version$language, getwd(), "\\n")\n'
            'cat(readLines("catalog.csv")[2], file.access("/work", 2) == 0, sep = "\\n")\n'
            'cat(list.files("/data"), sep = "\\n")',
        )
        assert first.split() == [str(pwd.getpwnam(FAY).pw_uid), "R", "/work"]
        assert (row, writable) == ("10.68,41.27", "FALSE")
        assert sorted(listed) == sorted(p.name for p in hub.datasets["open"].iterdir())
        (mine,) = hub.as_user(FAY, "GET", "/stardock/api/kernels")["kernels"]
        assert mine["owner"] == FAY
    finally:
        hub.as_user(FAY, "DELETE", f"/api/sessions/{session['id']}", timeout=300)
    assert work_mounts(hub) == []


def test_a_kernel_on_a_staged_dataset_reads_it_and_no_one_else_can(reach_hub: Hub) -> None:
    hub = reach_hub
    dataset = f"fay-{MARK}"
    files = [f"tape:raw/obs{n}.fits" for n in range(3)]
    request = hub.as_user(
        FAY, "POST", "/stardock/api/datasets", {"files": files, "dataset": dataset}
    )
    final = _follow(hub, FAY, request["request"]["id"])
    assert final["state"] == "complete", final

    # Fay asks for her environment with it: no rebuild, a kernelspec on her server.
    env = build(hub, FAY, {**RECIPE, "dataset": dataset})
    name = f"stardock-{env}-{dataset}"
    kernelspec_visible(hub, FAY, name)
    kernel = hub.as_user(FAY, "POST", "/api/kernels", {"name": name}, timeout=300)
    try:
        uid, listed, head, manifest = printed(
            hub,
            FAY,
            kernel["id"],
            "import os\nprint(os.getuid())\n"
            "print(' '.join(sorted(os.listdir('/data/raw'))))\n"
            "print(open('/data/raw/obs1.fits', 'rb').read(9))\n"
            "print('STARDOCK-MANIFEST.json' in os.listdir('/data'))\n",
        )
        assert int(uid) == pwd.getpwnam(FAY).pw_uid
        assert listed == "obs0.fits obs1.fits obs2.fits"
        assert head == "b'SIMPLE  ='"
        assert manifest == "True"
    finally:
        hub.as_user(FAY, "DELETE", f"/api/kernels/{kernel['id']}", timeout=300)

    # Gil sees nothing of it, and cannot have it: not in a build, not at a kernel start;
    # it answers him as an unknown one, and no sentence lists it among the known ones.
    listed_for_gil = hub.as_user(GIL, "GET", "/stardock/api/datasets")
    assert dataset not in json.dumps(listed_for_gil)
    gil_env = build(hub, GIL, RECIPE)
    for asked in (dataset, f"none-{MARK}"):
        code, body = hub.status(
            "POST", f"/user/{GIL}/stardock/api/builds", GIL, {**RECIPE, "dataset": asked}
        )
        assert code == 400, body  # an unknown dataset is a recipe mistake
        assert FAY not in message_of(body) and message_of(body).count(dataset) == (
            asked == dataset
        ), body
        code, body = hub.status(
            "POST",
            SERVICE_KERNELS,
            GIL,
            {"kernel_id": str(uuid.uuid4()), "environment": gil_env, "dataset": asked},
        )
        assert code == 404, body
        assert FAY not in message_of(body) and message_of(body).count(dataset) == (
            asked == dataset
        ), body
    assert hub.as_user(GIL, "GET", "/stardock/api/kernels")["kernels"] == []
