"""images/base/pip-constraints.py: the constraints file an environment's pip reads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jupyter_stardock.paths import images_dir

SCRIPT = images_dir() / "base" / "pip-constraints.py"


def fake_dist(folder: Path, name: str, version: str) -> None:
    info = folder / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def constraints(tmp_path: Path, *paths: Path) -> list[str]:
    out = tmp_path / "constraints.txt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, paths))}
    subprocess.run([sys.executable, str(SCRIPT), str(out)], check=True, env=env)
    return out.read_text().splitlines()


def test_every_distribution_is_pinned_as_imports_find_it(tmp_path: Path) -> None:
    venv, debian = tmp_path / "venv", tmp_path / "dist-packages"
    fake_dist(venv, "Sample_Runtime", "6.29.5")
    fake_dist(debian, "sample-runtime", "1.0")  # shadowed by the venv's copy
    fake_dist(debian, "sample-astro", "5.2.1")
    fake_dist(debian, "sample-lz", "4.0.2+dfsg")
    fake_dist(debian, "sample-kiwi", "0.0.0")  # Debian's metadata lost the version
    fake_dist(debian, "sample-odd", "1.0-debian-build")  # not a PEP 440 version
    fake_dist(venv, "pip", "99.0")  # a build tool: left free
    lines = constraints(tmp_path, venv, debian)

    pins = [line for line in lines if not line.startswith("#")]
    names = [pin.split("==")[0] for pin in pins]
    assert names == sorted(set(names))
    assert "sample-runtime==6.29.5" in pins
    assert "sample-astro==5.2.1" in pins and "sample-lz==4.0.2+dfsg" in pins
    assert not [
        p for p in pins if p.startswith(("sample-runtime==1.0", "sample-kiwi", "sample-odd"))
    ]
    assert not [p for p in pins if p.split("==")[0] in ("pip", "setuptools", "wheel")]
    assert lines[0].startswith("# ") and any("pip_constraints" in line for line in lines)


def test_the_file_is_what_pip_reads(tmp_path: Path) -> None:
    lines = constraints(tmp_path)
    check = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--no-index",
            "-c",
            str(tmp_path / "constraints.txt"),
            "packaging",
        ],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    assert any(line.startswith("packaging==") for line in lines)
