"""Folders a kernel or another user can write: the server never follows what they plant there."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
from tornado.web import HTTPError

from jupyter_stardock.core import safefs
from jupyter_stardock.core.outputs import ArchiveStore, link_outputs, make_outputs_dir
from jupyter_stardock.errors import UnsafePath
from jupyter_stardock.server.contents_guard import check_outputs_path, guard_outputs

ROOT = os.geteuid() == 0


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim" / "secret.txt"
    victim.parent.mkdir(mode=0o700)
    victim.write_text("host secret")
    victim.chmod(0o600)
    return victim


def _state(path: Path) -> tuple[str, int, int]:
    info = path.stat()
    return path.read_text(), info.st_uid, info.st_mode


def test_outputs_folders_have_fresh_random_names(tmp_path: Path) -> None:
    names = {
        make_outputs_dir(
            tmp_path / "outputs", trusted=tmp_path, dataset="m51", started=0.0, uid=1000, gid=1000
        ).name
        for _ in range(5)
    }
    assert len(names) == 5
    assert all(n.startswith("1970-01-01T") and "_m51_" in n for n in names)
    folder = tmp_path / "outputs" / sorted(names)[0]
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    if ROOT:
        assert folder.stat().st_uid == 1000


def test_outputs_parent_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    before = _state(victim)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "stardock-outputs").symlink_to(victim.parent)
    with pytest.raises(UnsafePath, match="symlink"):
        make_outputs_dir(
            tmp_path / "home" / "stardock-outputs",
            trusted=tmp_path / "home",
            dataset=None,
            started=0.0,
            uid=1000,
            gid=1000,
        )
    assert _state(victim) == before
    assert os.listdir(victim.parent) == ["secret.txt"]
    if ROOT:
        assert victim.parent.stat().st_uid == 0


def test_link_in_a_users_view_folder(tmp_path: Path) -> None:
    store = make_outputs_dir(
        tmp_path / "store" / "ana",
        trusted=tmp_path / "store",
        dataset=None,
        started=0.0,
        uid=1000,
        gid=1000,
    )
    home = tmp_path / "home"
    home.mkdir()
    if ROOT:
        os.chown(home, 1000, 1000)
    view = link_outputs(store, home / "stardock-outputs", trusted=home, uid=1000, gid=1000)
    assert view.is_symlink() and view.resolve() == store.resolve()
    assert oct((home / "stardock-outputs").stat().st_mode & 0o777) == "0o700"
    if ROOT:
        assert os.lstat(view).st_uid == 1000 and (home / "stardock-outputs").stat().st_uid == 1000
        # A folder an older version made as root, 0755, becomes the user's own, 0700.
        os.chown(home / "stardock-outputs", 0, 0)
        os.chmod(home / "stardock-outputs", 0o755)
        os.unlink(view)
        link_outputs(store, home / "stardock-outputs", trusted=home, uid=1000, gid=1000)
        info = (home / "stardock-outputs").stat()
        assert info.st_uid == 1000 and oct(info.st_mode & 0o777) == "0o700"
    # The user replaced their view folder with a link to a root-only folder: refused.
    victim = _victim(tmp_path)
    os.rename(home / "stardock-outputs", home / "old")
    (home / "stardock-outputs").symlink_to(victim.parent)
    with pytest.raises(UnsafePath):
        link_outputs(store, home / "stardock-outputs", trusted=home, uid=1000, gid=1000)
    assert os.listdir(victim.parent) == ["secret.txt"]


def test_archive_leaves_out_links_and_others_files(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    outputs = tmp_path / "out"
    (outputs / "sub").mkdir(parents=True)
    (outputs / "result.txt").write_text("mine")
    (outputs / "link").symlink_to(victim)
    (outputs / "sub" / "dirlink").symlink_to(victim.parent, target_is_directory=True)
    os.link(victim, outputs / "hard")  # a hard link keeps the victim's owner
    os.mkfifo(outputs / "fifo")  # must not hang the archive
    me = os.geteuid()
    if ROOT:
        os.chown(outputs / "result.txt", 1000, 1000)
    store = ArchiveStore(tmp_path / "archives")
    archive = store.create("k", outputs, {"kernel_id": "k"}, owners={1000} if ROOT else {me})
    with tarfile.open(archive.path) as tar:
        names = sorted(tar.getnames())
        content = b"".join(
            tar.extractfile(m).read()
            for m in tar.getmembers()
            if m.isfile()  # type: ignore[union-attr]
        )
    if ROOT:
        assert names == ["manifest.json", "outputs/result.txt"]
    assert b"host secret" not in content
    assert oct(archive.path.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "archives").stat().st_mode & 0o777) == "0o700"


def test_contents_guard_refuses_links_below_outputs(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    outputs_root = tmp_path / "root" / "stardock-outputs"
    folder = outputs_root / "run1"
    folder.mkdir(parents=True)
    (folder / "plot.png").write_bytes(b"png")
    (folder / "leak").symlink_to(victim)
    (folder / "dir").symlink_to(victim.parent, target_is_directory=True)
    check_outputs_path(str(folder / "plot.png"), outputs_root)
    check_outputs_path(str(tmp_path / "root" / "notebook.ipynb"), outputs_root)
    for planted in (folder / "leak", folder / "dir" / "secret.txt"):
        with pytest.raises(HTTPError) as err:
            check_outputs_path(str(planted), outputs_root)
        assert err.value.status_code == 404

    class Manager:
        def _get_os_path(self, path: str) -> str:
            return str(tmp_path / "root" / path)

    manager = Manager()
    assert guard_outputs(manager, outputs_root)
    assert not guard_outputs(manager, outputs_root)  # once only
    assert manager._get_os_path("stardock-outputs/run1/plot.png").endswith("plot.png")
    with pytest.raises(HTTPError):
        manager._get_os_path("stardock-outputs/run1/leak")


def test_owned_dir_planted_by_someone_else_is_refused(tmp_path: Path) -> None:
    if not ROOT:
        pytest.fail("this test runs as root in CI (it makes a folder owned by another uid)")
    planted = tmp_path / "stardock-kernels"
    planted.mkdir()
    os.chown(planted, 1000, 1000)
    with pytest.raises(UnsafePath, match="uid 1000"):
        safefs.ensure_owned_dir(planted, mode=0o711)
    link = tmp_path / "linked"
    link.symlink_to(tmp_path / "victim-dir")
    (tmp_path / "victim-dir").mkdir(mode=0o700)
    with pytest.raises(UnsafePath):
        safefs.ensure_owned_dir(link, mode=0o711)
    assert oct((tmp_path / "victim-dir").stat().st_mode & 0o777) == "0o700"


def _mount_options(folder: Path) -> set[str]:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == str(folder):
            return set(fields[5].split(","))
    return set()


def test_outputs_folder_is_nosuid_nodev_and_kept(tmp_path: Path) -> None:
    from jupyter_stardock.core.outputs_mounts import (
        is_mount_point,
        protect_outputs,
        release_outputs,
    )

    if not ROOT:
        pytest.fail("this test runs as root in CI (it mounts)")
    folder = tmp_path / "out"
    folder.mkdir()
    protect_outputs(folder, images=tmp_path / "images", quota_bytes=None, uid=1000, gid=1000)
    # A restart of the kernel sets it up again: no second mount on top.
    protect_outputs(folder, images=tmp_path / "images", quota_bytes=None, uid=1000, gid=1000)
    try:
        assert is_mount_point(folder)
        assert {"nosuid", "nodev"} <= _mount_options(folder)
        (folder / "a.txt").write_text("kept")
    finally:
        release_outputs(folder, images=tmp_path / "images")
    assert not is_mount_point(folder) and (folder / "a.txt").read_text() == "kept"


def test_outputs_quota_stops_a_runaway_write_and_keeps_what_was_written(tmp_path: Path) -> None:
    from jupyter_stardock.core.outputs_mounts import (
        OutputsQuotaError,
        is_mount_point,
        parse_size,
        protect_outputs,
        release_outputs,
    )

    if not ROOT:
        pytest.fail("this test runs as root in CI (it mounts)")
    assert parse_size("16m") == 16 << 20 and parse_size("1.5GiB") == 3 << 29
    with pytest.raises(OutputsQuotaError, match="not a size"):
        parse_size("lots")
    folder = tmp_path / "out"
    folder.mkdir()
    images = tmp_path / "images"
    protect_outputs(folder, images=images, quota_bytes=parse_size("16m"), uid=1000, gid=1000)
    try:
        assert {"nosuid", "nodev"} <= _mount_options(folder)
        assert folder.stat().st_uid == 1000 and os.listdir(folder) == []
        (folder / "result.fits").write_bytes(b"x" * (4 << 20))
        with pytest.raises(OSError) as err, (folder / "runaway.bin").open("wb") as f:
            for _ in range(64):
                f.write(b"y" * (1 << 20))
                f.flush()
                os.fsync(f.fileno())
        assert err.value.errno == 28  # ENOSPC: what the kernel's user sees
    finally:
        release_outputs(folder, images=images)
    assert not is_mount_point(folder)
    assert (folder / "result.fits").stat().st_size == 4 << 20
    assert os.listdir(images) == []


def test_contents_reads_below_outputs_never_follow_a_link_swapped_in_after_the_check(
    tmp_path: Path,
) -> None:
    """The check-then-open race: the guard's open itself refuses links."""
    import contextlib

    from jupyter_stardock.server.contents_guard import open_below

    victim = _victim(tmp_path)
    outputs_root = tmp_path / "root" / "stardock-outputs"
    folder = outputs_root / "run1"
    folder.mkdir(parents=True)
    (folder / "plot.png").write_bytes(b"png")
    with open_below(str(folder / "plot.png"), outputs_root) as f:
        assert f.read() == b"png"
    # Swapped after the path check: the file, then a folder on the way.
    (folder / "plot.png").unlink()
    (folder / "plot.png").symlink_to(victim)
    with pytest.raises(HTTPError) as err, open_below(str(folder / "plot.png"), outputs_root):
        pass
    assert err.value.status_code == 404
    (outputs_root / "run2").symlink_to(victim.parent, target_is_directory=True)
    with (
        pytest.raises(HTTPError),
        open_below(str(outputs_root / "run2" / "secret.txt"), outputs_root),
    ):
        pass

    class Manager:
        def _get_os_path(self, path: str) -> str:
            return str(tmp_path / "root" / path)

        @contextlib.contextmanager
        def perm_to_403(self, os_path: str = "") -> Any:
            yield

        @contextlib.contextmanager
        def open(self, os_path: str, *args: Any, **kwargs: Any) -> Any:
            with open(os_path, *args, **kwargs) as f:
                yield f

    manager = Manager()
    assert guard_outputs(manager, outputs_root)
    with pytest.raises(HTTPError), manager.open(str(folder / "plot.png"), "rb"):
        pass
    (tmp_path / "root" / "notes.txt").write_text("notes")
    with manager.open(str(tmp_path / "root" / "notes.txt"), "r") as f:  # outside: as before
        assert f.read() == "notes"
    with manager.open(str(folder / "new.txt"), mode="w") as f:  # writes: the manager's own way
        f.write("x")
    with manager.open(str(folder / "new.txt"), mode="rb") as f:
        assert f.read() == b"x"
