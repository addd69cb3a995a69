"""How long does a pipewatch command take before it does anything? (issue 12)

Whole processes, as a user runs them, interleaved and repeated; the table shows medians and the ratio
to a bare Python that imports click, msgspec and yaml (the floor any click CLI on this stack pays):

- `pipewatch --help` and `pipewatch classify MSG`: target at most 2x the floor (aim 1.5x);
- `pipewatch classify` over standard input with 1,000 messages: target well under a second, next to
  classifying 82 messages one process each (the old way to do a batch).

Run from the repo root with the project venv: `.venv/bin/python benchmarks/bench_startup.py [--runs 15]`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bytecode import compile_pipewatch

BIN = Path(sys.executable).parent
PIPEWATCH = str(BIN / "pipewatch")

MESSAGES = [
    "could not serialize access due to concurrent update",
    "Database Error in model stg_payments (models/staging/stg_payments.sql)\n  division by zero",
    "permission denied for table orders",
    "Conversion Error: Could not convert string 'abc' to INT32",
    'connection to server at "127.0.0.1", port 5432 failed: Connection refused',
    "Out of Memory Error: failed to allocate data of size 4.0 GiB",
    "Compilation Error in model fct_orders: 'ref' is undefined",
    'relation "analytics.customers" does not exist',
]


def _time(argv: Sequence[str], stdin: str | None = None) -> float:
    """Wall time of one whole process, which must succeed."""
    start = time.perf_counter()
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} exited {proc.returncode}: {proc.stderr.strip()[:300]}")
    return elapsed


def main() -> int:
    """Run the contenders interleaved and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    compile_pipewatch()

    batch = "\n".join(MESSAGES[i % len(MESSAGES)].replace("\n", " ") for i in range(1000)) + "\n"
    contenders: dict[str, tuple[list[str], str | None]] = {
        "python -c 'import click, msgspec, yaml'": (
            [sys.executable, "-c", "import click, msgspec, yaml"],
            None,
        ),
        "pipewatch --help": ([PIPEWATCH, "--help"], None),
        "pipewatch classify MSG": ([PIPEWATCH, "classify", MESSAGES[0]], None),
        "pipewatch classify < 1,000 messages": ([PIPEWATCH, "classify"], batch),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for argv, stdin in contenders.values():  # warm the page cache once
        _time(argv, stdin)
    for _ in range(args.runs):
        for name, (argv, stdin) in contenders.items():
            times[name].append(_time(argv, stdin))
    one_by_one = sum(_time([PIPEWATCH, "classify", MESSAGES[i % len(MESSAGES)]]) for i in range(82))

    floor = statistics.median(times["python -c 'import click, msgspec, yaml'"])
    print(f"{'contender':40} {'median s':>9} {'vs floor':>9}  target")
    targets = {
        "pipewatch --help": 2.0,
        "pipewatch classify MSG": 2.0,
    }
    for name, samples in times.items():
        median = statistics.median(samples)
        ratio = median / floor
        target = targets.get(name)
        verdict = ""
        if target is not None:
            verdict = f"<= {target:.1f}x: {'met' if ratio <= target else 'NOT met'}"
        elif "1,000" in name:
            verdict = f"< 1 s: {'met' if median < 1.0 else 'NOT met'}"
        print(f"{name:40} {median:9.3f} {ratio:8.2f}x  {verdict}")
    print(f"{'82 x pipewatch classify MSG (one each)':40} {one_by_one:9.3f} {one_by_one / floor:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
