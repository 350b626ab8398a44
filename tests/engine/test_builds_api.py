"""The build service through its REST API, against a real server and the real engine."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from ..server_process import ServerProcess
from .helpers import left_over, step_containers


@pytest.fixture
def jp_server_config(tmp_path):  # type: ignore[no-untyped-def]
    data = tmp_path / "m51"
    data.mkdir()
    (data / "a.fits").write_bytes(b"x" * 2880)
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_stardock": True}},
        "StarDockApp": {
            "datasets": {"m51": {"path": str(data), "title": "Messier 51"}},
            "build_timeout": 600.0,
        },
    }


async def api(jp_fetch, method: str, *path: str, body: Any = None, **kwargs: Any) -> Any:  # type: ignore[no-untyped-def]
    if body is not None:
        kwargs["body"] = json.dumps(body)
    response = await jp_fetch("stardock", "api", *path, method=method, **kwargs)
    return response.code, (json.loads(response.body) if response.body else None)


async def expect_error(
    jp_fetch, code: int, method: str, *path: str, body: Any = None, raw: bytes | None = None
) -> str:  # type: ignore[no-untyped-def]
    kwargs: dict[str, Any] = {}
    if raw is not None:
        kwargs["body"] = raw
    elif body is not None:
        kwargs["body"] = json.dumps(body)
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("stardock", "api", *path, method=method, **kwargs)
    assert info.value.code == code, info.value.response.body
    message = json.loads(info.value.response.body)["message"]
    assert message and message[0].isupper(), message
    return message


async def remove_environment(jp_fetch, tag: str) -> None:  # type: ignore[no-untyped-def]
    """Remove a test's environment as a user does (DELETE), which also recycles its warm kernel.

    The engine alone could not: a build pre-starts a warm kernel of its environment
    (issue 14), and a running container holds its image.
    """
    _, listing = await api(jp_fetch, "GET", "environments")
    (env_id,) = [e["id"] for e in listing["environments"] if tag in e["tags"]]
    code, _ = await api(jp_fetch, "DELETE", "environments", env_id)
    assert code in (200, 204)


def unique(command: str = "true") -> list[str]:
    """A command that makes each recipe distinct, so tests never share a cached image."""
    return [f"echo test-{uuid.uuid4().hex[:10]}", command]


#: Builds as the `progress` events of the log streams read so far carried them.
PROGRESS: list[dict[str, Any]] = []


async def read_sse(
    jp_fetch, build_id: str, offset: int = 0, headers: dict[str, str] | None = None
) -> tuple[list[tuple[str | None, str]], dict[str, Any]]:  # type: ignore[no-untyped-def]
    events: list[tuple[str | None, str]] = []
    buffer = ""

    def on_chunk(chunk: bytes) -> None:
        nonlocal buffer
        buffer += chunk.decode()

    await jp_fetch(
        "stardock",
        "api",
        "builds",
        build_id,
        "log",
        params={"offset": str(offset)},
        headers={"Accept": "text/event-stream", **(headers or {})},
        streaming_callback=on_chunk,
        request_timeout=600,
    )
    end: dict[str, Any] = {}
    for block in buffer.split("\n\n"):
        fields = dict(
            line.split(": ", 1)
            for line in block.splitlines()
            if ": " in line and not line.startswith(":")
        )
        if fields.get("event") == "end":
            end = json.loads(fields["data"])
        elif fields.get("event") == "progress":
            PROGRESS.append(json.loads(fields["data"]))
        elif "data" in fields:
            events.append((fields.get("id"), fields["data"]))
    return events, end


async def test_build_follow_sse_and_image_has_labels(
    jp_fetch, stardock, base_image, engine
) -> None:
    recipe = {
        "dataset": "m51",
        "commands": [*unique(), "RUN echo 'quoted | piped' && echo done"],
        "pip_packages": ["six"],
    }
    code, body = await api(jp_fetch, "POST", "builds", body=recipe)
    assert code == 202
    build = body["build"]
    PROGRESS.clear()
    events, end = await read_sse(jp_fetch, build["id"])
    # Progress rides along the log: one event per batch with a Step line, rising.
    fractions = [p["progress"] for p in PROGRESS if p["id"] == build["id"]]
    assert fractions and fractions == sorted(fractions), fractions
    assert end["state"] == "succeeded", end
    assert end["progress"] == 1.0
    lines = [data for _, data in events]
    assert any(line.startswith("Step 1/") for line in lines)
    assert any("quoted | piped" in line for line in lines)
    assert [int(i) for i, _ in events if i is not None] == list(range(len(events)))
    # Resume from the middle.
    later, _ = await read_sse(jp_fetch, build["id"], offset=5)
    assert later == events[5:]
    image = engine.image_sync(end["tag"])
    assert image is not None and image.id == end["image_id"]
    assert json.loads(image.labels["org.jupyter-stardock.recipe"])["pip_packages"] == ["six"]
    assert image.labels["org.jupyter-stardock.content-hash"] == end["content_hash"]
    # The same recipe now resolves to the environment without building.
    code, again = await api(jp_fetch, "POST", "builds", body=recipe)
    assert code == 200 and again["environment"]["image_id"] == image.id
    code, envs = await api(jp_fetch, "GET", "environments")
    assert any(e["id"] == end["environment_id"] for e in envs["environments"])
    code, df = await api(jp_fetch, "GET", "environments", end["environment_id"], "dockerfile")
    assert 'RUN ["/bin/sh", "-c", "echo \'quoted | piped\' && echo done"]' in df["dockerfile"]
    code, log = await api(jp_fetch, "GET", "builds", build["id"], "log", params={"offset": "0"})
    assert log["complete"] and log["lines"] == lines
    code, _ = await api(jp_fetch, "DELETE", "environments", end["environment_id"])
    assert code == 204
    assert engine.image_sync(end["tag"]) is None


async def test_the_end_event_names_the_environment_and_its_published_kernelspec(
    jp_fetch, stardock, base_image
) -> None:
    recipe = {"dataset": "m51", "commands": unique()}
    _code, body = await api(jp_fetch, "POST", "builds", body=recipe)
    assert body["build"]["environment"] is None  # not built yet
    _events, end = await read_sse(jp_fetch, body["build"]["id"])
    assert end["state"] == "succeeded", end
    environment = end["environment"]
    # Exactly as the environments list shows it, plus the kernelspec of this dataset.
    _code, envs = await api(jp_fetch, "GET", "environments")
    listed = next(e for e in envs["environments"] if e["id"] == end["environment_id"])
    assert {k: v for k, v in environment.items() if k != "kernelspec"} == listed
    # Published before the stream ended: the server offers it at once.
    response = await jp_fetch("api", "kernelspecs")
    assert environment["kernelspec"] in json.loads(response.body)["kernelspecs"]
    # The build's own record says the same, and so does asking again with the recipe.
    _code, build = await api(jp_fetch, "GET", "builds", end["id"])
    assert build["environment"] == environment
    code, again = await api(jp_fetch, "POST", "builds", body=recipe)
    assert code == 200 and again["environment"]["kernelspec"] == environment["kernelspec"]
    await api(jp_fetch, "DELETE", "environments", end["environment_id"])


async def test_identical_posts_coalesce_into_one_engine_build(
    jp_fetch, stardock, base_image
) -> None:
    recipe = {"commands": unique("sleep 2")}
    before = stardock.builds.engine_builds
    results = await asyncio.gather(
        *(api(jp_fetch, "POST", "builds", body=recipe) for _ in range(3))
    )
    ids = {body["build"]["id"] for code, body in results}
    assert [code for code, _ in results] == [202, 202, 202]
    assert len(ids) == 1
    record = await stardock.builds.wait(ids.pop())
    assert record.state == "succeeded"
    assert stardock.builds.engine_builds - before == 1
    await remove_environment(jp_fetch, record.tag)


async def test_cancel_mid_build_leaves_no_container(jp_fetch, stardock, base_image, engine) -> None:
    _code, body = await api(
        jp_fetch, "POST", "builds", body={"commands": unique("echo sleeping; sleep 300")}
    )
    build_id = body["build"]["id"]
    buildlog = stardock.builds.log(build_id)
    # Generous: on a loaded two-core machine the step may take a while to begin.
    for _ in range(1200):
        if any("sleeping" in line for line in buildlog.read(0).lines):
            break
        await asyncio.sleep(0.1)
    assert any("sleeping" in line for line in buildlog.read(0).lines), buildlog.read(0).lines
    _code, cancelled = await api(jp_fetch, "DELETE", "builds", build_id)
    assert cancelled["state"] == "cancelled"
    _code, again = await api(jp_fetch, "GET", "builds", build_id)
    assert again["state"] == "cancelled" and again["image_id"] is None
    # The build's own step containers: gone, whatever else the shared engine runs.
    ours = step_containers(buildlog.read(0).lines)
    assert ours, buildlog.read(0).lines
    for _ in range(40):
        if not left_over(engine, ours):
            break
        await asyncio.sleep(0.5)
    assert left_over(engine, ours) == set()


class TestTimeout:
    @pytest.fixture
    def jp_server_config(self):  # type: ignore[no-untyped-def]
        return {
            "ServerApp": {"jpserver_extensions": {"jupyter_stardock": True}},
            "StarDockApp": {"build_timeout": 4.0},
        }

    async def test_timeout_stops_the_build(self, jp_fetch, stardock, base_image, engine) -> None:
        _code, body = await api(jp_fetch, "POST", "builds", body={"commands": unique("sleep 300")})
        record = await stardock.builds.wait(body["build"]["id"])
        assert record.state == "failed"
        assert "longer than the limit of 4 seconds" in record.error
        assert record.image_id is None
        ours = step_containers(stardock.builds.log(record.id).read(0).lines)
        for _ in range(40):
            if not left_over(engine, ours):
                break
            await asyncio.sleep(0.5)
        assert left_over(engine, ours) == set()


async def test_status_answers_quickly_while_a_build_streams(jp_fetch, stardock, base_image) -> None:
    code, body = await api(
        jp_fetch,
        "POST",
        "builds",
        body={"commands": unique("for i in $(seq 1 40); do echo line $i; sleep 0.1; done")},
    )
    build_id = body["build"]["id"]
    stream = asyncio.ensure_future(read_sse(jp_fetch, build_id))
    await asyncio.sleep(1.0)
    worst = 0.0
    for _ in range(5):
        start = time.monotonic()
        code, _status = await api(jp_fetch, "GET", "status")
        worst = max(worst, time.monotonic() - start)
        assert code == 200
        await asyncio.sleep(0.2)
    assert worst < 1.5
    _, end = await stream
    assert end["state"] == "succeeded"
    await remove_environment(jp_fetch, end["tag"])


async def test_bad_requests(jp_fetch, stardock, base_image) -> None:
    message = await expect_error(
        jp_fetch, 400, "POST", "builds", body={"commands": ["ls\nFROM evil"]}
    )
    assert "command 1" in message.lower()
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(
            "stardock",
            "api",
            "dockerfile",
            method="POST",
            body=json.dumps({"commands": ["ls", "ls\nFROM evil"]}),
        )
    assert json.loads(info.value.response.body)["item"] == "command 2"  # the panel marks that line
    message = await expect_error(
        jp_fetch, 400, "POST", "dockerfile", body={"apps": ["no-such-app"]}
    )
    assert "no-such-app" in message
    message = await expect_error(jp_fetch, 400, "POST", "builds", body={"dataset": "nope"})
    assert "nope" in message
    message = await expect_error(jp_fetch, 400, "POST", "builds", raw=b"{not json")
    assert "JSON" in message
    message = await expect_error(jp_fetch, 400, "POST", "builds", body={"colour": "blue"})
    assert "colour" in message
    await expect_error(jp_fetch, 404, "GET", "builds", "0123456789ab")
    await expect_error(jp_fetch, 404, "GET", "builds", "0123456789ab", "log")
    await expect_error(jp_fetch, 404, "DELETE", "builds", "0123456789ab")
    await expect_error(jp_fetch, 404, "GET", "environments", "0123456789abcdef")
    await expect_error(jp_fetch, 404, "DELETE", "environments", "0123456789abcdef")
    huge = {"commands": ["echo " + "x" * 1000] * 300}
    message = await expect_error(jp_fetch, 413, "POST", "builds", body=huge)
    assert "limit" in message


async def test_dockerfile_preview_and_catalog(jp_fetch, stardock, base_image) -> None:
    code, apps = await api(jp_fetch, "GET", "apps")
    ids = {a["id"] for a in apps["apps"]}
    assert {"astropy", "pyraf", "iraf", "ds9"} <= ids
    code, preview = await api(
        jp_fetch, "POST", "dockerfile", body={"apps": ["pyraf"], "commands": ["RUN echo hi"]}
    )
    assert code == 200
    assert preview["apps"] == ["iraf", "pyraf"] or set(preview["apps"]) == {"iraf", "pyraf"}
    assert "iraf" in json.dumps(preview["added_dependencies"])
    assert "\nFROM " in preview["dockerfile"]
    assert len(preview["content_hash"]) == 64
    code, again = await api(
        jp_fetch, "POST", "dockerfile", body={"commands": ["echo hi"], "apps": ["pyraf"]}
    )
    assert again["content_hash"] == preview["content_hash"]
    code, datasets = await api(jp_fetch, "GET", "datasets")
    (m51,) = datasets["datasets"]
    assert m51["id"] == "m51" and m51["files"] == 1 and m51["bytes"] == 2880


class TestEngineDown:
    @pytest.fixture
    def jp_server_config(self, tmp_path):  # type: ignore[no-untyped-def]
        return {
            "ServerApp": {"jpserver_extensions": {"jupyter_stardock": True}},
            "StarDockApp": {"docker_host": f"unix://{tmp_path}/none.sock"},
        }

    async def test_503_fast(self, jp_fetch) -> None:
        for method, path, body in (
            ("POST", ("builds",), {"commands": ["true"]}),
            ("POST", ("dockerfile",), {}),
            ("GET", ("environments",), None),
        ):
            start = time.monotonic()
            message = await expect_error(jp_fetch, 503, method, *path, body=body)
            assert time.monotonic() - start < 2.0
            assert "Docker Engine" in message


def test_server_killed_mid_build_shows_interrupted_after_restart(
    tmp_path, base_image, engine
) -> None:
    server = ServerProcess(tmp_path)
    server.start()
    try:
        body = server.request(
            "POST", "/stardock/api/builds", {"commands": unique("echo long; sleep 300")}
        )
        build_id = body["build"]["id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            log = server.request("GET", f"/stardock/api/builds/{build_id}/log")
            if any("long" in line for line in log["lines"]) and log["state"] == "running":
                break
            time.sleep(0.3)
        server.kill()
        server.start()
        record = server.request("GET", f"/stardock/api/builds/{build_id}")
        assert record["state"] == "failed"
        assert "interrupted by a server restart" in record["error"]
        # The engine dropped the build when its client vanished: its step container
        # does not outlive the killed server.
        ours = step_containers(
            server.request("GET", f"/stardock/api/builds/{build_id}/log")["lines"]
        )
        assert ours
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and left_over(engine, ours):
            time.sleep(0.5)
        assert left_over(engine, ours) == set()
    finally:
        server.stop()


async def test_a_failed_command_names_its_line_and_quotes_its_own_output(
    jp_fetch, stardock, base_image
) -> None:
    recipe = {"commands": [f"echo test-{uuid.uuid4().hex[:10]}", "pip instal foo"]}
    code, body = await api(jp_fetch, "POST", "builds", body=recipe)
    assert code == 202
    PROGRESS.clear()
    events, end = await read_sse(jp_fetch, body["build"]["id"])
    assert end["state"] == "failed", end
    first, *rest = end["error"].splitlines()
    assert first == "Custom command 2 (`pip instal foo`) failed with exit code 1. Its last output:"
    # pip's own words, without the builder's colour codes, and not the engine's sentence.
    assert '    ERROR: unknown command "instal" - maybe you meant "install"' in rest
    assert "returned a non-zero code" not in end["error"]
    assert "\x1b" not in end["error"]
    failure = end["failure"]
    assert failure["item"] == "command 2" and failure["exit_code"] == 1
    assert failure["output"] == ['ERROR: unknown command "instal" - maybe you meant "install"']
    assert end["step"] == failure["step"] and failure["steps"] >= failure["step"]
    # The stored log is clean too, and progress events are not log lines.
    lines = [data for _, data in events]
    assert not any("\x1b" in line or "\r" in line for line in lines)
    assert not any(line.startswith("{") for line in lines)
    assert PROGRESS and all(p["id"] == end["id"] for p in PROGRESS)
    code, again = await api(jp_fetch, "GET", "builds", end["id"])
    assert again["failure"] == failure and again["error"] == end["error"]


async def test_malformed_input_answers_400_with_a_sentence(jp_fetch, stardock, base_image) -> None:
    message = await expect_error(jp_fetch, 400, "POST", "builds", raw=b"[" * 50_000)
    assert "nests" in message
    message = await expect_error(jp_fetch, 400, "POST", "dockerfile", raw=b'{"a":' * 20_000)
    assert "nests" in message
    code, body = await api(jp_fetch, "POST", "builds", body={"commands": unique()})
    build_id = body["build"]["id"]
    await stardock.builds.wait(build_id)
    for name, value in (
        ("limit", "ten"),
        ("limit", "-5"),
        ("limit", "²"),
        ("limit", "1e3"),
        ("limit", "0"),
        ("offset", "9" * 5000),
        ("offset", "²"),
    ):
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch("stardock", "api", "builds", build_id, "log", params={name: value})
        assert info.value.code == 400, (name, value, info.value.response.body)
        reply = json.loads(info.value.response.body)
        assert reply["message"].startswith(f"The {name} ") and reply["item"] == name
    # A Last-Event-ID that is not a line number is ignored, as the SSE spec's clients expect.
    code, page = await api(jp_fetch, "GET", "builds", build_id, "log", params={"limit": "2"})
    assert code == 200 and len(page["lines"]) == 2
    events, end = await read_sse(jp_fetch, build_id, headers={"Last-Event-ID": "²"})
    assert events and events[0][0] == "0" and end["state"] == "succeeded"
    await remove_environment(jp_fetch, end["tag"])
