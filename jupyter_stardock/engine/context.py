"""The build context the engine receives: a tar of the Dockerfile and the files it copies."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping

__all__ = ["make_context_tar"]


def make_context_tar(dockerfile: str, files: Mapping[str, bytes]) -> bytes:
    """A reproducible build context: sorted names, fixed owners and times."""
    buf = io.BytesIO()
    entries = dict(files)
    entries["Dockerfile"] = dockerfile.encode("utf-8")
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for name in sorted(entries):
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    tar.addfile(info)
            data = entries[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if name.endswith(".sh") else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
