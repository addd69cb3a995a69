"""Running one dbt command as a subprocess, passing its output on as it comes.

dbt runs in a process group of its own (`start_new_session`), so that stopping it stops everything it
started too: see `signals`. A thread reads dbt's pipe, so the main thread stays free for signals and
for the caller's timers (`on_idle`, called when dbt has been silent for `POLL_S`).
"""

from __future__ import annotations

import json
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pipewatch.errors import UsageError
from pipewatch.runner.early import adopt, popen_dbt
from pipewatch.runner.signals import StopSignals, kill_group

#: Lines of dbt's output kept for classifying a failure outside any node (the error is at the end).
OUTPUT_TAIL_LINES = 400
#: Seconds of silence from dbt before `on_idle` is called.
POLL_S = 0.2


@dataclass(slots=True)
class Executed:
    """How one dbt process ended: its exit code, how long it ran, and the tail of its output."""

    exit_code: int
    duration_s: float
    output: str


def readable(line: str) -> str:
    """dbt's text of one output line: a JSON log line's `info.msg` (newline added), else the line."""
    if line.startswith("{"):
        try:
            msg = json.loads(line)["info"]["msg"]
        except (ValueError, KeyError, TypeError):
            return line
        if isinstance(msg, str):
            return msg + "\n"
    return line


def _pump(stream: IO[bytes], lines: queue.Queue[bytes | None]) -> None:
    """Reader thread: every line of dbt's pipe into `lines`, then None."""
    try:
        for raw in stream:
            lines.put(raw)
    finally:
        lines.put(None)


def execute(
    argv: Sequence[str],
    workdir: Path,
    env: Mapping[str, str],
    on_output: Callable[[str], None] | None,
    stops: StopSignals | None = None,
    on_idle: Callable[[], None] | None = None,
) -> Executed:
    """Run dbt, passing each output line on as it comes and keeping the tail (as text) for triage.

    With `stops`, a SIGTERM/SIGINT to pipewatch is forwarded to dbt's process group and, once dbt has
    stopped, ends the run with `RunInterrupted`. dbt started early (`runner.early`) for this very
    command is adopted instead of started again.
    """
    stops = stops or StopSignals()
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
    started = time.monotonic()
    proc = adopt(argv, workdir)
    if proc is None:
        try:
            proc = popen_dbt(argv, workdir, env)
        except FileNotFoundError:
            raise UsageError(f"{argv[0]}: dbt executable not found (is dbt installed and on PATH?)") from None
        except NotADirectoryError:
            raise UsageError(f"{workdir}: not a directory") from None
        except PermissionError:
            raise UsageError(f"{argv[0]}: not executable") from None
    lines: queue.Queue[bytes | None] = queue.Queue()
    assert proc.stdout is not None
    reader = threading.Thread(target=_pump, args=(proc.stdout, lines), name="dbt-pipe", daemon=True)
    with proc:
        try:
            with stops.running(proc.pid):
                reader.start()
                while True:
                    try:
                        raw = lines.get(timeout=POLL_S)
                    except queue.Empty:
                        if on_idle is not None:
                            on_idle()
                        continue
                    if raw is None:
                        break
                    line = raw.decode("utf-8", errors="replace")
                    tail.append(readable(line))
                    if on_output is not None:
                        on_output(line)
                exit_code = proc.wait()
        except BaseException:
            # A failing callback (a closed stdout) must not leave dbt, or what it started, behind us.
            kill_group(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    stops.check()
    return Executed(exit_code, time.monotonic() - started, "".join(tail))
