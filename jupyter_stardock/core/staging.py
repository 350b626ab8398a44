"""Staging requests as data: what a user asked for, how far it got, and the names it may use.

A request names files in archives (``archive:id`` or a URL the archive serves);
each file lands in the dataset under a relative name that can never leave it.
The request is persisted as JSON after each step, so a server that restarts
(or was killed) picks it up where it stopped. No tornado, no docker; the only I/O
is reading a staged dataset's manifest back (read_manifest).
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from ..errors import RecipeError

__all__ = [
    "FileState",
    "StagingRequest",
    "State",
    "manifest_of",
    "parse_file_list",
    "read_manifest",
    "safe_relative",
]

State = Literal["queued", "staging", "complete", "failed", "cancelled"]
#: States a restarted server resumes.
UNFINISHED: tuple[State, ...] = ("queued", "staging")
MANIFEST_NAME = "STARDOCK-MANIFEST.json"
MANIFEST_FORMAT = "jupyter-stardock staged dataset 1"

_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
REQUEST_ID = re.compile(r"[0-9a-f]{32}")
MAX_FILES = 10000


def safe_relative(file_id: str, *, what: str = "file id") -> PurePosixPath:
    """``file_id`` as a relative path that stays below a root, or RecipeError saying why not.

    Refused: empty ids, control characters, backslashes, absolute paths, ``~``,
    ``.`` and ``..`` segments, and percent-encoded forms (``%2e%2e%2f``), since an
    archive or a web server may decode them into a path that leaves its root.
    """
    shown = file_id if len(file_id) <= 200 else file_id[:200] + "…"
    if not file_id or not file_id.strip():
        raise RecipeError(f"An empty {what} was given.")
    if _CONTROL.search(file_id):
        raise RecipeError(f"The {what} {shown!r} holds control characters.", item=shown)
    if _ENCODED.search(file_id):
        raise RecipeError(
            f"The {what} {shown!r} is percent-encoded; give it as plain text (encoded forms "
            "could name a path outside the archive).",
            item=shown,
        )
    if "\\" in file_id:
        raise RecipeError(f"The {what} {shown!r} holds a backslash; use '/'.", item=shown)
    if file_id.startswith(("/", "~")):
        raise RecipeError(
            f"The {what} {shown!r} is an absolute path; give it relative to the archive.",
            item=shown,
        )
    parts = file_id.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise RecipeError(
            f"The {what} {shown!r} has an empty, '.' or '..' part; it must stay inside the archive.",
            item=shown,
        )
    if any(len(p.encode()) > 255 for p in parts) or len(file_id) > 1024:
        raise RecipeError(f"The {what} {shown!r} is too long.", item=shown)
    return PurePosixPath(*parts)


@dataclass
class FileState:
    """One file of a request: where from, where to, and how far it got."""

    archive: str
    file_id: str
    #: Its name in the dataset (relative, checked by safe_relative).
    name: str
    size: int | None = None
    bytes_done: int = 0
    #: The sha256 the archive gave, if it gave one (verified against the bytes).
    expected_sha256: str | None = None
    sha256: str | None = None
    #: Where the bytes came from (a path or URL), for the provenance manifest.
    source: str = ""
    staged_at: float | None = None
    #: "copy", "link", "reflink" or "stored" (the same bytes were in the store already).
    how: str = ""
    done: bool = False


@dataclass
class StagingRequest:
    """A user's request for a dataset made of archive files; persisted as JSON."""

    dataset: str
    owner: str
    files: list[FileState]
    groups: list[str] = field(default_factory=list)
    title: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: State = "queued"
    message: str = ""
    created: float = field(default_factory=time.time)
    finished: float | None = None
    #: Which server runs it: a restarted server of the same lineage resumes it.
    lineage: str = ""
    instance: str = ""
    lease_dir: str = ""

    @property
    def files_done(self) -> int:
        return sum(1 for f in self.files if f.done)

    @property
    def bytes_done(self) -> int:
        return sum(f.bytes_done for f in self.files)

    @property
    def bytes_total(self) -> int | None:
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(s or 0 for s in sizes)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StagingRequest:
        values = dict(data)
        values["files"] = [FileState(**f) for f in values.get("files", [])]
        return cls(**values)

    def view(self) -> dict[str, Any]:
        """What the API, the CLI and the panel show: progress in files and bytes."""
        return {
            "id": self.id,
            "dataset": self.dataset,
            "title": self.title or self.dataset,
            "owner": self.owner,
            "state": self.state,
            "message": self.message,
            "files_total": len(self.files),
            "files_done": self.files_done,
            "bytes_total": self.bytes_total,
            "bytes_done": self.bytes_done,
            "created": self.created,
            "finished": self.finished,
            "files": [
                {"name": f.name, "archive": f.archive, "id": f.file_id, "done": f.done}
                for f in self.files
            ],
        }


def parse_file_list(text_or_lines: str | Iterable[str]) -> list[str]:
    """The file references in a pasted list: one per line or space-separated; '#' starts a comment."""
    lines = text_or_lines.splitlines() if isinstance(text_or_lines, str) else text_or_lines
    refs: list[str] = []
    for line in lines:
        if not isinstance(line, str):
            raise RecipeError("Each file must be given as text (an archive id or a URL).")
        refs.extend(line.split("#", 1)[0].split())
    if not refs:
        raise RecipeError("The file list is empty: give one archive id or URL per line.")
    if len(refs) > MAX_FILES:
        raise RecipeError(
            f"A request may name at most {MAX_FILES} files; this one names {len(refs)}."
        )
    return refs


def manifest_of(request: StagingRequest) -> dict[str, Any]:
    """The provenance manifest a staged dataset carries: every file's source, time and checksum."""
    return {
        "format": MANIFEST_FORMAT,
        "dataset": request.dataset,
        "title": request.title or request.dataset,
        "owner": request.owner,
        "request": request.id,
        "staged": request.finished,
        "files": [
            {
                "name": f.name,
                "archive": f.archive,
                "id": f.file_id,
                "source": f.source,
                "bytes": f.bytes_done,
                "sha256": f.sha256,
                "checksum_from": "archive" if f.expected_sha256 else "computed",
                "staged_at": f.staged_at,
            }
            for f in request.files
        ],
    }


def read_manifest(root: Path, max_bytes: int = 16 << 20) -> dict[str, Any] | None:
    """The provenance manifest of a staged dataset at ``root`` (blocking), else None.

    Read without following a link: a dataset someone could write must not make an
    archive carry another file as its provenance.
    """
    try:
        fd = os.open(root / MANIFEST_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            return None
        try:
            data = json.loads(f.read())
        except ValueError:
            return None
    return data if isinstance(data, dict) and data.get("format") == MANIFEST_FORMAT else None
