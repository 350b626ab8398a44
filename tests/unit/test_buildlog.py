"""The bounded build log: memory budget, dropped-line marker, file cap, resumable reads."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest

from jupyter_stardock.core.buildlog import BuildLog, StepOutput, clean_line, step_progress


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


def test_lines_are_kept_as_a_terminal_shows_them() -> None:
    # Seen in a real build: the classic builder colours a step's stderr, and dpkg
    # redraws its progress with carriage returns.
    assert (
        clean_line('\x1b[91mERROR: unknown command "instal"') == 'ERROR: unknown command "instal"'
    )
    assert clean_line("\x1b[0mRemoving intermediate container df21") == (
        "Removing intermediate container df21"
    )
    redraws = "(Reading database ... \r(Reading database ... 5%\r(Reading database ... 8583 files.)"
    assert clean_line(redraws) == "(Reading database ... 8583 files.)"
    assert clean_line("Downloading 10%\rDownloading 100%\r") == "Downloading 100%"
    assert clean_line("\x1b]0;a title\x07done \x1b[1;32mok\x1b[m\x1b(B") == "done ok"
    assert clean_line("bell\x07 and\x08 nul\x00") == "bell and nul"
    assert clean_line("tabs\tstay") == "tabs\tstay"


def test_step_output_keeps_the_current_steps_own_lines() -> None:
    output = StepOutput()
    for line in [
        "Step 4/13 : RUN echo one",
        " ---> Running in 695e7112e9c6",
        "one",
        "Removing intermediate container 695e7112e9c6",
        " ---> 7e5345b0fc60",
    ]:
        output.add(line)
    assert (output.step, output.steps, output.done) == (4, 13, True)
    assert output.tail(8) == ["one"]
    assert output.add("Step 5/13 : RUN pip instal foo") == (5, 13)
    for line in [
        " ---> Running in df21dc82dce3",
        'ERROR: unknown command "instal" - maybe you meant "install"',
        "Removing intermediate container df21dc82dce3",
        "ERROR: The command '/bin/sh -c pip instal foo' returned a non-zero code: 1",
    ]:
        output.add(line)
    assert not output.done
    engine = "The command '/bin/sh -c pip instal foo' returned a non-zero code: 1"
    assert output.tail(8, without=f"ERROR: {engine}") == [
        'ERROR: unknown command "instal" - maybe you meant "install"'
    ]


def test_the_log_file_is_private_whatever_the_umask(tmp_path) -> None:
    old = os.umask(0)
    try:
        loose = tmp_path / "old.log"
        loose.write_text("from an older version\n")
        loose.chmod(0o666)
        log = BuildLog(tmp_path / "builds" / "b.log")
        log.append("hello")
        log.close()
        again = BuildLog(loose)
        again.append("more")
        again.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "builds").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "builds" / "b.log").stat().st_mode) == 0o600
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600
    assert loose.read_text() == "from an older version\nmore\n"
    # Never written through a symlink.
    target = tmp_path / "victim"
    target.write_text("keep")
    (tmp_path / "link.log").symlink_to(target)
    with pytest.raises(OSError):
        BuildLog(tmp_path / "link.log")
    assert target.read_text() == "keep"
