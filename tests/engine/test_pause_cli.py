"""``jupyter stardock pause|resume|suspend|restore`` against a real server and engine (issue 17)."""

from __future__ import annotations

from pathlib import Path

from ..conftest import run_cli
from ..server_process import ServerProcess
from .test_neighbours import kernelspec_of


def test_the_command_line_pauses_suspends_and_restores(
    tmp_path: Path, base_image: str, sample_dataset: Path
) -> None:
    server = ServerProcess(
        tmp_path / "server", {"StarDockApp": {"datasets": {"m51": {"path": str(sample_dataset)}}}}
    )
    server.start()
    try:
        name = kernelspec_of(server, {"apps": ["astropy"], "dataset": "m51"})
        kernel_id = server.request("POST", "/api/kernels", {"name": name})["id"]
        at = ("--url", server.url, "--token", server.token)

        def cli(*args: str) -> tuple[int, str, str]:
            result = run_cli(*args, *at, timeout=300)
            return result.returncode, result.stdout.strip(), result.stderr.strip()

        code, out, _ = cli("pause", kernel_id[:8])  # a prefix is enough
        assert code == 0 and out.startswith(f"Kernel {kernel_id} is paused"), out
        code, _, err = cli("pause", kernel_id)
        assert code == 1 and err == (
            f"jupyter stardock pause: error: Kernel {kernel_id} is paused already; "
            "resume it to go on working."
        )
        code, out, _ = cli("resume", kernel_id)
        assert code == 0 and "runs again" in out, out

        code, out, _ = cli("suspend", kernel_id)
        assert code == 0 and f"Kernel {kernel_id} is suspended" in out, out
        code, out, err = cli("restore", kernel_id[:8])
        assert code == 0 and f"Kernel {kernel_id} is restored as kernel" in out, (out, err)
        code, _, err = cli("restore", kernel_id)
        assert code == 1 and f"There is no suspended kernel '{kernel_id}'" in err
    finally:
        for kernel in server.request("GET", "/api/kernels"):
            server.request("DELETE", f"/api/kernels/{kernel['id']}")
        server.stop()
