"""The lock and the notebooks in a kernel's archive, read back by `diff` and `rebuild`.

A notebook is opened on the Astropy environment as JupyterLab does (a session),
saved with StarDock's metadata (recipe and lock, as the panel writes them), and
its kernel shut down: the archive holds the lock in its manifest and the
notebook as saved. A kernel that plants a symlink where the notebook is read
gets nothing of the host into the archive.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

from jupyter_stardock.client.api import StarDockClient
from jupyter_stardock.client.discovery import ServerInfo
from jupyter_stardock.core.lock import Lock

from .kernel_helpers import execute, root_only_file, tar_files, wait_ready
from .test_lock import ASTROPY_EMCEE, cli, jp_server_config, server  # noqa: F401 (the same server fixtures)


async def _json(jp_fetch: Any, *path: str, method: str = "GET", body: Any = None) -> Any:
    kwargs = {"body": json.dumps(body)} if body is not None else {}
    reply = await jp_fetch(*path, method=method, **kwargs)
    return json.loads(reply.body) if reply.body else None


def notebook(environment: dict[str, Any], source: str) -> dict[str, Any]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nb.metadata["stardock"] = {
        "environment": environment["id"],
        "recipe": {**environment["recipe"], "dataset": None},
        "kernelspec": environment["kernelspec"],
        "lock": environment["lock"],
    }
    return dict(nb)


async def save(jp_fetch: Any, path: str, content: dict[str, Any]) -> None:
    await _json(
        jp_fetch,
        "api",
        "contents",
        path,
        method="PUT",
        body={"type": "notebook", "format": "json", "content": content},
    )


async def archive_of(jp_fetch: Any, kernel_id: str) -> dict[str, bytes]:
    for _ in range(60):
        try:
            return tar_files((await jp_fetch("stardock", "api", "archives", kernel_id)).body)
        except HTTPClientError:
            await asyncio.sleep(1)
    raise AssertionError(f"no archive of kernel {kernel_id}")


async def astropy_env(info: ServerInfo) -> dict[str, Any]:
    """The Astropy + emcee environment (built once; test_lock builds the same recipe)."""
    client = StarDockClient(info, timeout=120)
    return await asyncio.to_thread(client.build, ASTROPY_EMCEE)


async def open_session(jp_fetch: Any, path: str, kernel: dict[str, str]) -> dict[str, Any]:
    """A notebook session on ``path``, as JupyterLab opens one (``kernel``: a name or an id)."""
    body = {"path": path, "type": "notebook", "name": "", "kernel": kernel}
    return dict(await _json(jp_fetch, "api", "sessions", method="POST", body=body))


async def run_code(jp_ws_fetch: Any, kernel_id: str, code: str) -> None:
    ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    await wait_ready(ws)
    out = await execute(ws, code)
    assert out["error"] is None, out
    ws.close()


async def run_session(
    jp_fetch: Any, jp_ws_fetch: Any, path: str, kernelspec: str, code: str
) -> str:
    session = await open_session(jp_fetch, path, {"name": kernelspec})
    kernel_id = session["kernel"]["id"]
    try:
        await run_code(jp_ws_fetch, kernel_id, code)
    finally:
        await jp_fetch("api", "sessions", session["id"], method="DELETE")
    return str(kernel_id)


async def test_the_archive_holds_the_lock_and_the_notebook_as_saved(
    jp_fetch: Any,
    jp_ws_fetch: Any,
    jp_root_dir: Path,
    server: ServerInfo,  # noqa: F811
    base_image: str,
    tmp_path: Path,
) -> None:
    astropy = await astropy_env(server)
    await _json(jp_fetch, "api", "contents", "work", method="PUT", body={"type": "directory"})
    saved = notebook(astropy, "import emcee, astropy; print(emcee.__version__)")
    await save(jp_fetch, "work/analysis.ipynb", saved)
    kernel_id = await run_session(
        jp_fetch,
        jp_ws_fetch,
        "work/analysis.ipynb",
        astropy["kernelspec"],
        "import emcee; print(emcee.__version__)",
    )
    members = await archive_of(jp_fetch, kernel_id)
    manifest = json.loads(members["manifest.json"])
    assert Lock.from_json(manifest["lock"]) == Lock.from_json(astropy["lock"])
    assert manifest["notebooks"] == ["work/analysis.ipynb"]
    archived = members["notebooks/work/analysis.ipynb"]
    assert archived == (jp_root_dir / "work" / "analysis.ipynb").read_bytes()
    assert json.loads(archived)["metadata"]["stardock"]["lock"] == astropy["lock"]

    # diff reads archives, notebooks and environments alike.
    archive = tmp_path / "run.tar.gz"
    archive.write_bytes((await jp_fetch("stardock", "api", "archives", kernel_id)).body)
    same = await cli(server, "diff", str(archive), str(jp_root_dir / "work" / "analysis.ipynb"))
    assert same.returncode == 0, same.stderr
    assert "hold exactly the same versions" in same.stdout
    against_env = await cli(server, "diff", str(archive), astropy["id"], "--json")
    assert json.loads(against_env.stdout)["changes"] == [], against_env.stderr

    # Mistakes get a sentence each.
    text = tmp_path / "notes.txt"
    text.write_text("not an archive")
    wrong = await cli(server, "rebuild", str(text))
    assert wrong.returncode == 1
    assert "neither a StarDock outputs archive" in wrong.stderr
    bare = tmp_path / "bare.ipynb"
    bare.write_text(json.dumps(dict(nbformat.v4.new_notebook())))
    no_recipe = await cli(server, "rebuild", str(bare))
    assert no_recipe.returncode == 1 and "has no StarDock recipe" in no_recipe.stderr
    assert len(no_recipe.stderr.strip().splitlines()) == 1


async def test_a_planted_symlink_where_the_notebook_is_read_gets_nothing_out(
    jp_fetch: Any,
    jp_ws_fetch: Any,
    server: ServerInfo,  # noqa: F811
    base_image: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    astropy = await astropy_env(server)
    with root_only_file() as victim:
        secret = victim.read_bytes()
        (victim.parent / "secret.ipynb").write_bytes(secret)  # a notebook-named host file
        # The kernel's outputs folder is below the root; the kernel makes a notebook there
        # a link to a host file, and the session (the user's) opens that path.
        session = await open_session(jp_fetch, "x.ipynb", {"name": astropy["kernelspec"]})
        kernel_id = session["kernel"]["id"]
        try:
            await run_code(
                jp_ws_fetch,
                kernel_id,
                f"import os; os.symlink({str(victim)!r}, '/outputs/planted.ipynb')\n"
                f"os.makedirs('/outputs/sub'); os.symlink({str(victim.parent)!r}, '/outputs/sub/up')",
            )
            kernels = (await _json(jp_fetch, "stardock", "api", "kernels"))["kernels"]
            (mine,) = [k for k in kernels if k["id"] == kernel_id]
            planted = f"{mine['outputs']}/planted.ipynb"
            through = f"{mine['outputs']}/sub/up/secret.ipynb"
            await _json(
                jp_fetch, "api", "sessions", session["id"], method="PATCH", body={"path": planted}
            )
            # A second session on the same kernel, through a planted folder link.
            second = await open_session(jp_fetch, through, {"id": kernel_id})
            assert second["kernel"]["id"] == kernel_id
        finally:
            await jp_fetch("api", "sessions", session["id"], method="DELETE")
        members = await archive_of(jp_fetch, kernel_id)
        assert not any(secret in content for content in members.values())
        assert not any(name.startswith("notebooks/") for name in members)
        assert json.loads(members["manifest.json"])["notebooks"] == []
        # Both were tried, and refused (a link as the file, a link as a folder).
        assert caplog.text.count("is not archived") == 2, caplog.text[-3000:]
        assert victim.read_bytes() == secret
