"""Running one dbt command as a subprocess, passing its output on as it comes."""

from __future__ import annotations

import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipewatch.errors import UsageError

#: Lines of dbt's output kept for classifying a failure outside any node (the error is at the end).
OUTPUT_TAIL_LINES = 400


@dataclass(slots=True)
class Executed:
    exit_code: int
    duration_s: float
    output: str


def execute(
    argv: Sequence[str], workdir: Path, env: Mapping[str, str], on_output: Callable[[str], None] | None
) -> Executed:
    """Run dbt, passing each output line on as it comes and keeping the tail for triage."""
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
        )
    except FileNotFoundError:
        raise UsageError(f"{argv[0]}: dbt executable not found (is dbt installed and on PATH?)") from None
    except NotADirectoryError:
        raise UsageError(f"{workdir}: not a directory") from None
    except PermissionError:
        raise UsageError(f"{argv[0]}: not executable") from None
    with proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                tail.append(line)
                if on_output is not None:
                    on_output(line)
            exit_code = proc.wait()
        except BaseException:
            # An interrupt or a failing callback must not leave dbt running behind us.
            proc.kill()
            proc.wait()
            raise
    return Executed(exit_code, time.monotonic() - started, "".join(tail))
