"""after-run end to end on a 10,000-model project, whole processes (issue 12).

The synthetic project of synthetic_project.py (10,000 models, 20,000 tests, planted errors and
~20,000 skips) is read by:

- `json.load` of manifest.json and run_results.json (the floor of anything that parses them in Python);
- `pipewatch after-run --format json --output FILE` and `--format text`, with `--no-history`;
- `pipewatch after-run --format json` recording into a history store (a fresh store each time).

Each contender is one fresh process, interleaved, `--runs` times; the table shows median wall time,
the ratio to `json.load`, and the process's peak RSS next to the manifest's size.
Targets: after-run at most 0.5x json.load (aim 0.25x), text and JSON alike; peak RSS below 1.5x the
manifest.

Run from the repo root with the project venv: `.venv/bin/python benchmarks/bench_after_run.py [--runs 5]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bytecode import compile_pipewatch
from synthetic_project import synthetic_target

PIPEWATCH = str(Path(sys.executable).with_name("pipewatch"))


def _run(argv: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one whole process; exit 0 or 1 (the gate) is fine."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"{' '.join(argv[:3])} exited {code}: {err.strip()[:300]}")
    return elapsed, usage.ru_maxrss * 1024


def main() -> int:
    """Build (or reuse) the project, run the contenders interleaved and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--models", type=int, default=10_000)
    args = parser.parse_args()
    compile_pipewatch()

    target = synthetic_target(args.models)
    project = target.parent
    manifest = target / "manifest.json"
    work = Path(tempfile.mkdtemp(prefix="pipewatch-bench-after-run-"))
    base = [PIPEWATCH, "after-run", "--project-dir", str(project), "--target-path", str(target), "--no-rules"]
    json_load = "import json, sys; json.load(open(sys.argv[1], 'rb')); json.load(open(sys.argv[2], 'rb'))"
    contenders = {
        "json.load (manifest + run_results)": [
            sys.executable,
            "-c",
            json_load,
            str(manifest),
            str(target / "run_results.json"),
        ],
        "after-run --format json --no-history": [
            *base,
            "--no-history",
            "--format",
            "json",
            "--output",
            str(work / "out.json"),
        ],
        "after-run --format text --no-history": [*base, "--no-history", "--format", "text"],
        "after-run --format json (history)": [
            *base,
            "--history",
            str(work / "history.duckdb"),
            "--format",
            "json",
            "--output",
            str(work / "out-h.json"),
        ],
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    peaks: dict[str, list[int]] = {name: [] for name in contenders}
    try:
        for _ in range(args.runs):
            for name, argv in contenders.items():
                (work / "history.duckdb").unlink(missing_ok=True)
                elapsed, peak = _run(argv)
                times[name].append(elapsed)
                peaks[name].append(peak)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    size = manifest.stat().st_size
    floor = statistics.median(times["json.load (manifest + run_results)"])
    print(
        f"manifest {size / 1e6:.1f} MB, run_results {(target / 'run_results.json').stat().st_size / 1e6:.1f} MB"
    )
    print(
        f"{'contender':40} {'median s':>9} {'vs json.load':>13} {'peak MB':>8} {'peak/manifest':>14}  target"
    )
    for name in contenders:
        median = statistics.median(times[name])
        peak = max(peaks[name])
        verdict = ""
        if name.endswith("--no-history"):  # the targets are for the analysis and the view
            ok_time = median / floor <= 0.5
            ok_mem = peak / size < 1.5
            verdict = f"time {'met' if ok_time else 'NOT met'}, memory {'met' if ok_mem else 'NOT met'}"
        print(
            f"{name:40} {median:9.3f} {median / floor:12.2f}x {peak / 1e6:8.1f} {peak / size:13.2f}x  {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
