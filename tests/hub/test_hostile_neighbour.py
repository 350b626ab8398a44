"""A hostile user on the hub (issue 12): from their own unix account and their own server.

sdbob works against sdana, and sdana against the host, with what a unix user
really has: their shell (``runuser -u USER --``), their Hub token, their server's
REST API (which lets them choose a kernel's id) and the service's URL. The
victims are made by the test: a root-owned 0600 file in a root-only 0700
folder, a file of a dataset, and sdana's own folders. Each test asserts the
victim's content, owner and mode before and after, or the status and body the
attacker gets.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from ..engine.kernel_helpers import (
    LINK_SWAPPER,
    changed,
    execute,
    holding,
    root_only_file,
    snapshots,
    tar_files,
    wait_ready,
)
from .conftest import Hub
from .test_hub import build, channels, kernelspec_visible, wait_build

MARK = uuid.uuid4().hex[:8]
ANA, BOB = "sdana", "sdbob"


def uid_of(user: str) -> int:
    return pwd.getpwnam(user).pw_uid


def home_of(user: str) -> Path:
    return Path(pwd.getpwnam(user).pw_dir)


def as_user(user: str, code: str, *args: str) -> Any:
    """Run Python ``code`` as the unix user (their own account, no privileges); its JSON output."""
    run = subprocess.run(
        ["runuser", "-u", user, "--", "/usr/bin/python3", "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


# -- victims ----------------------------------------------------------------


@pytest.fixture
def root_victim() -> Iterator[Path]:
    with root_only_file() as path:
        yield path


# -- the hub, as a user uses it --------------------------------------------


@pytest.fixture(scope="module")
def kernelspec(hub: Hub) -> str:
    """An environment both users asked for (so both have its kernelspec) with dataset 'open'."""
    recipe = {"commands": [f"echo hostile-{MARK}"], "dataset": "open"}
    env = build(hub, ANA, recipe)
    assert build(hub, BOB, recipe) == env
    name = f"stardock-{env}-open"
    for user in (ANA, BOB):
        kernelspec_visible(hub, user, name)
    return name


def start_kernel(hub: Hub, user: str, name: str, kernel_id: str | None = None) -> tuple[int, Any]:
    """POST /api/kernels on the user's own server (which lets the caller choose the id)."""
    body: dict[str, Any] = {"name": name}
    if kernel_id is not None:
        body["kernel_id"] = kernel_id
    return hub.status("POST", f"/user/{user}/api/kernels", user, body)


def stop_kernel(hub: Hub, user: str, kernel_id: str) -> None:
    hub.status("DELETE", f"/user/{user}/api/kernels/{kernel_id}", user)


def run_code(hub: Hub, user: str, kernel_id: str, code: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        ws = await channels(hub, user, kernel_id)
        try:
            await wait_ready(ws, timeout=90)
            return await execute(ws, code)
        finally:
            ws.close()

    return asyncio.run(run())


def archive_contents(hub: Hub, user: str, kernel_id: str) -> dict[str, bytes]:
    """Every regular file in the user's archive of that kernel, downloaded as they would."""
    request = urllib.request.Request(
        f"{hub.url}/user/{user}/stardock/api/archives/{kernel_id}",
        headers={"Authorization": f"token {hub.tokens[user]}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            raw = response.read()
    except urllib.error.HTTPError as err:
        raise AssertionError(f"{user} gets no archive of kernel {kernel_id}: {err}") from err
    return tar_files(raw)


def raw_get(hub: Hub, path: str, user: str) -> tuple[int, dict[str, str], bytes]:
    """A GET sent exactly as written (no client-side normalization, no redirect following)."""
    parsed = urlparse(hub.url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    try:
        conn.request("GET", path, headers={"Authorization": f"token {hub.tokens[user]}"})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def _mountinfo(text: str) -> list[dict[str, str]]:
    rows = []
    for line in text.splitlines():
        left = line.partition(" - ")[0]
        fields = left.split()
        if len(fields) < 5:
            continue  # the blank line print() adds
        rows.append({"dev": fields[2], "root": fields[3], "point": fields[4]})
    return rows


def host_paths(kernel_mountinfo: str) -> dict[str, str]:
    """The host path of each bind mount a kernel sees (its /proc/self/mountinfo, which any
    code in it can print), mapped through the host's own mount table."""
    with open("/proc/self/mountinfo") as f:
        host = _mountinfo(f.read())
    found = {}
    for m in _mountinfo(kernel_mountinfo):
        if m["point"] == "/" or m["point"].startswith(("/proc", "/sys", "/dev", "/etc")):
            continue
        for h in host:
            prefix = h["root"].rstrip("/")
            if h["dev"] == m["dev"] and (m["root"] + "/").startswith(prefix + "/"):
                found[m["point"]] = h["point"].rstrip("/") + m["root"][len(prefix) :]
                break
    return found


#: Run as the attacker from their shell: every file below the folders becomes a link.
SWAP_FOR_LINKS = (
    LINK_SWAPPER
    + r"""
import sys
victims, folders = json.loads(sys.argv[1]), json.loads(sys.argv[2])
swap_tree(folders, victims, victims[0])
print(summary())
"""
)


def test_ana_swapping_her_kernels_files_for_links_then_restarting_changes_no_host_file(
    hub: Hub, kernelspec: str, root_victim: Path
) -> None:
    """sdana, from her own account, turns every file the service made for her kernel into a link."""
    data_victim = hub.datasets["open"] / "m51_r.fits"
    victims = [root_victim, data_victim]
    before = snapshots([root_victim, root_victim.parent, data_victim, data_victim.parent])
    code, kernel = start_kernel(hub, ANA, kernelspec)
    assert code == 200, kernel
    try:
        out = run_code(
            hub,
            ANA,
            kernel["id"],
            "open('/outputs/ana.txt', 'w').write('mine')\nprint(open('/proc/self/mountinfo').read())",
        )
        assert out["error"] is None, out
        mounts = host_paths(out["stdout"])
        assert "/outputs" in mounts, mounts  # she found her kernel's folders on the host
        listed = hub.as_user(ANA, "GET", "/stardock/api/kernels")["kernels"]
        view = [home_of(ANA) / k["outputs"] for k in listed if k["id"] == kernel["id"]]
        report = as_user(
            ANA,
            SWAP_FOR_LINKS,
            json.dumps([str(v) for v in victims]),
            json.dumps(sorted({*mounts.values(), *map(str, view)})),
        )
        # The restart makes the (root) service write her kernel's files again.
        hub.status("POST", f"/user/{ANA}/api/kernels/{kernel['id']}/restart", ANA, {})
        time.sleep(5)
    finally:
        stop_kernel(hub, ANA, kernel["id"])
    assert not changed(before), f"her links reached a victim: {changed(before)}; {report}"
    assert not holding(archive_contents(hub, ANA, kernel["id"]), victims)


#: Run as sdbob: every folder of the service's for others that he can write becomes links.
SWAP_WHAT_BOB_CAN_WRITE = (
    LINK_SWAPPER
    + r"""
import sys
victims, roots = json.loads(sys.argv[1]), json.loads(sys.argv[2])
home, tops = os.path.expanduser('~'), []
for root in roots:
    for folder, dirs, files in os.walk(root):
        if folder == home or folder.startswith(home + '/'):
            dirs[:] = []
        elif 'stardock' in folder and os.access(folder, os.W_OK | os.X_OK):
            tops.append(folder)
            dirs[:] = []
swap_tree(tops, victims, victims[0])
print(summary(tops=tops))
"""
)


def test_bob_turning_what_he_can_write_of_anas_into_links_changes_nothing(
    hub: Hub, kernelspec: str, root_victim: Path
) -> None:
    """While sdana's kernel runs, sdbob swaps every StarDock file he can write; she restarts."""
    before = snapshots([root_victim, root_victim.parent])
    code, kernel = start_kernel(hub, ANA, kernelspec)
    assert code == 200, kernel
    try:
        out = run_code(hub, ANA, kernel["id"], "open('/outputs/ana.txt', 'w').write('mine')")
        assert out["error"] is None, out
        report = as_user(
            BOB,
            SWAP_WHAT_BOB_CAN_WRITE,
            json.dumps([str(root_victim)]),
            json.dumps([str(p) for p in ana_side_roots(hub)]),
        )
        hub.status("POST", f"/user/{ANA}/api/kernels/{kernel['id']}/restart", ANA, {})
        out = run_code(hub, ANA, kernel["id"], "print(open('/outputs/ana.txt').read())")
        assert out["stdout"].strip() == "mine", f"sdana's kernel after sdbob's links: {out}"
    finally:
        stop_kernel(hub, ANA, kernel["id"])
    assert not changed(before), f"sdbob's links reached a victim: {changed(before)}; {report}"
    files = archive_contents(hub, ANA, kernel["id"])
    assert files["outputs/ana.txt"] == b"mine"
    assert not holding(files, [root_victim])


def test_a_redirected_outputs_folder_is_never_chowned_mounted_or_archived(
    hub: Hub, kernelspec: str, root_victim: Path
) -> None:
    """sdana replaces her own ~/stardock-outputs with a link to a root-only folder; sdbob
    pre-creates links at every name his next outputs folder (whose kernel id he chooses)
    and sdana's could take, in every folder of hers and his he can write."""
    folder = root_victim.parent
    before = snapshots([root_victim, folder])
    moved = as_user(
        ANA,
        "import json, os, sys\n"
        "out = os.path.expanduser('~/stardock-outputs')\n"
        "moved = out + '.moved-' + sys.argv[2] if os.path.lexists(out) else None\n"
        "if moved: os.rename(out, moved)\n"
        "os.symlink(sys.argv[1], out)\n"
        "print(json.dumps(moved))",
        str(folder),
        MARK,
    )
    started: dict[str, str] = {}
    squatted: dict[str, Any] = {"moved": None, "made_dir": False}
    try:
        bob_id = str(uuid.uuid4())
        squatted = as_user(
            BOB,
            r"""
import json, os, sys, time
target, kernel_id, mark, homes = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
mine = os.path.expanduser('~/stardock-outputs')
moved, made_dir = None, not os.path.lexists(mine)
if not made_dir and not os.access(mine, os.W_OK):
    moved = mine + '.moved-' + mark
    os.rename(mine, moved)
    made_dir = True
os.makedirs(mine, exist_ok=True)
made, refused = 0, set()
now = time.time()
for parent in [mine] + [os.path.join(h, 'stardock-outputs') for h in homes]:
    for second in range(-5, 180):
        stamp = time.strftime('%Y-%m-%dT%H-%M-%S', time.localtime(now + second))
        for dataset in ('open', 'no-dataset'):
            for prefix in (8, 12, 13, 36):
                name = os.path.join(parent, f'{stamp}_{dataset}_{kernel_id[:prefix]}')
                try:
                    os.symlink(target, name)
                    made += 1
                except OSError as err:
                    refused.add(f'{parent}: {err.strerror}')
print(json.dumps({"made": made, "refused": sorted(refused), "moved": moved, "made_dir": made_dir}))
""",
            str(folder),
            bob_id,
            MARK,
            json.dumps([str(home_of(ANA))]),
        )
        assert squatted["made"] > 0, squatted
        inside = (
            "import json, os\n"
            "entries = sorted(os.listdir('/outputs'))\n"
            "open('/outputs/probe.txt', 'w').write('probe')\n"
            "print(json.dumps(entries))"
        )
        for user, kernel_id in ((ANA, None), (BOB, bob_id)):
            code, reply = start_kernel(hub, user, kernelspec, kernel_id)
            if code != 200:
                # Refusing the start is safe too, with a sentence saying why.
                assert 400 <= code < 600 and json.dumps(reply).strip('"'), reply
                continue
            started[user] = reply["id"]
            out = run_code(hub, user, reply["id"], inside)
            assert out["error"] is None, out  # /outputs is writable
            assert json.loads(out["stdout"]) == [], f"{user}'s /outputs is not empty: {out}"
            assert not (folder / "probe.txt").exists(), f"{user}'s /outputs is the root folder"
    finally:
        for user, kernel_id in started.items():
            stop_kernel(hub, user, kernel_id)
        restore_outputs(home_of(ANA), moved)
        restore_outputs(home_of(BOB), squatted["moved"], squatted["made_dir"])
    assert not changed(before), f"the service acted on the root-only folder: {changed(before)}"
    for user, kernel_id in started.items():
        assert not holding(archive_contents(hub, user, kernel_id), [root_victim])
    assert started, "neither kernel started"


def restore_outputs(home: Path, moved: str | None, made: bool = False) -> None:
    """Test cleanup (as root): drop the attacker's links, put ~/stardock-outputs back.

    ``made``: the attacker created the folder (it holds only this test's links and what
    the service made in it for this test's kernel), so it goes entirely.
    """
    out = home / "stardock-outputs"
    if out.is_symlink():
        out.unlink()
    elif out.is_dir():
        if made or moved is not None:
            shutil.rmtree(out)
        else:
            for entry in out.iterdir():
                if entry.is_symlink():
                    entry.unlink()
    if moved is not None:
        os.rename(moved, out)


def owned_by(uid: int, roots: list[Path]) -> dict[Path, tuple[int, int]]:
    """Every path below these roots owned by uid, with (uid, mode); links not followed."""
    found: dict[Path, tuple[int, int]] = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in [*dirs, *files, ""]:
                path = Path(folder) / name
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if st.st_uid == uid:
                    found[path] = (st.st_uid, stat.S_IMODE(st.st_mode))
            # Other engineers' and other tests' folders are none of ours.
            dirs[:] = [d for d in dirs if not d.startswith("pytest-of-")]
    return found


def ana_side_roots(hub: Hub) -> list[Path]:
    """Where the service keeps things for sdana's kernels on this host."""
    return [Path("/tmp"), Path("/run"), Path("/var/tmp"), Path("/dev/shm"), home_of(ANA), hub.home]


def test_a_kernel_id_sharing_anas_prefix_takes_nothing_of_hers(hub: Hub, kernelspec: str) -> None:
    code, kernel = start_kernel(hub, ANA, kernelspec)
    assert code == 200, kernel
    bob_kernel = None
    try:
        out = run_code(hub, ANA, kernel["id"], "open('/outputs/ana.txt', 'w').write('mine')")
        assert out["error"] is None, out
        hers = owned_by(uid_of(ANA), ana_side_roots(hub))
        # sdbob reads the prefix off the host (mountinfo, ps) and chooses it for his kernel.
        chosen = kernel["id"][:13] + str(uuid.uuid4())[13:]
        code, reply = start_kernel(hub, BOB, kernelspec, chosen)
        assert code == 200, f"sdbob's kernel did not start: {reply}"
        bob_kernel = reply["id"]
        out = run_code(hub, BOB, bob_kernel, "import os; print(os.getuid())")
        assert out["stdout"].strip() == str(uid_of(BOB)), out
        taken = {
            str(p): os.lstat(p).st_uid
            for p in hers
            if (p.exists() or p.is_symlink()) and os.lstat(p).st_uid != uid_of(ANA)
        }
        assert not taken, f"sdana's things changed owner: {taken}"
        out = run_code(hub, ANA, kernel["id"], "print(open('/outputs/ana.txt').read())")
        assert out["stdout"].strip() == "mine", f"sdana's kernel after sdbob's start: {out}"
        stop_kernel(hub, BOB, bob_kernel)
        bob_kernel = None
        out = run_code(hub, ANA, kernel["id"], "print(open('/outputs/ana.txt').read())")
        assert out["stdout"].strip() == "mine", f"sdana's kernel after sdbob's shutdown: {out}"
        lost = [
            str(p)
            for p in hers
            if "stardock" in str(p) and ".local" not in p.parts and not p.is_symlink()
            if not p.exists()
        ]
        assert not lost, f"sdana's things went with sdbob's kernel: {lost}"
    finally:
        if bob_kernel is not None:
            stop_kernel(hub, BOB, bob_kernel)
        stop_kernel(hub, ANA, kernel["id"])


def test_reusing_anas_kernel_id_answers_as_an_unknown_id(hub: Hub, kernelspec: str) -> None:
    code, kernel = start_kernel(hub, ANA, kernelspec)
    assert code == 200, kernel
    service = "/services/stardock/stardock/api/service/kernels"
    try:
        env = kernelspec.split("-")[1]
        answers = {}
        for label, kernel_id in (("unknown", str(uuid.uuid4())), ("ana's", kernel["id"])):
            # Through his own server, and straight at the service with his token.
            via_server = start_kernel(hub, BOB, kernelspec, kernel_id)
            if via_server[0] == 200:
                stop_kernel(hub, BOB, kernel_id)
            direct = hub.status(
                "POST",
                service,
                BOB,
                {"kernel_id": kernel_id, "environment": env, "dataset": "open"},
            )
            if direct[0] == 201 or direct[0] == 200:
                hub.status("DELETE", f"{service}/{kernel_id}", BOB)
            answers[label] = (via_server, direct)
            assert 409 not in (via_server[0], direct[0]), f"{label} id: {answers[label]}"
            assert "running already" not in json.dumps(answers[label])
        (unknown_server, unknown_direct), (ana_server, ana_direct) = answers.values()
        assert ana_server[0] == unknown_server[0], answers
        assert ana_direct[0] == unknown_direct[0], answers
        out = run_code(hub, ANA, kernel["id"], "print(6 * 7)")
        assert out["stdout"].strip() == "42", f"sdana's kernel after sdbob's tries: {out}"
    finally:
        stop_kernel(hub, ANA, kernel["id"])


def test_encoded_dot_segments_never_reach_another_route(hub: Hub) -> None:
    """sdana's server forwards /stardock/api/... to the service: only to the StarDock API."""

    def keys(url: str) -> set[str]:
        request = urllib.request.Request(url, headers={"Authorization": f"token {hub.tokens[ANA]}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return set(json.loads(response.read()))

    # The routes not to reach, and the keys of what they answer.
    service_status = keys(hub.service_url + "api/status")
    hub_api = keys(hub.url + "/hub/api")
    base = f"/user/{ANA}/stardock/api/"
    for tail, other in (
        ("..%2F..%2Fapi%2Fstatus", service_status),
        ("..%2F..%2Fapi%2Fstatus%2F", service_status),
        ("builds%2F..%2F..%2F..%2Fapi%2Fstatus%2F", service_status),
        ("%2E%2E%2F%2E%2E%2Fapi%2Fstatus%2F", service_status),
        ("..%252F..%252Fapi%252Fstatus%252F", service_status),
        ("..%2F..%2F..%2F..%2Fhub%2Fapi%2F", hub_api),
        ("..%2F..%2F..%2F..%2Fhub%2Fapi", hub_api),
    ):
        code, _, body = raw_get(hub, base + tail, ANA)
        # Refused (4xx), or a redirect handed back unfollowed; never another route's answer.
        assert 300 <= code < 500, f"{tail}: {code} {body[:300]!r}"
        try:
            answer = json.loads(body)
        except ValueError:
            continue
        assert not (isinstance(answer, dict) and set(answer) == other), f"{tail}: {answer}"


def test_following_anas_build_neither_cancels_it_nor_shows_her_dataset(hub: Hub) -> None:
    commands = [f"echo follow-{MARK}; sleep 40"]
    reply = hub.as_user(
        ANA, "POST", "/stardock/api/builds", {"commands": commands, "dataset": "ana-only"}
    )
    assert reply["build"] is not None, reply
    build_id = reply["build"]["id"]
    try:
        _, followed = hub.status(
            "POST",
            f"/user/{BOB}/stardock/api/builds",
            BOB,
            {"commands": commands, "dataset": "open"},
        )
        assert "ana-only" not in json.dumps(followed), followed
        assert ANA not in json.dumps(followed), followed
        seen = hub.status("GET", f"/user/{BOB}/stardock/api/builds/{build_id}", BOB)
        assert "ana-only" not in json.dumps(seen[1]) and ANA not in json.dumps(seen[1]), seen
        listed = hub.status("GET", f"/user/{BOB}/stardock/api/builds", BOB)
        assert "ana-only" not in json.dumps(listed[1]), listed
        cancelled = hub.status("DELETE", f"/user/{BOB}/stardock/api/builds/{build_id}", BOB)
        assert cancelled[0] in (403, 404), f"sdbob cancelling sdana's build: {cancelled}"
        assert hub.as_user(ANA, "GET", f"/stardock/api/builds/{build_id}")["state"] in (
            "queued",
            "running",
            "succeeded",
        )
    finally:
        done = wait_build(hub, ANA, build_id)
    assert done["state"] == "succeeded", done


#: Run as the attacker with a folder's bind mount as argv[1]: what they can list and read.
PROBE = r"""
import json, os, sys
top = sys.argv[1]
seen = {}
for rel in json.loads(sys.argv[2]):
    path = os.path.join(top, rel) if rel else top
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            os.listdir(path)
        else:
            open(path, 'rb').read(1)
        seen[rel] = 'read'
    except PermissionError:
        seen[rel] = 'denied'
    except OSError as err:
        seen[rel] = err.strerror
print(json.dumps(seen))
"""


def probe_as(user: str, folder: Path, only: list[str] | None = None) -> dict[str, str]:
    """What ``user`` can list or read below ``folder``, judged by the modes of the folder and
    what is in it alone: the folder is bind-mounted at a path whose parents anyone may enter
    (in a mount namespace of this probe only), as a state folder at /var/lib/... would be."""
    rels = [""]
    for dirpath, dirs, files in os.walk(folder):
        # The probing user's own things (their own outputs) are theirs to read.
        dirs[:] = [d for d in dirs if os.lstat(os.path.join(dirpath, d)).st_uid != uid_of(user)]
        for name in [*dirs, *files]:
            path = os.path.join(dirpath, name)
            if os.lstat(path).st_uid != uid_of(user):
                rels.append(os.path.relpath(path, folder))
    if only is not None:  # what else is there is other tests' and sessions'
        rels = [rel for rel in rels if rel in only]
    mountpoint = Path(tempfile.mkdtemp(prefix="stardock-probe-"))
    os.chmod(mountpoint, 0o755)
    try:
        run = subprocess.run(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                'mount --bind "$1" "$2" && exec runuser -u "$3" -- /usr/bin/python3 -c "$4" "$2" "$5"',
                "probe",
                str(folder),
                str(mountpoint),
                user,
                PROBE,
                json.dumps(rels),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        return dict(json.loads(run.stdout))
    finally:
        mountpoint.rmdir()


def test_bob_cannot_read_the_state_folder_or_anas_archives_and_outputs(
    hub: Hub, kernelspec: str
) -> None:
    code, kernel = start_kernel(hub, ANA, kernelspec)
    assert code == 200, kernel
    try:
        out = run_code(hub, ANA, kernel["id"], "open('/outputs/ana.txt', 'w').write('mine')")
        assert out["error"] is None, out
        (mine,) = [
            k
            for k in hub.as_user(ANA, "GET", "/stardock/api/kernels")["kernels"]
            if k["id"] == kernel["id"]
        ]
    finally:
        stop_kernel(hub, ANA, kernel["id"])
    view = home_of(ANA) / mine["outputs"]
    outputs = view.resolve()
    assert (outputs / "ana.txt").read_text() == "mine"
    # Her archive, as she downloads it, is a file in the service's state folder.
    request = urllib.request.Request(
        f"{hub.url}/user/{ANA}/stardock/api/archives/{kernel['id']}",
        headers={"Authorization": f"token {hub.tokens[ANA]}"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        digest = hashlib.sha256(response.read()).hexdigest()
    state = hub.home / "service-state"
    stored = [
        p
        for p in state.rglob("*")
        if p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest() == digest
    ]
    assert stored, "sdana's archive is not in the service's state folder"
    readable = {}
    for folder, only in (
        (state, None),
        (view.parent, ["", view.name]),
        (outputs.parent, ["", outputs.name]),
        (outputs, None),
    ):
        seen = probe_as(BOB, folder, only)
        readable.update({f"{folder}/{rel}": how for rel, how in seen.items() if how == "read"})
    assert not readable, f"sdbob reads: {readable}"
