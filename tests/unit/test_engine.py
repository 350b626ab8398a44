"""The engine without an engine: docker-py's real errors, references, the build stream and its cut.

docker-py runs for real here; only its transport is replaced, by one that answers
every request the way dockerd does (a status and a JSON ``message``).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import pytest
import requests
from docker.api import APIClient
from requests.adapters import BaseAdapter

from jupyter_stardock.engine import BuildResult, ContainerSpec, Engine
from jupyter_stardock.engine.build_stream import consume, cut, flush
from jupyter_stardock.engine.client import CONTAINER_START_TIMEOUT
from jupyter_stardock.engine.references import repository_and_tag
from jupyter_stardock.errors import EngineError, NotFound


class Answers(BaseAdapter):
    """A transport that answers every request with one status and message, as dockerd does."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__()
        self.status = status
        self.message = message
        self.asked: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.asked.append(request)
        response = requests.Response()
        response.status_code = self.status
        response.reason = HTTPStatus(self.status).phrase
        response.url = str(request.url)
        response.request = request
        response.headers["Content-Type"] = "application/json"
        body = {"message": self.message} if self.status >= 400 else {"Id": "c0ffee"}
        response._content = json.dumps(body).encode()
        return response

    def close(self) -> None:
        pass


def engine_answering(
    monkeypatch: pytest.MonkeyPatch, status: int, message: str = ""
) -> tuple[Engine, Answers]:
    """An Engine whose docker-py client (real, API 1.41, never connecting) gets ``Answers``."""
    api = APIClient(base_url="unix:///nowhere/docker.sock", version="1.41")
    answers = Answers(status, message)
    api.mount("http+docker://", answers)
    engine = Engine()
    monkeypatch.setattr(engine._connections, "client", lambda quick=True: api)
    return engine, answers


@pytest.mark.parametrize("status", [400, 409, 500])
def test_a_refusal_keeps_the_engines_status_and_sentence(monkeypatch, status) -> None:
    engine, _ = engine_answering(monkeypatch, status, "the engine's own sentence")
    with pytest.raises(EngineError) as info:
        engine.tag_sync("sha256:abc", "stardock/env:1")
    assert info.value.engine_status == status
    assert str(info.value) == "The Docker Engine refused: the engine's own sentence"
    assert (
        isinstance(info.value.__cause__, Exception) and info.value.__cause__.status_code == status
    )


def test_no_such_object_is_not_found(monkeypatch) -> None:
    engine, _ = engine_answering(monkeypatch, 404, "No such container: gone")
    with pytest.raises(NotFound, match="No such container: gone"):
        engine._call(lambda: engine._client().inspect_container("gone"))
    assert engine.inspect_container_sync("gone") is None


def test_removal_in_progress_is_decided_by_the_status_not_the_words(monkeypatch) -> None:
    engine, answers = engine_answering(monkeypatch, 409, "worded some other way")
    engine.remove_container_sync("c1")  # 409: another removal is under way
    assert answers.asked[0].method == "DELETE"
    engine, _ = engine_answering(monkeypatch, 500, "removal of container c1 is already in progress")
    with pytest.raises(EngineError) as info:
        engine.remove_container_sync("c1")
    assert info.value.engine_status == 500


def test_killing_a_stopped_container_is_decided_by_the_status(monkeypatch) -> None:
    engine, answers = engine_answering(monkeypatch, 409, "worded some other way")
    engine.kill_container_sync("c1")  # 409: not running
    assert answers.asked[0].url and "/containers/c1/kill" in answers.asked[0].url
    engine, _ = engine_answering(monkeypatch, 404, "No such container: c1")
    engine.kill_container_sync("c1")
    engine, _ = engine_answering(monkeypatch, 500, "Container c1 is not running")
    with pytest.raises(EngineError) as info:
        engine.kill_container_sync("c1")
    assert info.value.engine_status == 500


def test_a_taken_container_name_is_a_409_engine_error(monkeypatch) -> None:
    engine, answers = engine_answering(
        monkeypatch, 409, 'Conflict. The container name "/k1" is already in use by container "c0"'
    )
    with pytest.raises(EngineError) as info:
        engine.run_container_sync(
            ContainerSpec(image="stardock/env:1", command=["true"], name="k1")
        )
    assert info.value.engine_status == 409
    assert [r.method for r in answers.asked] == ["POST"]  # refused at create: nothing to remove


@pytest.mark.parametrize(
    ("ref", "repository", "tag"),
    [
        ("repo", "repo", "latest"),
        ("repo:tag", "repo", "tag"),
        ("host:5000/repo", "host:5000/repo", "latest"),
        ("host:5000/repo:tag", "host:5000/repo", "tag"),
        ("repo@sha256:" + "a" * 64, "repo", "sha256:" + "a" * 64),
        ("host:5000/team/repo@sha256:" + "b" * 64, "host:5000/team/repo", "sha256:" + "b" * 64),
    ],
)
def test_references_split_into_repository_and_tag(ref, repository, tag) -> None:
    assert repository_and_tag(ref) == (repository, tag)


def test_tagging_for_a_registry_with_a_port_keeps_the_port(monkeypatch) -> None:
    engine, answers = engine_answering(monkeypatch, 201)
    engine.tag_sync("sha256:abc", "registry.example.org:5000/stardock/env")
    url = requests.utils.unquote(str(answers.asked[0].url))
    assert "repo=registry.example.org:5000/stardock/env" in url and "tag=latest" in url


@pytest.fixture
def stalled_stream() -> Iterator[requests.Response]:
    """A streamed response whose server sent its headers and one line, then says nothing."""
    server = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
            b'10\r\n{"stream":"hi"}\n\r\n'
        )
        done.wait(300)  # a build step that prints nothing until the test is over
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    host, port = server.getsockname()
    response = requests.get(f"http://{host}:{port}/build", stream=True, timeout=None)
    yield response
    done.set()
    thread.join()
    server.close()


def test_cut_wakes_a_reader_blocked_on_a_silent_stream(stalled_stream) -> None:
    seen: list[bytes] = []
    failure: list[BaseException] = []

    def read() -> None:
        try:
            for line in stalled_stream.iter_lines():
                seen.append(line)
        except Exception as err:
            failure.append(err)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while not seen and reader.is_alive():
        reader.join(0.05)
    # In a thread of its own, as the build's watchdog does: a close() alone would block
    # here until the server speaks again, which it does only when the test is over.
    cutter = threading.Thread(target=cut, args=(stalled_stream,), daemon=True)
    cutter.start()
    cutter.join(30)
    reader.join(30)
    assert not cutter.is_alive() and not reader.is_alive()
    assert seen == [b'{"stream":"hi"}']
    # The read fails (the build turns that into "cancelled"), it does not just end.
    assert [type(err) for err in failure] == [requests.exceptions.ChunkedEncodingError]
    cut(stalled_stream)  # cutting again, after the stream is closed, is harmless
    cut(None)


def test_lines_split_across_stream_chunks_are_joined() -> None:
    result = BuildResult(image_id="")
    batches: list[list[str]] = []
    for text in (
        "Step 1/2 : RUN echo hel",
        "lo\nline two\nhalf",
        " a line\n",
        "no newline at the end",
    ):
        consume({"stream": text}, result, batches.append)
    flush(result, batches.append)
    assert [line for batch in batches for line in batch] == [
        "Step 1/2 : RUN echo hello",
        "line two",
        "half a line",
        "no newline at the end",
    ]
    assert len(batches) == 3  # a batch per chunk that completes lines, not a call per line


def test_a_container_start_waits_longer_than_a_status_call(monkeypatch) -> None:
    """Kernels share the server's engine, whose quick timeout is sized for status calls."""
    engine, answers = engine_answering(monkeypatch, 201)
    api = engine._connections.client()
    api.timeout = 2.0  # c.StarDockApp.engine_timeout's default
    timeouts: list[float] = []
    send = answers.send

    def timed(request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        timeouts.append(kwargs["timeout"])
        return send(request, **kwargs)

    monkeypatch.setattr(answers, "send", timed)
    assert engine.run_container_sync(ContainerSpec(image="stardock/env:1", command=["true"]))
    assert timeouts == [CONTAINER_START_TIMEOUT, CONTAINER_START_TIMEOUT]  # create, start
    assert api.timeout == 2.0  # the thread's client is quick again for the next status call
