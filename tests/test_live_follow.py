"""Following a dbt log: a file being appended, rotated or truncated; stdin; the newest invocation."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from pipewatch.live.follow import Follower, newest_invocation_offset
from pipewatch.live.history import DurationStats
from pipewatch.live.replay import replay
from pipewatch.live.watch import watch
from tests.test_live_support import line, small_log

RECORDED = Path(__file__).parent / "data" / "live" / "example_build.ndjson"
COUNTS = {"error": 1, "fail": 1, "no-op": 1, "pass": 29, "skipped": 23, "success": 15, "warn": 1}


class Script:
    """A fake clock and sleep: each sleep runs the next step (writing, rotating) and advances time."""

    def __init__(self, steps: list[Callable[[], None]]) -> None:
        self.steps: Iterator[Callable[[], None]] = iter(steps)
        self.now = 0.0
        self.sleeps = 0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds
        step = next(self.steps, None)
        if step is not None:
            step()


def _append(path: Path, lines: list[bytes]) -> Callable[[], None]:
    def step() -> None:
        with path.open("ab") as f:
            f.write(b"".join(x if x.endswith(b"\n") else x + b"\n" for x in lines))

    return step


def test_follows_a_file_the_replay_tool_appends_to(tmp_path: Path) -> None:
    log = tmp_path / "dbt.log"
    writer = threading.Thread(
        target=lambda: replay(RECORDED.open("rb"), log.open("ab"), speed=40.0), daemon=True
    )
    writer.start()
    result = watch(log, None, timeout=60, poll_s=0.01)
    writer.join(10)
    assert result.complete and result.ended == "completed"
    assert result.state.counts() == COUNTS
    assert result.reader.broken == 0  # lines are read whole even while being written


def test_replay_command_appends_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "dbt.log"
    out.write_bytes(b"earlier text\n")
    cmd = [sys.executable, "-m", "pipewatch.live.replay", str(RECORDED), "--speed", "0", "--out", str(out)]
    subprocess.run(cmd, check=True, timeout=60)
    assert out.read_bytes() == b"earlier text\n" + RECORDED.read_bytes()


def test_replay_waits_by_the_recorded_timestamps() -> None:
    waits: list[float] = []
    lines = [line("A", 100.0), b"plain text", line("B", 102.0), line("C", 101.0), line("D", 106.0)]
    replay(lines, io.BytesIO(), speed=2.0, sleep=waits.append)
    assert waits == [1.0, 2.0]


def test_rotation_while_following(tmp_path: Path) -> None:
    log = tmp_path / "dbt.log"
    lines = small_log()
    half = len(lines) // 2
    log.write_bytes(b"".join(lines[:half]))

    def rotate() -> None:
        os.replace(log, tmp_path / "dbt.log.1")
        log.write_bytes(b"")

    script = Script([rotate, _append(log, lines[half:])])
    result = watch(log, None, timeout=30, clock=script.clock, sleep=script.sleep)
    assert result.complete and result.rotations == 1
    assert result.state.done == 5


def test_truncation_while_following(tmp_path: Path) -> None:
    log = tmp_path / "dbt.log"
    lines = small_log()
    log.write_bytes(b"".join(lines[:4]))
    script = Script([lambda: log.write_bytes(b""), _append(log, lines)])
    follower = Follower(log, timeout=30, clock=script.clock, sleep=script.sleep)
    got = list(line for line in follower if line)
    assert follower.truncations == 1
    assert got == [x.rstrip(b"\n") for x in lines[:4] + lines]


def test_starts_at_the_newest_invocation_of_the_file(tmp_path: Path) -> None:
    log = tmp_path / "dbt.log"
    old = [line("MainReportVersion", 1.0, "old-one"), line("StatsLine", 2.0, "old-one")]
    banner = b"============================== 20:50:16 | new ==============================\n"
    log.write_bytes(b"".join(old) + banner + b"".join(small_log()))
    assert newest_invocation_offset(log) == len(b"".join(old) + banner)
    result = watch(log, None, timeout=5)
    assert result.complete and result.state.invocation_id == "inv-live-1"
    assert result.reader.plain_text == 0  # the old invocation and its banner were never read


def test_times_out_when_dbt_never_finishes(tmp_path: Path) -> None:
    log = tmp_path / "dbt.log"
    log.write_bytes(b"".join(small_log()[:5]))
    script = Script([])
    result = watch(log, None, timeout=3.0, poll_s=0.5, clock=script.clock, sleep=script.sleep)
    assert not result.complete and result.ended == "timeout"
    assert script.sleeps == 6  # polled with sleeps, never spun
    assert result.notes[0].startswith("timed out waiting: invocation inv-live-1, ")


def test_stdin_closed_before_dbt_completed_says_so() -> None:
    code = (
        "from pipewatch.live.watch import watch\n"
        "r = watch('-', None, timeout=30)\n"
        "print(r.complete, r.ended)\n"
        "print(r.notes[0])\n"
    )
    half = b"".join(RECORDED.read_bytes().splitlines(keepends=True)[:60])
    done = subprocess.run(
        [sys.executable, "-c", code], input=half, capture_output=True, timeout=60, check=True
    )
    complete, note = done.stdout.decode().splitlines()
    assert complete == "False eof"
    assert note.startswith(
        "dbt's log ended before the build completed (dbt was killed or crashed?): invocation "
    )
    assert note.endswith("/71 nodes done")


def test_stream_with_broken_and_text_lines_mixed_in() -> None:
    lines = small_log()
    mixed = [b"Traceback (most recent call last):\n", lines[0], lines[1][:40] + b"\n", *lines[1:]]
    result = watch(io.BytesIO(b"".join(mixed)), None)
    assert result.complete and result.state.done == 5
    assert (result.reader.plain_text, result.reader.broken) == (1, 1)


def test_a_node_hanging_in_silence_is_alerted_while_dbt_prints_nothing(tmp_path: Path) -> None:
    log = tmp_path / "dbt.log"
    stg = "model.shop.stg"
    log.write_bytes(
        line("MainReportVersion", 1000.0)
        + line("LogStartLine", 1000.0, node_info={"unique_id": stg}, index=1, total=5)
    )
    script = Script([])
    alerts: list[dict[str, object]] = []
    stats = {stg: DurationStats(5.0, 10.0, 8)}
    result = watch(
        log,
        None,
        stats=stats,
        on_alert=alerts.append,
        timeout=30.0,
        poll_s=1.0,
        clock=script.clock,
        sleep=script.sleep,
    )
    long = [a for a in alerts if a["kind"] == "live_running_long"]
    assert len(long) == 1 and long[0]["node"] == stg
    assert long[0]["at"] == 1021.0  # first idle look past 2 x p95 = 20 s, on the build's clock
    assert result.ended == "timeout" and alerts[-1]["kind"] == "live_summary"
