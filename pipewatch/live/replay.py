"""Replay a recorded dbt JSON log at N times its original speed, for tests, demos and benchmarks.

    python -m pipewatch.live.replay LOG [--speed N] [--out FILE]

Each line is written when its `info.ts` says, relative to the first line, divided by `speed`
(`--speed 0`: no waiting). Lines without a timestamp (text banners, broken lines) go out at once.
With `--out` the lines are appended to FILE and flushed one by one, so a follower sees the file
grow as it would while dbt runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from pipewatch.live.events import line_head


def replay(
    lines: Iterable[bytes],
    out: BinaryIO,
    *,
    speed: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Write `lines` to `out` at `speed` times their recorded pace; return how many were written.

    `sleep` is injectable so tests run on a fake clock. Timestamps going backwards (a clock step,
    a concatenated log) are written without waiting.
    """
    first: float | None = None
    waited = 0.0
    written = 0
    for raw in lines:
        line = raw if raw.endswith(b"\n") else raw + b"\n"
        ts = line_head(line)[1] if speed > 0 else None
        if ts is not None:
            if first is None:
                first = ts
            due = (ts - first) / speed
            if due > waited:
                sleep(due - waited)
                waited = due
        out.write(line)
        out.flush()
        written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: replay LOG to stdout or append it to --out."""
    parser = argparse.ArgumentParser(
        prog="python -m pipewatch.live.replay", description=__doc__.split("\n")[0]
    )
    parser.add_argument("log", type=Path, help="a dbt log recorded with --log-format json")
    parser.add_argument("--speed", type=float, default=1.0, help="times the original speed (0: no waiting)")
    parser.add_argument("--out", type=Path, default=None, help="append to this file instead of stdout")
    args = parser.parse_args(argv)
    if args.speed < 0:
        parser.error("--speed must be 0 or more")
    with args.log.open("rb") as src:
        if args.out is None:
            replay(src, sys.stdout.buffer, speed=args.speed)
        else:
            with args.out.open("ab") as dst:
                replay(src, dst, speed=args.speed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
