"""Archives that files are staged from, and who may read which of their files.

An operator configures them as ``c.StarDockApp.archives``: a folder tree on a slow
tier (a tape front end, a cold file system) or an HTTP(S) file service reached by a
URL template for a file id. Each archive carries an access rule: everyone, some
users or groups (per file pattern), or a callable the operator supplies (one that
asks the archive's proprietary-period rules, say).

Everything here blocks (stat, HEAD, reads): the staging service calls it in its
own threads. A file id never leaves the archive's root: see core/staging.safe_relative.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from ..errors import Forbidden, NotFound, RecipeError, StarDockError
from .archive_access import AccessRule
from .staging import safe_relative

__all__ = [
    "CHUNK",
    "Archive",
    "Archives",
    "FolderArchive",
    "HttpArchive",
    "Located",
    "read_chunks",
    "sha256_of",
    "try_reflink",
]

CHUNK = 1 << 20
_HEX = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class Located:
    """A file found in an archive, before any byte moved."""

    archive: str
    file_id: str
    #: A path (folder archive) or a URL (HTTP archive): recorded as the file's source.
    source: str
    size: int | None
    sha256: str | None


class Archive(Protocol):
    name: str
    access: AccessRule
    #: Bytes per second this archive is read at, at most (None: as fast as it goes).
    bandwidth: float | None
    #: Its files never change, so they may be hard-linked rather than copied.
    link: bool

    def locate(self, file_id: str) -> Located: ...
    def open(self, located: Located, offset: int = 0) -> tuple[BinaryIO, int]:
        """The file's bytes from ``offset`` if the archive can start there, else from 0.

        Returns the stream and where it starts (a cut download resumes from there).
        """
        ...

    def local_path(self, located: Located) -> Path | None: ...


class FolderArchive:
    """A folder tree on a slow tier; a ``<file>.sha256`` sidecar gives a file's checksum."""

    def __init__(
        self,
        name: str,
        root: Path,
        access: AccessRule,
        *,
        bandwidth: float | None = None,
        link: bool = False,
    ) -> None:
        self.name = name
        self.root = root
        self.access = access
        self.bandwidth = bandwidth
        #: The operator says its files never change: they may be hard-linked, not copied.
        self.link = link

    def path_of(self, file_id: str) -> Path:
        relative = safe_relative(file_id)
        try:
            real_root = self.root.resolve(strict=True)
        except OSError:
            raise StarDockError(
                f"The archive {self.name!r} cannot be reached: its folder {self.root} is missing."
            ) from None
        candidate = real_root / relative
        try:
            real = candidate.resolve(strict=True)
        except FileNotFoundError:
            raise NotFound(f"The archive {self.name!r} has no file {file_id!r}.") from None
        except (OSError, RuntimeError) as err:
            raise StarDockError(
                f"The archive {self.name!r} could not look up {file_id!r}: {err}."
            ) from None
        if not real.is_relative_to(real_root):
            raise Forbidden(
                f"The file {file_id!r} is a link that points outside the archive {self.name!r}; "
                "it is refused."
            )
        if not real.is_file():
            raise NotFound(f"{file_id!r} in the archive {self.name!r} is not a file.")
        return real

    def locate(self, file_id: str) -> Located:
        path = self.path_of(file_id)
        return Located(self.name, file_id, str(path), path.stat().st_size, _sidecar(path))

    def open(self, located: Located, offset: int = 0) -> tuple[BinaryIO, int]:
        stream = open(self.path_of(located.file_id), "rb")
        stream.seek(offset)
        return stream, offset

    def local_path(self, located: Located) -> Path | None:
        return self.path_of(located.file_id)


def _sidecar(path: Path) -> str | None:
    """The sha256 in ``<file>.sha256`` (sha256sum's format), if there is one."""
    sidecar = path.with_name(path.name + ".sha256")
    try:
        words = sidecar.read_text(errors="replace").split()
    except OSError:
        return None
    return words[0].lower() if words and _HEX.fullmatch(words[0]) else None


class HttpArchive:
    """An HTTP(S) file service: ``url`` is a template with ``{id}``, e.g. 'https://x.org/files/{id}'.

    A file's checksum comes from its response headers: ``Repr-Digest`` (RFC 9530),
    ``Digest`` (RFC 3230) or the operator's ``checksum_header`` holding hex.
    """

    def __init__(
        self,
        name: str,
        url: str,
        access: AccessRule,
        *,
        bandwidth: float | None = None,
        timeout: float = 30.0,
        checksum_header: str = "X-Checksum-Sha256",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if url.count("{id}") != 1 or not url.startswith(("http://", "https://")):
            raise ValueError(
                "'url' must be an http(s) URL with '{id}' once, e.g. 'https://x.org/files/{id}'"
            )
        self.name = name
        self.url = url
        self.access = access
        self.bandwidth = bandwidth
        self.timeout = timeout
        self.link = False  # bytes over HTTP are always copied
        self.checksum_header = checksum_header
        self.headers = dict(headers or {})
        self._prefix, self._suffix = url.split("{id}")

    def id_of_url(self, url: str) -> str | None:
        """The file id in a URL this archive serves (decoded once, as the URL encodes it)."""
        if not url.startswith(self._prefix) or not url.endswith(self._suffix):
            return None
        middle = url[len(self._prefix) : len(url) - len(self._suffix)]
        return urllib.parse.unquote(middle) if middle else None

    def url_of(self, file_id: str) -> str:
        return (
            self._prefix + urllib.parse.quote(str(safe_relative(file_id)), safe="/") + self._suffix
        )

    def _request(self, file_id: str, method: str, offset: int = 0) -> Any:
        headers = dict(self.headers)
        if offset:
            headers["Range"] = f"bytes={offset}-"
        request = urllib.request.Request(self.url_of(file_id), method=method, headers=headers)
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as err:
            err.close()
            if err.code == 404:
                raise NotFound(f"The archive {self.name!r} has no file {file_id!r}.") from None
            if err.code in (401, 403):
                raise Forbidden(
                    f"The archive {self.name!r} refused the file {file_id!r} ({err.code} {err.reason})."
                ) from None
            if method == "HEAD" and err.code in (405, 501):
                return None
            raise StarDockError(
                f"The archive {self.name!r} answered {err.code} {err.reason} for {file_id!r}."
            ) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise StarDockError(
                f"The archive {self.name!r} cannot be reached for {file_id!r}: {reason}. "
                "Try again later, or ask its operator."
            ) from None

    def locate(self, file_id: str) -> Located:
        url = self.url_of(file_id)
        response = self._request(file_id, "HEAD")
        if response is None:  # no HEAD here: size and checksum come with the download
            return Located(self.name, file_id, url, None, None)
        with response:
            return Located(
                self.name, file_id, url, _length(response.headers), self._digest(response.headers)
            )

    def open(self, located: Located, offset: int = 0) -> tuple[BinaryIO, int]:
        response = self._request(located.file_id, "GET", offset)
        # 206 Partial Content starts at the offset; a server without ranges sends it all (200).
        start = offset if offset and response.status == 206 else 0
        stream: BinaryIO = response
        return stream, start

    def local_path(self, located: Located) -> Path | None:
        return None

    def _digest(self, headers: Any) -> str | None:
        own = headers.get(self.checksum_header)
        if own and _HEX.fullmatch(own.strip()):
            return str(own.strip().lower())
        for name in ("Repr-Digest", "Digest"):
            for part in (headers.get(name) or "").split(","):
                algorithm, _, value = part.strip().partition("=")
                if algorithm.lower() == "sha-256" and value:
                    try:
                        return base64.b64decode(value.strip(":"), validate=True).hex()
                    except (binascii.Error, ValueError):
                        continue
        return None


def _length(headers: Any) -> int | None:
    value = headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def read_chunks(stream: BinaryIO, bandwidth: float | None) -> Iterator[bytes]:
    """The stream's bytes in chunks, no faster than ``bandwidth`` bytes per second."""
    started, total = time.monotonic(), 0
    chunk = CHUNK if bandwidth is None else max(4096, min(CHUNK, int(bandwidth / 4)))
    while data := stream.read(chunk):
        yield data
        total += len(data)
        if bandwidth:
            ahead = total / bandwidth - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while data := f.read(CHUNK):
            digest.update(data)
    return digest.hexdigest()


class Archives:
    """The configured archives by name; malformed entries are reported, not fatal."""

    def __init__(self, specs: Mapping[str, Any]) -> None:
        self.problems: list[str] = []
        self._archives: dict[str, Archive] = {}
        for name, spec in specs.items():
            try:
                self._archives[name] = self._parse(name, spec)
            except (ValueError, TypeError) as err:
                self.problems.append(f"Archive {name!r} is ignored: {err}")

    @staticmethod
    def _parse(name: str, spec: Any) -> Archive:
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
            raise ValueError("an archive name is 1 to 64 letters, digits, '.', '_' or '-'")
        if not isinstance(spec, Mapping):
            raise ValueError("it must be a mapping with 'root' (a folder) or 'url' (a template)")
        known = {
            "root",
            "url",
            "access",
            "bandwidth",
            "link",
            "timeout",
            "checksum_header",
            "headers",
            "title",
        }
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}; known keys are {sorted(known)}")
        access = AccessRule.parse(spec.get("access", "all"))
        bandwidth = float(spec["bandwidth"]) if spec.get("bandwidth") else None
        if bool(spec.get("root")) == bool(spec.get("url")):
            raise ValueError("give exactly one of 'root' (a folder) or 'url' (a URL template)")
        if spec.get("root"):
            root = Path(str(spec["root"])).expanduser()
            if not root.is_absolute():
                raise ValueError(f"its root {str(root)!r} must be absolute")
            return FolderArchive(
                name, root, access, bandwidth=bandwidth, link=bool(spec.get("link"))
            )
        return HttpArchive(
            name,
            str(spec["url"]),
            access,
            bandwidth=bandwidth,
            timeout=float(spec.get("timeout", 30.0)),
            checksum_header=str(spec.get("checksum_header", "X-Checksum-Sha256")),
            headers=spec.get("headers"),
        )

    def __iter__(self) -> Iterator[Archive]:
        return iter(self._archives.values())

    def __len__(self) -> int:
        return len(self._archives)

    def get(self, name: str) -> Archive:
        try:
            return self._archives[name]
        except KeyError:
            known = ", ".join(sorted(self._archives)) or "none are configured"
            raise NotFound(f"There is no archive {name!r} (known: {known}).") from None

    def resolve(self, ref: str) -> tuple[Archive, str]:
        """The archive and file id a reference names: 'archive:id', a URL, or a bare id (one archive)."""
        if ref.startswith(("http://", "https://")):
            for archive in self._archives.values():
                if isinstance(archive, HttpArchive) and (file_id := archive.id_of_url(ref)):
                    safe_relative(file_id)
                    return archive, file_id
            raise RecipeError(f"No configured archive serves the URL {ref!r}.", item=ref)
        name, sep, file_id = ref.partition(":")
        if sep and name in self._archives:
            safe_relative(file_id)
            return self._archives[name], file_id
        if len(self._archives) == 1:
            (archive,) = self._archives.values()
            safe_relative(ref)
            return archive, ref
        known = ", ".join(sorted(self._archives)) or "none are configured"
        raise RecipeError(
            f"The file {ref!r} names no archive; write it as 'archive:id' (archives: {known}).",
            item=ref,
        )

    def names(self) -> list[str]:
        return sorted(self._archives)

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"name": a.name, "kind": "folder" if isinstance(a, FolderArchive) else "http"}
            for a in self._archives.values()
        ]


def try_reflink(source: Path, target: Path) -> bool:
    """Clone ``source`` to ``target`` where the file system can (shared blocks, copy on write)."""
    ficlone = 0x40049409  # FICLONE from linux/fs.h
    with open(source, "rb") as src, open(target, "wb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), ficlone, src.fileno())
            return True
        except OSError:
            pass
    os.unlink(target)
    return False
