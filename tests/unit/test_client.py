"""The REST client: finding the server, error sentences, SSE, and shared formatting."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from jupyter_stardock.client.api import StarDockClient, recipe_from
from jupyter_stardock.client.discovery import ServerInfo, discover_server
from jupyter_stardock.client.events import BuildProgress, LogEvent, parse_sse
from jupyter_stardock.client.kernel import decode_message
from jupyter_stardock.client.presentation import (
    format_age,
    format_size,
    parse_size,
    parse_time,
    progress_bar,
)
from jupyter_stardock.errors import (
    ApiError,
    BuildFailed,
    ClientError,
    ExecutionFailed,
    ServerNotFound,
    ServerUnreachable,
)


def write_runtime(folder: Path, pid: int, url: str, token: str = "", root: str = "/") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"jpserver-{pid}.json"
    path.write_text(json.dumps({"pid": pid, "url": url, "token": token, "root_dir": root}))
    return path


@pytest.fixture
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


class TestDiscovery:
    def test_explicit_address_wins_and_takes_the_token_from_env(self, tmp_path: Path) -> None:
        write_runtime(tmp_path, os.getppid(), "http://localhost:1111/", "filetoken")
        info = discover_server(
            "http://example.org:8888/x",
            environ={"JUPYTER_TOKEN": "envtoken"},
            runtime_dir=tmp_path,
        )
        assert info == ServerInfo("http://example.org:8888/x/", "envtoken", "the address given")

    def test_server_url_variable(self, tmp_path: Path) -> None:
        info = discover_server(
            environ={"JUPYTER_SERVER_URL": "http://127.0.0.1:9999", "JUPYTER_TOKEN": "t"},
            runtime_dir=tmp_path,
        )
        assert (info.url, info.token, info.source) == (
            "http://127.0.0.1:9999/",
            "t",
            "JUPYTER_SERVER_URL",
        )

    def test_the_server_running_this_process_is_found_by_its_runtime_file(
        self, tmp_path: Path
    ) -> None:
        # Another live server, then the one that is our ancestor (as a kernel's server is).
        write_runtime(tmp_path, os.getpid(), "http://localhost:2222/", "other")
        path = write_runtime(tmp_path, os.getppid(), "http://localhost:1111/lab/", "mine")
        info = discover_server(environ={}, runtime_dir=tmp_path, pid=os.getpid())
        assert info.url == "http://localhost:1111/lab/" and info.token == "mine"
        assert str(path) in info.source and "running this process" in info.source

    def test_jupyterhub_variables(self, tmp_path: Path) -> None:
        env = {
            "JUPYTERHUB_API_TOKEN": "hubtoken",
            "JUPYTERHUB_SERVICE_PREFIX": "/user/ana/",
            "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:43210/user/ana/",
        }
        info = discover_server(environ=env, runtime_dir=tmp_path, pid=os.getpid())
        assert info == ServerInfo("http://127.0.0.1:43210/user/ana/", "hubtoken", "JupyterHub")
        del env["JUPYTERHUB_SERVICE_URL"]
        info = discover_server(environ=env, runtime_dir=tmp_path, pid=os.getpid())
        assert info.url == "http://127.0.0.1:8888/user/ana/"

    def test_a_hub_server_runtime_file_without_token_uses_the_hub_token(
        self, tmp_path: Path
    ) -> None:
        write_runtime(tmp_path, os.getppid(), "http://127.0.0.1:5555/user/ana/", "")
        env = {"JUPYTERHUB_API_TOKEN": "hubtoken", "JUPYTERHUB_SERVICE_PREFIX": "/user/ana/"}
        info = discover_server(environ=env, runtime_dir=tmp_path, pid=os.getpid())
        assert (info.url, info.token) == ("http://127.0.0.1:5555/user/ana/", "hubtoken")

    def test_the_only_live_server_and_dead_files_are_skipped(
        self, tmp_path: Path, dead_pid: int
    ) -> None:
        write_runtime(tmp_path, dead_pid, "http://localhost:3333/", "dead")
        write_runtime(tmp_path, 1, "http://localhost:4444/", "alive")  # pid 1 always lives
        info = discover_server(environ={}, runtime_dir=tmp_path, pid=dead_pid)
        assert (info.url, info.token) == ("http://localhost:4444/", "alive")

    def test_several_servers_prefer_the_one_serving_cwd(self, tmp_path: Path) -> None:
        work = tmp_path / "work"
        (work / "sub").mkdir(parents=True)
        write_runtime(tmp_path / "rt", 1, "http://localhost:1/", "a", root=str(tmp_path / "else"))
        write_runtime(tmp_path / "rt", os.getpid(), "http://localhost:2/", "b", root=str(work))
        info = discover_server(environ={}, runtime_dir=tmp_path / "rt", pid=1, cwd=work / "sub")
        assert info.url == "http://localhost:2/"
        with pytest.raises(ServerNotFound, match="Several Jupyter servers") as err:
            discover_server(environ={}, runtime_dir=tmp_path / "rt", pid=1, cwd=tmp_path)
        assert "--url URL --token TOKEN" in str(err.value)

    def test_nothing_found_names_what_was_tried(self, tmp_path: Path) -> None:
        with pytest.raises(ServerNotFound) as err:
            discover_server(
                environ={}, runtime_dir=tmp_path, pid=1, override_hint="`%stardock connect URL`"
            )
        message = str(err.value)
        assert "JUPYTER_SERVER_URL" in message and "JupyterHub" in message
        assert str(tmp_path) in message and "`%stardock connect URL`" in message
        assert "\n" not in message


class _Stub(BaseHTTPRequestHandler):
    """Answers each path with its list of replies in turn (the last one repeats)."""

    replies: dict[str, list[tuple[int, Any]]] = {}
    seen: list[dict[str, str]] = []

    def _reply(self) -> None:
        self.seen.append({"path": self.path, "auth": self.headers.get("Authorization", "")})
        queue = self.replies.get(self.path.split("?")[0], [(404, "<html>nope</html>")])
        code, body = queue.pop(0) if len(queue) > 1 else queue[0]
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_DELETE = _reply

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[tuple[StarDockClient, type[_Stub]]]:
    _Stub.replies, _Stub.seen = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/base%40x/"
    yield StarDockClient(ServerInfo(url, "sekret", "a test")), _Stub
    server.shutdown()
    server.server_close()


class TestErrors:
    def test_a_stardock_sentence_is_passed_on(self, stub: Any) -> None:
        client, handler = stub
        handler.replies["/base%40x/stardock/api/builds"] = [
            (400, {"message": "There is no app called 'nope' in the catalog.", "version": "0.1.0"})
        ]
        with pytest.raises(ApiError) as err:
            client.submit({"apps": ["nope"]})
        assert str(err.value) == "There is no app called 'nope' in the catalog."
        assert err.value.status == 400
        assert handler.seen[0]["auth"] == "token sekret"

    def test_a_refused_token_says_so(self, stub: Any) -> None:
        client, handler = stub
        handler.replies["/base%40x/stardock/api/environments"] = [
            (403, {"message": "Forbidden", "reason": None})
        ]
        with pytest.raises(ApiError, match="token is missing or wrong"):
            client.environments()

    def test_a_server_without_the_extension_says_how_to_enable_it(self, stub: Any) -> None:
        client, _handler = stub
        with pytest.raises(ApiError, match="jupyter server extension enable jupyter_stardock"):
            client.apps()

    def test_an_unreachable_server_names_the_address_and_how_it_was_found(self) -> None:
        client = StarDockClient(ServerInfo("http://127.0.0.1:9/", "", "JUPYTER_SERVER_URL"))
        with pytest.raises(ServerUnreachable) as err:
            client.environments()
        assert "http://127.0.0.1:9/" in str(err.value)
        assert "JUPYTER_SERVER_URL" in str(err.value)

    def test_a_missing_kernel_is_none(self, stub: Any) -> None:
        client, handler = stub
        handler.replies["/base%40x/api/kernels/abc"] = [(404, {"message": "Kernel does not exist"})]
        assert client.kernel("abc") is None
        client.shutdown_kernel("abc")  # already gone is fine


def test_build_follows_the_log_and_resolves_the_environment(stub: Any) -> None:
    client, handler = stub
    build = {"id": "b1", "environment_id": "e" * 16, "state": "queued"}
    environment = {"id": "e" * 16, "kernelspec": "stardock-" + "e" * 16}
    handler.replies["/base%40x/stardock/api/builds"] = [
        (202, {"build": build, "environment": None})
    ]
    # As the server sends it: a progress event after each page with a step line, and the
    # end event's build carrying its environment (with its kernelspec).
    step = {**build, "state": "running", "steps": 4}
    done = {**build, "state": "succeeded", "step": 4, "steps": 4, "environment": environment}
    handler.replies["/base%40x/stardock/api/builds/b1/log"] = [
        (
            200,
            "id: 0\ndata: Step 1/4 : FROM x\n\n"
            f"event: progress\ndata: {json.dumps({**step, 'step': 1})}\n\n"
            ": keep-alive\n\nid: 1\ndata: Step 3/4 : RUN y\n\n"
            f"event: progress\ndata: {json.dumps({**step, 'step': 3})}\n\n"
            f"event: end\ndata: {json.dumps(done)}\n\n",
        )
    ]
    seen: list[tuple[str, float]] = []
    result = client.build({"apps": []}, lambda p: seen.append((p.state, p.fraction)))
    assert result == environment
    assert seen[0] == ("queued", 0.0)
    assert ("running", 0.5) in seen and seen[-1] == ("succeeded", 1.0)


def test_a_failed_build_is_one_sentence_naming_its_log(stub: Any) -> None:
    client, handler = stub
    build = {"id": "b2", "environment_id": "f" * 16, "state": "queued"}
    handler.replies["/base%40x/stardock/api/builds"] = [(202, {"build": build})]
    failed = {**build, "state": "failed", "error": "Step 3 returned a non-zero code: 1."}
    handler.replies["/base%40x/stardock/api/builds/b2/log"] = [
        (200, f"event: end\ndata: {json.dumps(failed)}\n\n")
    ]
    with pytest.raises(BuildFailed) as err:
        client.build({"commands": ["false"]})
    assert str(err.value) == (
        "The build b2 failed: Step 3 returned a non-zero code: 1. "
        "Its log: `jupyter stardock logs b2`."
    )


def test_parse_sse_events() -> None:
    raw = [
        b"id: 7\n",
        b"data: hello\n",
        b"\n",
        b"event: dropped\n",
        b"data: [3 lines dropped]\n",
        b"\n",
        b": keep-alive\n",
        b"\n",
        b"event: end\n",
        b'data: {"state": "failed"}\n',
        b"\n",
    ]
    events = list(parse_sse(iter(raw)))
    assert [(e.kind, e.text, e.number) for e in events[:2]] == [
        ("line", "hello", 7),
        ("dropped", "[3 lines dropped]", None),
    ]
    assert events[2].kind == "end" and events[2].build == {"state": "failed"}


def test_sizes_times_and_ages() -> None:
    assert parse_size("10G") == 10**10 and parse_size("500MB") == 5 * 10**8
    assert parse_size("1.5GiB") == int(1.5 * 2**30) and parse_size("2048") == 2048
    with pytest.raises(ClientError, match="500M, 20G"):
        parse_size("lots")
    assert format_size(371548568) == "371.5 MB" and format_size(12) == "12 B"
    stamp = parse_time("2026-11-22T01:27:27.315520061Z")
    assert stamp is not None and abs(stamp - parse_time("2026-11-22T01:27:27.315520+00:00")) < 1e-6  # type: ignore[operator]
    assert parse_time(12.5) == 12.5 and parse_time("") is None and parse_time("soon") is None
    assert format_age(1000.0, now=1000.0 + 3 * 86400 + 5) == "3 days ago"
    assert format_age(None) == "unknown"


def test_progress_and_recipe() -> None:
    progress = BuildProgress("b", "e")
    for line in ("Queued", "Step 1/4 : FROM x", "Step 3/4 : RUN y"):
        progress.add(line, keep=2)
    progress.update({"state": "running", "step": 3, "steps": 4})  # the server's progress event
    assert progress.fraction == 0.5 and progress.lines == ["Step 1/4 : FROM x", "Step 3/4 : RUN y"]
    assert progress.count == 3
    assert "step 3/4" in progress_bar(progress) and "50%" in progress_bar(progress)
    assert recipe_from(apps=["astropy"], commands=["echo"], dataset="m51") == {
        "dataset": "m51",
        "apps": ["astropy"],
        "commands": ["echo"],
    }
    assert recipe_from() == {}
    assert recipe_from(pip_constraints=False) == {"pip_constraints": False}


def test_binary_websocket_frames_and_remote_tracebacks() -> None:
    message = json.dumps({"msg_type": "comm_msg", "content": {}}).encode()
    buffer = b"\x00\x01\x02"
    offsets = [4 + 4 * 2, 4 + 4 * 2 + len(message)]
    frame = struct.pack("!3I", 2, *offsets) + message + buffer
    decoded = decode_message(frame)
    assert decoded["msg_type"] == "comm_msg" and decoded["buffers"] == [buffer]
    assert decode_message('{"msg_type": "status"}')["msg_type"] == "status"
    failure = ExecutionFailed("ZeroDivisionError", "division by zero", ["line 1", "line 2"])
    assert failure._render_traceback_() == ["line 1", "line 2"]
    assert str(failure) == "ZeroDivisionError: division by zero"


def test_progress_events_move_the_bar_and_are_never_log_lines(stub: Any) -> None:
    client, handler = stub
    build = {"id": "b3", "environment_id": "a" * 16, "state": "queued"}
    running = {**build, "state": "running", "step": 2, "steps": 4, "progress": 0.25}
    failed = {
        **build,
        "state": "failed",
        "error": "Custom command 1 (`pip instal foo`) failed with exit code 1. Its last output:\n"
        '    ERROR: unknown command "instal" - maybe you meant "install"\n'
        "Fix that command, then build again.",
        "failure": {"item": "command 1", "step": 2, "steps": 4, "exit_code": 1},
    }
    handler.replies["/base%40x/stardock/api/builds"] = [(202, {"build": build})]
    handler.replies["/base%40x/stardock/api/builds/b3/log"] = [
        (
            200,
            "id: 0\ndata: Step 2/4 : RUN pip instal foo\n\n"
            f"event: progress\ndata: {json.dumps(running)}\n\n"
            'id: 1\ndata: ERROR: unknown command "instal" - maybe you meant "install"\n\n'
            f"event: end\ndata: {json.dumps(failed)}\n\n",
        )
    ]
    seen: list[BuildProgress] = []
    with pytest.raises(BuildFailed) as err:
        client.build({"commands": ["pip instal foo"]}, seen.append)
    assert seen[-1].lines == [
        "Step 2/4 : RUN pip instal foo",
        'ERROR: unknown command "instal" - maybe you meant "install"',
    ]
    assert seen[-1].count == 2 and (seen[-1].step, seen[-1].steps) == (2, 4)
    assert str(err.value).splitlines() == [
        "The build b3 failed. Custom command 1 (`pip instal foo`) failed with exit code 1. "
        "Its last output:",
        '    ERROR: unknown command "instal" - maybe you meant "install"',
        "Fix that command, then build again.",
        "The whole log: `jupyter stardock logs b3`.",
    ]
    events = list(
        parse_sse(iter([b"event: progress\n", f"data: {json.dumps(running)}\n".encode(), b"\n"]))
    )
    assert events == [LogEvent("progress", build=running)]


def test_a_build_is_asked_for_once_its_end_event_names_the_environment(stub: Any) -> None:
    client, handler = stub
    build = {"id": "b4", "environment_id": "c" * 16, "state": "queued", "environment": None}
    environment = {"id": "c" * 16, "apps": [], "kernelspec": "stardock-" + "c" * 16 + "-m51"}
    handler.replies["/base%40x/stardock/api/builds"] = [(202, {"build": build})]
    done = {**build, "state": "succeeded", "environment": environment}
    handler.replies["/base%40x/stardock/api/builds/b4/log"] = [
        (200, f"id: 0\ndata: Step 1/1 : FROM x\n\nevent: end\ndata: {json.dumps(done)}\n\n")
    ]
    assert client.build({"dataset": "m51"}) == environment
    posts = [s for s in handler.seen if s["path"].endswith("/stardock/api/builds")]
    assert len(posts) == 1


def test_a_stream_closed_early_takes_the_environment_from_the_build_record(stub: Any) -> None:
    client, handler = stub
    build = {"id": "b5", "environment_id": "d" * 16, "state": "running", "environment": None}
    environment = {"id": "d" * 16, "kernelspec": "stardock-" + "d" * 16}
    handler.replies["/base%40x/stardock/api/builds"] = [(202, {"build": build})]
    handler.replies["/base%40x/stardock/api/builds/b5/log"] = [(200, "id: 0\ndata: Step 1/2\n\n")]
    handler.replies["/base%40x/stardock/api/builds/b5"] = [
        (200, {**build, "state": "succeeded", "environment": environment})
    ]
    assert client.build({}) == environment


def test_a_succeeded_build_without_its_environment_says_build_again(stub: Any) -> None:
    client, handler = stub
    build = {"id": "b6", "environment_id": "9" * 16, "state": "queued", "environment": None}
    handler.replies["/base%40x/stardock/api/builds"] = [(202, {"build": build})]
    done = {**build, "state": "succeeded"}  # removed between its end and this answer
    handler.replies["/base%40x/stardock/api/builds/b6/log"] = [
        (200, f"event: end\ndata: {json.dumps(done)}\n\n")
    ]
    with pytest.raises(BuildFailed, match=r"environment is missing.*Build again"):
        client.build({})


def test_the_kernelspec_of_an_environment_is_found_by_its_metadata(stub: Any) -> None:
    client, handler = stub
    env_id = "7" * 16

    def spec(name: str, dataset: str | None) -> dict[str, Any]:
        meta = {"stardock": {"environment": env_id, "dataset": dataset}}
        return {"name": name, "spec": {"metadata": meta}, "resources": {}}

    handler.replies["/base%40x/api/kernelspecs"] = [
        (
            200,
            {
                "default": "python3",
                "kernelspecs": {
                    "python3": {"name": "python3", "spec": {"metadata": {}}},
                    "stardock-a": spec("stardock-a", None),
                    "stardock-b": spec("stardock-b", "M51"),
                },
            },
        )
    ]
    assert client.kernelspec_for({"id": env_id}, "M51") == "stardock-b"
    assert client.kernelspec_for({"id": env_id}, None) == "stardock-a"
    assert not [s for s in handler.seen if "stardock/api" in s["path"]]  # nothing published


def test_kernel_requests_are_jupyter_client_session_messages() -> None:
    from jupyter_stardock.client.kernel import RemoteKernel

    class Socket:
        connected = True
        sent: list[str] = []

        def send(self, frame: str) -> None:
            self.sent.append(frame)

    client = StarDockClient(ServerInfo("http://127.0.0.1:9/", "", "a test"))
    kernel = RemoteKernel(client, "k1")
    kernel._ws = Socket()  # type: ignore[assignment]
    msg_id = kernel._send("execute_request", {"code": "1"})
    message = json.loads(Socket.sent[0])
    header = message["header"]
    assert header["msg_id"] == msg_id and header["msg_type"] == "execute_request"
    assert header["session"] == kernel.session.session and header["username"] == "stardock"
    assert header["date"] and header["version"].startswith("5.")
    assert message["channel"] == "shell" and message["content"] == {"code": "1"}
    assert f"session_id={kernel.session.session}" in kernel.ws_url
