"""What the pipewatch dbt package's on-run-end audit hook costs a real `dbt run` of a large project.

Generates the synthetic project (benchmarks/synthetic_project.py: N table models in a random DAG) four
times, runs real dbt on DuckDB, and prints a ratio table:

* `no package`           the project as generated
* `package`              the pipewatch package installed (`dbt deps`, local), no hook
* `package + audit`      plus `on-run-end: "{{ pipewatch.audit() }}"` (one INSERT of every result, with a
                         count(*) of every built table in the same statement)
* `audit, no row counts` plus the hook with `row_counts=false`

Ratios are against `package`, for wall time and for dbt's CPU time (user + system, from its resource
report), which other load on the machine does not stretch.

Each variant is parsed once from scratch (`dbt parse --no-partial-parse`, timed), then `dbt run` is timed
`--repeats` times (the minimum is reported). The hook's own time is read from run_results.json (dbt lists
the on-run-end operation with its execution time), and the audit table is checked to hold one row per
result and to have been written by one INSERT per run.

    .venv/bin/python benchmarks/bench_audit.py [--models 2000] [--repeats 1] [--only VARIANT ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_project import CACHE_ROOT, write_project

REPO = Path(__file__).resolve().parents[1]
MACROS = REPO / "macros"
VARIANTS: dict[str, str | None] = {
    "no package": None,
    "package": "",
    "package + audit": '"{{ pipewatch.audit() }}"',
    "audit, no row counts": '"{{ pipewatch.audit(row_counts=false) }}"',
}


def _dbt() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def _env() -> dict[str, str]:
    return dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="false", DO_NOT_TRACK="1")


def dbt(project: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run dbt on the project; the wall time and the finished process."""
    cmd = [_dbt(), "--no-use-colors", "--quiet", *args, "--project-dir", str(project)]
    cmd += ["--profiles-dir", str(project)]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), check=False)
    return time.perf_counter() - started, done


def prepare(root: Path, name: str, hook: str | None, models: int) -> Path:
    """One variant's project: the synthetic project, a DuckDB file, and the package and hook it asks for."""
    project = root / re.sub(r"[^a-z]+", "_", name).strip("_")
    if project.exists():
        shutil.rmtree(project)
    write_project(project, models)
    db = project / "synth.duckdb"
    (project / "profiles.yml").write_text(
        f"synth:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{db}'\n      threads: 4\n",
        encoding="utf-8",
    )
    if hook is not None:
        (project / "packages.yml").write_text(f"packages:\n  - local: {MACROS}\n", encoding="utf-8")
        _, deps = dbt(project, "deps")
        if deps.returncode != 0:
            raise SystemExit(f"dbt deps failed in {project}:\n{deps.stdout}{deps.stderr}")
    if hook:
        with (project / "dbt_project.yml").open("a", encoding="utf-8") as f:
            f.write(f"on-run-end:\n  - {hook}\n")
    return project


def hook_seconds(project: Path) -> float | None:
    """The on-run-end operation's execution time in the last run_results.json."""
    raw = json.loads((project / "target" / "run_results.json").read_text(encoding="utf-8"))
    times = [r["execution_time"] for r in raw["results"] if r["unique_id"].startswith("operation.")]
    return sum(times) if times else None


def cpu_seconds(project: Path) -> float:
    """User + system CPU seconds of the last `dbt run`, from dbt's own resource report in its log.

    Steadier than wall time on a shared machine: other processes stretch the wall clock, not this."""
    log = (project / "logs" / "dbt.log").read_text(encoding="utf-8", errors="replace")
    reports = [json.loads(m) for m in re.findall(r"Resource report: (\{.*\})", log)]
    runs = [r for r in reports if r.get("command_name") == "run"]
    if not runs:
        return float("nan")
    return float(runs[-1]["process_user_time"]) + float(runs[-1]["process_kernel_time"])


def audit_check(project: Path, runs: int, models: int) -> str:
    """`rows/inserts` found for the audit table (expects runs x models rows and one INSERT per run)."""
    con = duckdb.connect(str(project / "synth.duckdb"), read_only=True)
    try:
        rows, invocations = con.execute(
            "select count(*), count(distinct invocation_id) from main.pipewatch_audit"
        ).fetchone()
    finally:
        con.close()
    # dbt rotates dbt.log at 10 MB, which a 2,000-model run passes: count in every part.
    inserts = sum(
        len(
            re.findall(
                r"insert into \S*pipewatch_audit", p.read_text(encoding="utf-8", errors="replace"), re.I
            )
        )
        for p in (project / "logs").glob("dbt.log*")
    )
    ok = rows == runs * models and invocations == runs and inserts == runs
    return f"{rows} rows / {inserts} inserts{'' if ok else ' (UNEXPECTED)'}"


def main() -> None:
    """Prepare the variants, time parse and run, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--only", action="append", choices=list(VARIANTS), help="run only these variants (repeatable)"
    )
    opts = parser.parse_args()
    root = CACHE_ROOT / f"audit_{opts.models}"
    rows: list[tuple[str, float, float, float, float | None, str]] = []
    for name, hook in VARIANTS.items():
        if opts.only and name not in opts.only:
            continue
        print(f"[{name}] preparing ...", file=sys.stderr)
        project = prepare(root, name, hook, opts.models)
        parse_s, parsed = dbt(project, "parse", "--no-partial-parse")
        if parsed.returncode != 0:
            raise SystemExit(f"dbt parse failed in {project}:\n{parsed.stdout}{parsed.stderr}")
        best = float("inf")
        best_cpu = float("inf")
        hook_s: float | None = None
        for i in range(opts.repeats):
            print(f"[{name}] dbt run {i + 1}/{opts.repeats} ...", file=sys.stderr)
            run_s, ran = dbt(project, "run")
            if ran.returncode != 0:
                raise SystemExit(f"dbt run failed in {project}:\n{ran.stdout[-3000:]}{ran.stderr[-3000:]}")
            best = min(best, run_s)
            best_cpu = min(best_cpu, cpu_seconds(project))
            got = hook_seconds(project)
            hook_s = got if hook_s is None or (got is not None and got < hook_s) else hook_s
        audit = audit_check(project, opts.repeats, opts.models) if hook else "-"
        rows.append((name, parse_s, best, best_cpu, hook_s, audit))
    base = next((r for r in rows if r[0] == "package"), rows[0])
    print(
        f"\n`dbt run` of the {opts.models}-model synthetic project on DuckDB (4 threads), best of {opts.repeats}"
    )
    # The hook's own time (from run_results) and the CPU time are the steady numbers: on a shared machine
    # the wall clock of the whole run varies by more than the hook costs.
    print(
        f"{'variant':<22} {'parse s':>8} {'run s':>8} {'ratio':>7} {'cpu s':>8} {'ratio':>7} {'hook s':>7}  audit table"
    )
    for name, parse_s, run_s, cpu_s, hook_s, audit in rows:
        hook_text = f"{hook_s:7.2f}" if hook_s is not None else "      -"
        print(
            f"{name:<22} {parse_s:8.1f} {run_s:8.1f} {run_s / base[2]:6.3f}x {cpu_s:8.1f} {cpu_s / base[3]:6.3f}x "
            f"{hook_text}  {audit}"
        )


if __name__ == "__main__":
    main()
