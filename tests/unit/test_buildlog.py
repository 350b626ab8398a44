"""The bounded build log: memory budget, dropped-line marker, file cap, resumable reads."""

from __future__ import annotations

import asyncio

from jupyter_stardock.buildlog import BuildLog, step_progress


def test_memory_is_bounded_and_dropped_lines_become_one_marker(tmp_path) -> None:
    log = BuildLog(tmp_path / "b.log", max_memory_bytes=1000, max_file_bytes=10_000_000)
    for i in range(10_000):
        log.append(f"line {i:05d} " + "x" * 40)
    assert log.memory_bytes <= 1000
    page = log.read(0)
    assert page.dropped > 9_000
    assert page.lines[0].startswith("[jupyter-stardock:") and "dropped" in page.lines[0]
    assert page.lines[-1].startswith("line 09999")
    assert page.next == 10_000
    # Lines still in memory come back exactly, with no marker.
    tail = log.read(9_995)
    assert tail.dropped == 0 and [ln[:10] for ln in tail.lines] == [
        f"line {i:05d}" for i in range(9_995, 10_000)
    ]
    log.close()
    assert (tmp_path / "b.log").read_text().count("\n") == 10_000


def test_file_is_capped_with_a_marker(tmp_path) -> None:
    log = BuildLog(tmp_path / "b.log", max_memory_bytes=10_000, max_file_bytes=500)
    for i in range(100):
        log.append(f"line {i}")
    log.close()
    text = (tmp_path / "b.log").read_text()
    assert len(text) < 700
    assert text.rstrip().endswith("later lines were not written]")


def test_readers_wait_for_new_lines_and_see_the_close() -> None:
    async def main() -> list[str]:
        log = BuildLog(None)
        seen: list[str] = []

        async def reader() -> None:
            offset = 0
            while True:
                await log.wait(offset)
                page = log.read(offset)
                seen.extend(page.lines)
                offset = page.next
                if page.closed and offset >= log.count:
                    return

        task = asyncio.ensure_future(reader())
        for i in range(5):
            log.append(f"l{i}")
            await asyncio.sleep(0.01)
        log.close()
        await asyncio.wait_for(task, 5)
        return seen

    assert asyncio.run(main()) == [f"l{i}" for i in range(5)]


def test_step_progress() -> None:
    assert step_progress("Step 3/9 : RUN apt-get update") == (3, 9)
    assert step_progress(" ---> Running in abc") is None
    assert step_progress("echo Step 3/9 : fake") is None
