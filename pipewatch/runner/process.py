"""Running one dbt command as a subprocess, passing its output on as it comes.

dbt runs in a process group of its own (`start_new_session`), so that stopping it stops everything it
started too: see `signals`.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipewatch.errors import UsageError
from pipewatch.runner.signals import StopSignals, kill_group

#: Lines of dbt's output kept for classifying a failure outside any node (the error is at the end).
OUTPUT_TAIL_LINES = 400


@dataclass(slots=True)
class Executed:
    """How one dbt process ended: its exit code, how long it ran, and the tail of its output."""

    exit_code: int
    duration_s: float
    output: str


def execute(
    argv: Sequence[str],
    workdir: Path,
    env: Mapping[str, str],
    on_output: Callable[[str], None] | None,
    stops: StopSignals | None = None,
) -> Executed:
    """Run dbt, passing each output line on as it comes and keeping the tail for triage.

    With `stops`, a SIGTERM/SIGINT to pipewatch is forwarded to dbt's process group and, once dbt has
    stopped, ends the run with `RunInterrupted`.
    """
    stops = stops or StopSignals()
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=workdir,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
    except FileNotFoundError:
        raise UsageError(f"{argv[0]}: dbt executable not found (is dbt installed and on PATH?)") from None
    except NotADirectoryError:
        raise UsageError(f"{workdir}: not a directory") from None
    except PermissionError:
        raise UsageError(f"{argv[0]}: not executable") from None
    with proc:
        try:
            with stops.running(proc.pid):
                assert proc.stdout is not None
                for line in proc.stdout:
                    tail.append(line)
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
