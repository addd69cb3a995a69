"""`pipewatch check --dbt-tests` against `dbt test` on a generated project: 100 models x 10 tests + 2 singular.

The project (cached under `$PIPEWATCH_BENCH_CACHE/dbt_tests_v1`) has 100 DuckDB table models of 50,000
rows each, generated in SQL with failures planted at known counts, and ten tests per model: core
`unique`/`not_null`/`accepted_values`/`relationships` with `where`, `severity: warn`, `warn_if`/`error_if`
and `quote: false`, plus the project's own generic test `positive` (run by pipewatch as dbt SQL), and two
singular tests. Both tools run as whole processes, side by side, interleaved, `--runs` times each:

* `dbt test` (the profile's 4 threads);
* `pipewatch check --dbt-tests` through the same dbt profile, and with `--duckdb` on the file.

Every run's statuses and failure counts are compared with dbt's, test by test, and with the planted
counts; the script exits 1 when any differs. The table prints medians and the speed-up over dbt test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bytecode import compile_pipewatch

CACHE = Path(os.environ.get("PIPEWATCH_BENCH_CACHE", "/tmp/pipewatch-bench")) / "dbt_tests_v1"
MODELS = 100
ROWS = 50_000
ENV = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
BIN = Path(sys.executable).parent

MODEL_SQL = """\
select
  case when i < {dups} then i + 1000 else i end as id,
  case when i < {null_customers} then null
       when i < {null_customers} + {orphans} then 100000 + i
       else i % 40000 end as customer_id,
  case when {bad_status} and i % 10000 = 7 then 'x' else ['a', 'b', 'c'][1 + i % 3] end as status,
  i % 2 as flag,
  case when i % 2 = 1 and i < {code_dups} * 2 then i - 1 else i end as code,
  case when i >= {rows} - {null_amounts} then null
       when i < {negatives} then -1
       else i % 100 + 1 end as amount,
  1 + i % 3 as kind,
  'user' || cast(i % ({rows} - {email_dups}) as varchar) || '@x.com' as email
from range({rows}) t(i)
{parent}
"""
SCHEMA_ENTRY = """\
  - name: m{k:03d}
    columns:
      - name: id
        data_tests: [unique, not_null]
      - name: customer_id
        data_tests:
          - not_null
          - relationships:
              arguments: {{to: ref('m000'), field: id}}
      - name: status
        data_tests:
          - accepted_values:
              arguments: {{values: [a, b, c]}}
      - name: code
        data_tests:
          - unique:
              config: {{where: "flag = 1"}}
      - name: amount
        data_tests:
          - not_null: {{config: {{severity: warn}}}}
          - positive
      - name: kind
        data_tests:
          - accepted_values:
              arguments: {{values: [1, 2, 3], quote: false}}
      - name: email
        data_tests:
          - unique:
              config: {{warn_if: ">10", error_if: ">100"}}
"""
POSITIVE = """\
{% test positive(model, column_name) %}
select * from {{ model }} where {{ column_name }} <= 0
{% endtest %}
"""
SINGULAR = {
    "tests/no_huge_amounts.sql": "select * from {{ ref('m001') }} where amount > 1000\n",
    "tests/negative_amounts_m005.sql": "select * from {{ ref('m005') }} where amount < 0\n",
}


def planted(k: int) -> dict[str, int]:
    """Model k's planted failures (what each test must count)."""
    return {
        "dups": k % 4,
        "null_customers": k % 3,
        "orphans": (k * 7) % 5,
        "bad_status": k % 2,
        "code_dups": k % 6,
        "null_amounts": k % 5,
        "negatives": 7 if k % 5 == 0 else 0,
        "email_dups": (k * 3) % 150,
    }


def expected(k: int) -> dict[str, tuple[str, int]]:
    """(status, failures) per test name prefix of model k, as dbt reports them."""
    p = planted(k)
    name = f"m{k:03d}"

    def verdict(n: int, warn_at: int = 0, error_at: int = 0, severity: str = "error") -> tuple[str, int]:
        if severity == "error" and n > error_at:
            return ("fail", n)
        return ("warn", n) if n > warn_at else ("pass", 0)

    # code duplicates: odd rows below 2*code_dups take the previous (even) code, so under `flag = 1`
    # each odd row's code is even and unique among odd rows: no duplicate.
    return {
        f"unique_{name}_id": verdict(p["dups"]),
        f"not_null_{name}_id": verdict(0),
        f"not_null_{name}_customer_id": verdict(p["null_customers"]),
        f"relationships_{name}_customer_id__id__ref_m000_": verdict(p["orphans"]),
        f"accepted_values_{name}_status__a__b__c": verdict(p["bad_status"]),
        f"unique_{name}_code": verdict(0),
        f"not_null_{name}_amount": verdict(p["null_amounts"], severity="warn"),
        f"positive_{name}_amount": verdict(p["negatives"]),
        f"accepted_values_{name}_kind__False__1__2__3": verdict(0),
        f"unique_{name}_email": verdict(p["email_dups"], warn_at=10, error_at=100),
    }


def build() -> Path:
    """The project, built by `dbt run` once and cached; returns its directory."""
    project = CACHE / "project"
    if (project / "built.ok").exists():
        return project
    shutil.rmtree(CACHE, ignore_errors=True)
    (project / "models").mkdir(parents=True)
    (project / "macros").mkdir()
    (project / "tests").mkdir()
    (project / "dbt_project.yml").write_text(
        "name: bench\nversion: '1.0'\nconfig-version: 2\nprofile: bench\n"
        "models:\n  bench:\n    +materialized: table\n"
    )
    db = project / "bench.duckdb"
    (project / "profiles.yml").write_text(
        f"bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{db}'\n      threads: 4\n"
    )
    schema = ["version: 2", "models:"]
    for k in range(MODELS):
        parent = f"-- depends on {{{{ ref('m{k - 1:03d}') }}}}" if k else ""
        sql = MODEL_SQL.format(rows=ROWS, parent=parent, **planted(k))
        (project / "models" / f"m{k:03d}.sql").write_text(sql)
        schema.append(SCHEMA_ENTRY.format(k=k).rstrip("\n"))
    (project / "models" / "schema.yml").write_text("\n".join(schema) + "\n")
    (project / "macros" / "positive.sql").write_text(POSITIVE)
    for name, text in SINGULAR.items():
        (project / name).write_text(text)
    done = dbt(project, "run")
    if done.returncode != 0:
        raise SystemExit(f"dbt run failed:\n{done.stdout[-3000:]}{done.stderr}")
    (project / "built.ok").write_text("")
    return project


def example() -> Path:
    """The repo's example project, copied to the cache and built by dbt once (its planted faults on)."""
    repo = Path(__file__).resolve().parents[1]
    project = CACHE / "example"
    if (project / "built.ok").exists():
        _tests_only(project)
        return project
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(
        repo / "dbt_example_project", project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    packages = project / "packages.yml"
    packages.write_text(packages.read_text().replace("../macros", str(repo / "macros")))
    for step in (("deps",), ("seed",), ("build",)):
        done = dbt(project, *step)
        if done.returncode not in (0, 1):
            raise SystemExit(
                f"dbt {step[0]} failed on the example project:\n{done.stdout[-3000:]}{done.stderr}"
            )
    (project / "built.ok").write_text("")
    _tests_only(project)
    return project


def _tests_only(project: Path) -> None:
    """The race is dbt test against --dbt-tests: the example's own rule files stay out of it."""
    config = project / "pipewatch.yml"
    lines = config.read_text().splitlines(keepends=True)
    config.write_text("".join(line for line in lines if not line.startswith("rules:")))


def dbt(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A dbt command on the project (its own profiles.yml)."""
    cmd = [
        str(BIN / "dbt"),
        "--no-use-colors",
        *args,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=False)


def pipewatch(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`pipewatch check --dbt-tests` on the project, JSON out."""
    cmd = [
        str(BIN / "pipewatch"),
        "check",
        "--dbt-tests",
        "--no-history",
        "--format",
        "json",
        "--samples",
        "0",
    ]
    cmd += ["--project-dir", str(project), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=False)


def dbt_results(project: Path) -> dict[str, tuple[str, int]]:
    """run_results.json's (status, failures) per test."""
    data = json.loads((project / "target" / "run_results.json").read_text())
    return {r["unique_id"]: (r["status"], r["failures"] or 0) for r in data["results"]}


def pipewatch_results(stdout: str) -> tuple[dict[str, tuple[str, int]], dict[str, int]]:
    """pipewatch's (status, failures as dbt reports them) per test, and its engine counts."""
    quality = json.loads(stdout)["quality"]
    out = {}
    for table in quality["tables"]:
        for c in table["checks"]:
            n = c["failing_rows"] if c["status"] in ("fail", "warn") else 0
            out[c["id"]] = (c["status"], n or 0)
    return out, quality["engines"]


def disagreements(
    mine: dict[str, tuple[str, int]], dbts: dict[str, tuple[str, int]], planted_counts: bool = True
) -> list[str]:
    """Tests whose status or count differs from dbt's, or from the planted count."""
    problems = [
        f"{uid}: dbt {dbts.get(uid)} pipewatch {mine.get(uid)}"
        for uid in set(mine) | set(dbts)
        if mine.get(uid) != dbts.get(uid)
    ]
    by_name = {uid.split(".")[2]: v for uid, v in mine.items()}
    for k in range(MODELS if planted_counts else 0):
        for name, want in expected(k).items():
            if by_name.get(name) != want:
                problems.append(f"{name}: planted {want} pipewatch {by_name.get(name)}")
    return problems


def _cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    """Build (once), time both tools side by side, check every count, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-example", action="store_true", help="skip the example project's race")
    parser.add_argument("--no-generated", action="store_true", help="skip the generated project's race")
    args = parser.parse_args(argv)
    compile_pipewatch()  # as installed: pipewatch's own .pyc files, like dbt's
    started = time.perf_counter()
    project = build()
    print(
        f"project: {project} ({MODELS} models x {ROWS:,} rows, ready in {time.perf_counter() - started:.0f}s)"
    )
    problems: list[str] = []
    if not args.no_generated:
        times, cpu, tests, engines = race(project, args.runs, problems, planted_counts=True)
        table(f"generated project: {tests} tests", times, cpu, engines, target=5.0)
    if not args.no_example:
        shop = example()
        times, cpu, tests, engines = race(shop, args.runs, problems, planted_counts=False)
        table(f"example project: {tests} tests", times, cpu, engines, target=1.0)
    verdict = "all equal to dbt's and to the planted failures" if not problems else f"{len(problems)} differ"
    print(f"\ncounts: {verdict}")
    for p in problems[:20]:
        print("  " + p)
    return 1 if problems else 0


def race(
    project: Path, runs: int, problems: list[str], *, planted_counts: bool
) -> tuple[dict[str, list[float]], dict[str, list[float]], int, dict[str, int]]:
    """`dbt test` and pipewatch (profile, --duckdb) interleaved `runs` times; wall and CPU seconds."""
    db = next(iter(sorted((project / "target").glob("*.duckdb"))), project / "bench.duckdb")
    times: dict[str, list[float]] = {"dbt test": [], "pipewatch (dbt profile)": [], "pipewatch --duckdb": []}
    cpu: dict[str, list[float]] = {label: [] for label in times}
    engines: dict[str, int] = {}
    tests = 0
    for _ in range(runs):
        t0, c0 = time.perf_counter(), _cpu()
        done = dbt(project, "test")
        times["dbt test"].append(time.perf_counter() - t0)
        cpu["dbt test"].append(_cpu() - c0)
        if done.returncode not in (0, 1):
            raise SystemExit(f"dbt test crashed:\n{done.stdout[-3000:]}{done.stderr}")
        dbts = dbt_results(project)
        tests = len(dbts)
        for label, extra in (("pipewatch (dbt profile)", ()), ("pipewatch --duckdb", ("--duckdb", str(db)))):
            t0, c0 = time.perf_counter(), _cpu()
            got = pipewatch(project, *extra)
            times[label].append(time.perf_counter() - t0)
            cpu[label].append(_cpu() - c0)
            if got.returncode not in (0, 1):
                raise SystemExit(f"pipewatch failed ({got.returncode}): {got.stderr}")
            mine, engines = pipewatch_results(got.stdout)
            problems += [f"[{project.name}, {label}] {p}" for p in disagreements(mine, dbts, planted_counts)]
    return times, cpu, tests, engines


def table(
    title: str,
    times: dict[str, list[float]],
    cpu: dict[str, list[float]],
    engines: dict[str, int],
    target: float,
) -> None:
    """Medians, the runs, and the speed-up over dbt test (wall and CPU), with the target marked."""
    base, base_cpu = statistics.median(times["dbt test"]), statistics.median(cpu["dbt test"])
    print(f"\n{title}; pipewatch ran {engines.get('fused', 0)} fused, {engines.get('dbt_sql', 0)} as dbt SQL")
    print(
        f"{'contender':<26} {'median s':>9} {'runs':>18}  {'vs dbt':>8}  {'CPU s':>6} {'CPU vs dbt':>10}  target"
    )
    goal = f">= {target:g}x wall" if target > 1 else "faster than dbt test"
    for label, values in times.items():
        med, cpu_med = statistics.median(values), statistics.median(cpu[label])
        ratio = base / med
        met = "met" if ratio >= target and ratio > 1 else "NOT met"
        note = "" if label == "dbt test" else f"{met} ({goal})"
        runs = " ".join(f"{v:.1f}" for v in values)
        print(
            f"{label:<26} {med:>9.2f} {runs:>18}  {ratio:>7.2f}x  {cpu_med:>6.2f} {base_cpu / cpu_med:>9.2f}x  {note}"
        )


if __name__ == "__main__":
    sys.exit(main())
