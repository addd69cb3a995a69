"""How fast is after-run's analysis on a large project, next to the usual ways of reading a manifest?

A synthetic project of 10,000 models and 20,000 tests is parsed once with real dbt (cached, see
synthetic_project.py) and given a run_results with planted errors and skips. Each contender runs in a
fresh interpreter (so memory peaks do not mix), three times; the table shows medians and ratios:

- `json.load`: the manifest into Python dicts, nothing else;
- `dbt-artifacts-parser`: `json.load` + `parse_manifest` (pydantic models of the whole manifest);
- `pipewatch`: load manifest + run_results + lineage + triage + critical path (`load_run` + `analyze`),
  i.e. everything `after-run` does before rendering.

Peak memory is tracemalloc's peak of Python allocations during the measured call.
Targets (issue 2): pipewatch faster than json.load, >= 10x faster than dbt-artifacts-parser, peak
memory below 2x the manifest's size.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_project import synthetic_target

CONTENDERS = {
    "json.load": "import json; json.load(open(MANIFEST, 'rb'))",
    "dbt-artifacts-parser": (
        "import json\n"
        "from dbt_artifacts_parser.parser import parse_manifest\n"
        "parse_manifest(json.load(open(MANIFEST, 'rb')))"
    ),
    "pipewatch": (
        "from pipewatch.artifacts import load_run\n"
        "from pipewatch.analysis import analyze\n"
        "analyze(load_run(TARGET))"
    ),
}

# Time and memory are measured in separate processes: tracemalloc slows allocation-heavy code
# unevenly, so a traced run would not be a fair clock.
_RUNNER = """
import sys, time, tracemalloc, json
TARGET = sys.argv[1]
MANIFEST = TARGET + '/manifest.json'
code, mode = sys.argv[2], sys.argv[3]
setup, _, body = code.rpartition('\\n')
exec(setup)
if mode == 'memory':
    tracemalloc.start()
t0 = time.perf_counter()
exec(body)
elapsed = time.perf_counter() - t0
peak = tracemalloc.get_traced_memory()[1] if mode == 'memory' else 0
print(json.dumps({"s": elapsed, "peak": peak}))
"""


def measure(target: Path, code: str, mode: str = "time") -> dict[str, float]:
    """Run one contender in a fresh interpreter (`mode` time or memory); imports precede the clock."""
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(target), code, mode], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(models: int = 10_000, repeats: int = 3) -> None:
    """Print the side-by-side table."""
    target = synthetic_target(models)
    size = (target / "manifest.json").stat().st_size
    rr_size = (target / "run_results.json").stat().st_size
    times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    # Interleaved (A B C A B C ...) so a burst of load on a noisy machine hits every contender alike.
    for _ in range(repeats):
        for name, code in CONTENDERS.items():
            times[name].append(measure(target, code)["s"])
    rows = {
        name: (statistics.median(times[name]), measure(target, code, "memory")["peak"])
        for name, code in CONTENDERS.items()
    }
    base_s = rows["json.load"][0]
    pw_s = rows["pipewatch"][0]
    print(
        f"manifest: {size / 1e6:.1f} MB ({models} models, {2 * models} tests); run_results: {rr_size / 1e6:.1f} MB"
    )
    print(f"time: median of {repeats} interleaved fresh-process runs; peak: one tracemalloc run\n")
    print(
        f"{'contender':<22} {'time s':>8} {'vs json.load':>13} {'vs pipewatch':>13} {'peak MB':>9} {'peak/manifest':>14}"
    )
    for name, (secs, peak) in rows.items():
        print(
            f"{name:<22} {secs:>8.3f} {secs / base_s:>12.2f}x {secs / pw_s:>12.2f}x"
            f" {peak / 1e6:>9.1f} {peak / size:>13.2f}x"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
