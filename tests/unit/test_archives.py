"""Archives: ids that try to leave the root are refused, access rules, checksums from the archive."""

from __future__ import annotations

import base64
import hashlib
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_stardock.core.archive_access import AccessRule
from jupyter_stardock.core.archives import Archives, FolderArchive, HttpArchive
from jupyter_stardock.core.staging import parse_file_list, safe_relative
from jupyter_stardock.errors import Forbidden, NotFound, RecipeError, StarDockError


@pytest.mark.parametrize(
    ("file_id", "why"),
    [
        ("../etc/passwd", "'..'"),
        ("raw/../../x", "'..'"),
        ("/etc/passwd", "absolute"),
        ("~root/x", "absolute"),
        ("%2e%2e/etc/passwd", "percent-encoded"),
        ("raw%2F..%2F..%2Fx", "percent-encoded"),
        ("%252e%252e", "percent-encoded"),
        ("raw\\..\\x", "backslash"),
        ("raw//x", "empty"),
        ("./x", "'.'"),
        ("a\x00b", "control"),
        ("", "empty"),
    ],
)
def test_ids_that_leave_the_root_are_refused_with_a_sentence(file_id: str, why: str) -> None:
    with pytest.raises(RecipeError) as info:
        safe_relative(file_id)
    assert why in str(info.value)


def test_plain_ids_pass() -> None:
    assert str(safe_relative("raw/2024/obs 1.fits")) == "raw/2024/obs 1.fits"
    assert str(safe_relative("..hidden/x.fits")) == "..hidden/x.fits"


def test_file_lists_are_lines_or_words_with_comments() -> None:
    text = "tape:a.fits  tape:b.fits\n# a comment\n\nhttps://x.org/f/c.fits # trailing\n"
    assert parse_file_list(text) == ["tape:a.fits", "tape:b.fits", "https://x.org/f/c.fits"]
    with pytest.raises(RecipeError, match="empty"):
        parse_file_list("# nothing\n")


@pytest.fixture
def tape(tmp_path: Path) -> Path:
    root = tmp_path / "tape"
    (root / "raw").mkdir(parents=True)
    (root / "raw" / "a.fits").write_bytes(b"SIMPLE  = T" + b" " * 100)
    digest = hashlib.sha256((root / "raw" / "a.fits").read_bytes()).hexdigest()
    (root / "raw" / "a.fits.sha256").write_text(f"{digest}  a.fits\n")
    (tmp_path / "secret.txt").write_text("not the archive's")
    (root / "raw" / "escape.fits").symlink_to(tmp_path / "secret.txt")
    (root / "raw" / "inside.fits").symlink_to(root / "raw" / "a.fits")
    (root / "up").symlink_to(tmp_path)
    return root


def test_folder_archive_refuses_links_that_point_out_of_its_root(tape: Path) -> None:
    archive = FolderArchive("tape", tape, AccessRule.parse("all"))
    with pytest.raises(Forbidden, match="outside the archive 'tape'"):
        archive.locate("raw/escape.fits")
    with pytest.raises(Forbidden, match="outside"):
        archive.locate("up/secret.txt")
    assert archive.locate("raw/inside.fits").size == 111
    with pytest.raises(NotFound, match=re.escape("has no file 'raw/missing.fits'")):
        archive.locate("raw/missing.fits")
    with pytest.raises(NotFound, match="not a file"):
        archive.locate("raw")


def test_folder_archive_reads_the_sidecar_checksum(tape: Path) -> None:
    found = FolderArchive("tape", tape, AccessRule.parse("all")).locate("raw/a.fits")
    assert found.sha256 == hashlib.sha256((tape / "raw" / "a.fits").read_bytes()).hexdigest()
    assert found.source == str(tape / "raw" / "a.fits")


def test_access_rules_by_user_group_file_pattern_and_callable() -> None:
    rule = AccessRule.parse(
        [{"files": "proprietary/*", "users": ["ana"], "groups": ["odi"]}, {"all": True}]
    )
    assert rule.refusal("bob", [], "ppa", "public/x.fits") is None
    assert rule.refusal("ana", [], "ppa", "proprietary/x.fits") is None
    assert rule.refusal("eve", ["odi"], "ppa", "proprietary/x.fits") is None
    assert rule.refusal("bob", ["staff"], "ppa", "proprietary/x.fits") == (
        "only ana, group odi may read it"
    )
    assert AccessRule.parse({"users": ["ana"], "files": "a/*"}).refusal("ana", [], "t", "b/x") == (
        "no access rule of the archive covers it"
    )

    def period(user: str, groups: list[str], archive: str, file_id: str) -> bool | str:
        return True if user == "ana" else f"{file_id} is in its proprietary period"

    custom = AccessRule.parse(period)
    assert custom.refusal("ana", [], "ppa", "x") is None
    assert custom.refusal("bob", [], "ppa", "x") == "x is in its proprietary period"

    def broken(user: str, groups: list[str], archive: str, file_id: str) -> bool:
        raise KeyError(user)

    assert "access check failed" in (AccessRule.parse(broken).refusal("ana", [], "p", "x") or "")


def test_malformed_archives_are_reported_not_fatal(tmp_path: Path) -> None:
    archives = Archives(
        {
            "ok": {"root": str(tmp_path)},
            "both": {"root": str(tmp_path), "url": "http://x/{id}"},
            "relative": {"root": "data"},
            "notemplate": {"url": "http://x/files"},
            "badaccess": {"root": str(tmp_path), "access": {"users": "ana"}},
            "../x": {"root": str(tmp_path)},
        }
    )
    assert archives.names() == ["ok"]
    assert len(archives.problems) == 5
    assert all(p.startswith("Archive '") for p in archives.problems)


class _Files(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        self.send_header("Repr-Digest", f"sha-256=:{digest}:")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def file_service() -> Iterator[str]:
    _Files.files = {"/files/raw/a%20b.fits": b"FITS" * 10}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_archive_urls_ids_and_digest(file_service: str) -> None:
    archives = Archives({"ppa": {"url": file_service + "/files/{id}"}, "tape": {"root": "/tmp"}})
    archive, file_id = archives.resolve(f"{file_service}/files/raw/a%20b.fits")
    assert (archive.name, file_id) == ("ppa", "raw/a b.fits")
    assert isinstance(archive, HttpArchive)
    found = archive.locate(file_id)
    assert found.size == 40 and found.sha256 == hashlib.sha256(b"FITS" * 10).hexdigest()
    stream, start = archive.open(found)
    with stream:
        assert (stream.read(), start) == (b"FITS" * 10, 0)
    # This service has no ranges: asked for the rest, it sends it all, and says so.
    stream, start = archive.open(found, 8)
    with stream:
        assert (stream.read(), start) == (b"FITS" * 10, 0)
    with pytest.raises(NotFound, match=re.escape("has no file 'raw/nope.fits'")):
        archive.locate("raw/nope.fits")
    # An encoded '..' in a URL decodes to a path that leaves the root: refused.
    with pytest.raises(RecipeError, match=re.escape("'..'")):
        archives.resolve(f"{file_service}/files/raw/%2e%2e/%2e%2e/etc/passwd")
    with pytest.raises(RecipeError, match="percent-encoded"):
        archives.resolve(f"{file_service}/files/raw/%252e%252e/x")
    with pytest.raises(RecipeError, match="No configured archive serves"):
        archives.resolve("https://elsewhere.org/x.fits")
    with pytest.raises(RecipeError, match="names no archive"):
        archives.resolve("raw/a.fits")


def test_an_unreachable_archive_is_a_sentence_naming_the_file() -> None:
    archive = HttpArchive("ppa", "http://127.0.0.1:9/files/{id}", AccessRule.parse("all"))
    with pytest.raises(StarDockError, match=re.escape("cannot be reached for 'raw/a.fits'")):
        archive.locate("raw/a.fits")
