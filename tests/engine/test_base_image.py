"""The base image, against the real engine: runtime, non-root user, CA trust, idempotence."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest

from jupyter_stardock.engine import Engine
from jupyter_stardock.errors import BuildFailed

from ..conftest import host_extra_certs, run_cli
from .helpers import left_over, run_in_image, step_containers


def _run(
    engine: Engine, image: str, command: list[str], user: str | None = None
) -> tuple[int, str]:
    return run_in_image(engine, image, command, user=user or "")


def test_base_runs_ipykernel_as_the_non_root_user(engine, base_image) -> None:
    status, out = _run(
        engine,
        base_image,
        [
            "sh",
            "-c",
            "id -u; python3 -c 'import ipykernel, sys; print(ipykernel.__version__, sys.prefix)'",
        ],
    )
    assert status == 0, out
    uid, runtime = out.strip().splitlines()
    assert uid == "1000"
    assert runtime.endswith("/opt/stardock/venv")
    # The kernel runtime also works for an arbitrary uid (kernels run as the server's user).
    status, out = _run(engine, base_image, ["python3", "-c", "import ipykernel"], user="4242:4242")
    assert status == 0, out


def test_debian_python_packages_are_visible_to_the_kernel(engine, base_image) -> None:
    # The venv sees /usr/lib/python3/dist-packages, where apt puts python3-astropy & co.
    status, out = _run(
        engine,
        base_image,
        ["python3", "-c", "import sys; print('/usr/lib/python3/dist-packages' in sys.path)"],
    )
    assert status == 0 and out.strip() == "True", out


def test_extra_ca_is_trusted_inside_a_build_from_the_base(engine, base_image) -> None:
    # Behind this network's TLS-intercepting proxy (these machines' CAs are in
    # /usr/local/share/ca-certificates), HTTPS from a build works only because the base
    # image trusts them; the base image of CI is built with them.
    certs = host_extra_certs()
    bundle = _run(engine, base_image, ["cat", "/etc/ssl/certs/ca-certificates.crt"])[1]
    for path in certs:
        body = "".join(Path(path).read_text().split("-----")[2].split())
        assert body[:64] in "".join(bundle.split()), f"{path} is not in the image's CA bundle"
    dockerfile = (
        f"FROM {base_image}\n"
        "RUN pip download --no-deps --no-cache-dir -d /tmp/dl six && ls /tmp/dl | grep -q '^six-'\n"
    )
    lines: list[str] = []
    result = engine.build_sync(dockerfile, nocache=True, on_line=lines.append)
    assert result.image_id.startswith("sha256:")
    assert any("Saved" in line or "six" in line for line in lines), lines
    engine.remove_image_sync(result.image_id, force=True)


def test_base_command_twice_builds_once(engine, base_image) -> None:
    repository = f"stardock-test/base-{uuid.uuid4().hex[:8]}"
    args = [
        "base",
        "--bootstrap",
        "--repository",
        repository,
        *[f"--extra-ca={p}" for p in host_extra_certs()],
    ]
    try:
        first = run_cli(*args)
        assert first.returncode == 0, first.stderr + first.stdout
        assert "Building base image" in first.stdout
        second = run_cli(*args)
        assert second.returncode == 0, second.stderr
        assert "Building base image" not in second.stdout
        assert "up to date" in second.stdout and "nothing to do" in second.stdout
        tagged = engine.image_sync(f"{repository}:latest")
        assert tagged is not None
        # Same inputs as the session's base image: the same image, found by its content.
        assert tagged.id == base_image
    finally:
        for image in engine.images_sync("org.jupyter-stardock.base"):
            for tag in image.tags:
                if tag.startswith(repository):
                    engine.remove_image_sync(tag)


def test_unreadable_extra_ca_is_one_line_error_and_tags_nothing(engine, tmp_path) -> None:
    repository = f"stardock-test/base-{uuid.uuid4().hex[:8]}"
    result = run_cli("base", "--repository", repository, f"--extra-ca={tmp_path}/missing.crt")
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert "missing.crt" in lines[0] and "Cannot read" in lines[0]
    assert engine.image_sync(f"{repository}:latest") is None


def test_debootstrap_failure_is_one_line_error_and_tags_nothing(engine) -> None:
    repository = f"stardock-test/base-{uuid.uuid4().hex[:8]}"
    # Port 9 (discard) on loopback: nothing answers, so debootstrap fails at once.
    result = run_cli(
        "base", "--bootstrap", "--repository", repository, "--mirror", "http://127.0.0.1:9/debian"
    )
    assert result.returncode == 1
    error_lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(error_lines) == 1, result.stderr
    assert "debootstrap failed" in error_lines[0] and "--mirror" in error_lines[0]
    assert engine.image_sync(f"{repository}:latest") is None


def test_failed_build_reports_the_engine_error_and_leaves_no_container(engine, base_image) -> None:
    lines: list[str] = []
    with pytest.raises(BuildFailed) as info:
        engine.build_sync(
            f"FROM {base_image}\nRUN echo about to fail && exit 3\n",
            nocache=True,
            on_line=lines.append,
        )
    assert "returned a non-zero code: 3" in str(info.value)
    assert step_containers(lines), lines
    assert left_over(engine, step_containers(lines)) == set()


def test_build_cut_mid_step_stops_and_leaves_no_container(engine, base_image) -> None:
    """What happens when the connection to the engine goes away in the middle of a build."""
    cancel = threading.Event()
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if line.strip() == "step-started":  # the output, not the Step line naming it
            cancel.set()

    start = time.monotonic()
    with pytest.raises(BuildFailed, match="cancelled"):
        engine.build_sync(
            f"FROM {base_image}\nRUN echo step-started; sleep 120\n",
            nocache=True,
            on_line=on_line,
            cancel=cancel,
        )
    assert time.monotonic() - start < 60
    assert step_containers(lines), lines
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and left_over(engine, step_containers(lines)):
        time.sleep(0.5)
    assert left_over(engine, step_containers(lines)) == set()
