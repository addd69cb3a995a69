"""The 12 checks of bench_checks.py on local Spark (issue 14): pipewatch fused vs one query per check vs
`dbt test`, each as the whole process a user runs (interpreter, JVM start and Hive metastore included).

Data: bench_checks.py's generated `orders` (1M rows by default, planted violations of every kind, every
count known in advance) and `customers`, loaded once from its Parquet copy into Parquet tables of a
Spark warehouse under $PIPEWATCH_BENCH_CACHE/checks/spark (embedded Derby metastore; the contenders run
one after another, never at once). Spark runs `local[2]` in the client's own process, as dbt-spark's
`session` method does:

- pipewatch: `pipewatch check --samples 0` through the dbt profile (dbt-spark session), the checks
  fused per table in sqlglot's `spark` dialect;
- one query per check: benchmarks/checks/per_check.sql transpiled to Spark SQL by sqlglot, 12 queries
  in one pyspark process (the way a hand-rolled job runs them);
- `dbt test`: benchmarks/checks/dbt_project on the same profile (dbt's built-in tests and the project's
  generic tests), threads 1.

Printed: median wall time per contender and the ratio to pipewatch, the column reads per table of each
plan (how many times each column is scanned), and whether each reports the planted counts. Usage:

    .venv/bin/python benchmarks/bench_spark.py [--runs 3] [--rows 1000000] [--customers 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "checks"))

import bench_checks as bc  # noqa: E402  (the 12 checks, their data and planted counts live there)

VENV_BIN = Path(sys.executable).parent
LOG4J = HERE.parent / "dbt_example_project" / "spark" / "log4j2.properties"
PROFILE = "pipewatch_bench"


def spark_conf(folder: Path) -> dict[str, str]:
    """The session's configuration: metastore and warehouse in `folder`, tables in database `main`."""
    return {
        "spark.master": "local[2]",
        "spark.sql.warehouse.dir": str(folder / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={folder / 'metastore_db'};create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={folder} -Dlog4j2.configurationFile=file:{LOG4J}",
        # unqualified names (`orders`, as rules.yml and per_check.sql write them) resolve in `main`, the
        # schema the dbt project's sources name
        "spark.sql.catalog.spark_catalog.defaultDatabase": "main",
        "spark.sql.shuffle.partitions": "4",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": "3g",
    }


def write_profile(folder: Path) -> None:
    """profiles.yml for dbt and pipewatch: dbt-spark's session method with `spark_conf`."""
    output = {"type": "spark", "method": "session", "host": "localhost", "schema": "main", "threads": 1}
    output["server_side_parameters"] = spark_conf(folder)
    profile = {PROFILE: {"target": "spark", "outputs": {"spark": output}}}
    (folder / "profiles.yml").write_text(yaml.safe_dump(profile), encoding="utf-8")


def session(folder: Path, in_main: bool = True) -> Any:
    """A SparkSession with the benchmark's configuration (in this process); `in_main=False` before the
    database `main` exists."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.enableHiveSupport()
    for key, value in spark_conf(folder).items():
        if in_main or not key.endswith("defaultDatabase"):
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("OFF")
    return spark


def ensure_tables(rows: int, customers: int) -> Path:
    """Load bench_checks' Parquet files into Spark tables once per size; the folder holding them."""
    data = bc.ensure_data(rows, customers)
    folder = bc.CACHE / "spark" / f"{rows}_{customers}_v{bc.DATA_VERSION}"
    folder.mkdir(parents=True, exist_ok=True)
    write_profile(folder)
    if (folder / "complete").exists():
        return folder
    print(f"loading into Spark tables in {folder} ...", flush=True)
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--load",
            str(folder),
            str(data.orders_parquet),
            str(data.customers_parquet),
        ],
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit("loading the tables into Spark failed")
    (folder / "complete").write_text("ok", encoding="utf-8")
    print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
    return folder


def load(folder: Path, orders: str, customers: str) -> None:
    """(worker) Create main.orders and main.customers from the Parquet files."""
    spark = session(folder, in_main=False)
    spark.sql("CREATE DATABASE IF NOT EXISTS main")
    for table, path in (("orders", orders), ("customers", customers)):
        spark.sql(f"DROP TABLE IF EXISTS main.{table}")
        spark.read.parquet(path).write.format("parquet").saveAsTable(f"main.{table}")


def per_check(folder: Path) -> None:
    """(worker) The 12 plain queries, transpiled to Spark SQL, one after another; prints their counts."""
    import sqlglot
    from run_sql import queries

    spark = session(folder)
    counts: dict[str, int] = {}
    for _, sql in queries((bc.CHECKS / "per_check.sql").read_text(encoding="utf-8")):
        row = spark.sql(sqlglot.transpile(sql, read="duckdb", write="spark")[0]).collect()[0]
        counts.update({k: int(v) for k, v in row.asDict().items()})
    print(json.dumps({"counts": counts}))


# --- contenders ----------------------------------------------------------------------------------------


def contenders(folder: Path) -> dict[str, tuple[list[str], Any]]:
    """Name -> (argv, parser of its stdout into {check: count})."""
    pipewatch = [
        str(VENV_BIN / "pipewatch"), "check", "--rules", str(bc.CHECKS / "rules.yml"),
        "--profiles-dir", str(folder), "--profile", PROFILE, "--project-dir", str(folder),
        "--samples", "0", "--format", "json", "--no-history",
    ]  # fmt: skip
    project = bc.CHECKS / "dbt_project"
    target = folder / "dbt_target"
    dbt = [
        str(VENV_BIN / "dbt"), "--no-use-colors", "test", "--project-dir", str(project),
        "--profiles-dir", str(folder), "--target-path", str(target), "--log-path", str(folder / "dbt_logs"),
        "--threads", "1",
    ]  # fmt: skip

    def parse_pipewatch(stdout: str) -> dict[str, int | None]:
        quality = json.loads(stdout)["quality"]
        out: dict[str, int | None] = {}
        for check in (c for t in quality["tables"] for c in t["checks"]):
            if check["type"] in ("row_count", "freshness"):
                out[check["name"]] = 0 if check["status"] == "pass" else 1
            else:
                out[check["name"]] = check["failing_rows"]
        return out

    def parse_per_check(stdout: str) -> dict[str, int | None]:
        return dict(json.loads(stdout.strip().splitlines()[-1])["counts"])

    def parse_dbt(_stdout: str) -> dict[str, int | None]:
        results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))["results"]
        return {r["unique_id"].split(".")[2]: r.get("failures") for r in results}

    return {
        "pipewatch (fused)": (pipewatch, parse_pipewatch),
        "one query per check": ([sys.executable, __file__, "--per-check", str(folder)], parse_per_check),
        "dbt test": (dbt, parse_dbt),
    }


def scans(folder: Path) -> dict[str, dict[str, Counter[str]]]:
    """Per contender, how many times each column of each table is read."""
    from pipewatch.rules import load_rules, plan

    pw = plan(load_rules(bc.CHECKS / "rules.yml"), "spark", samples=0)
    per = bc.scans_of_sql(bc.sql_queries(bc.CHECKS / "per_check.sql"))
    compiled = sorted((folder / "dbt_target" / "compiled").rglob("*.sql"))
    dbt_sql = [p.read_text(encoding="utf-8") for p in compiled]
    dbt = scans_of_spark_sql(dbt_sql) if dbt_sql else {}
    counts = {t: Counter(cols) for t, cols in pw.scan_counts().items()}
    return {"pipewatch (fused)": counts, "one query per check": per, "dbt test": dbt}


def scans_of_spark_sql(texts: list[str]) -> dict[str, Counter[str]]:
    """bench_checks.scans_of_sql for Spark SQL (dbt's compiled tests), table names without their schema."""
    import sqlglot

    parsed = []
    for text in texts:
        try:
            parsed.append(sqlglot.transpile(text, read="spark", write="duckdb")[0])
        except sqlglot.errors.ParseError:
            print(f"  (a compiled dbt test sqlglot cannot parse is left out: {text[:60]!r})")
    return bc.scans_of_sql(parsed)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its tables."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--load":
        load(Path(args[1]), args[2], args[3])
        return 0
    if args and args[0] == "--per-check":
        per_check(Path(args[1]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    opts = parser.parse_args(args)
    folder = ensure_tables(opts.rows, opts.customers)
    env = dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="false", DO_NOT_TRACK="1")
    runs = contenders(folder)
    times: dict[str, list[float]] = {name: [] for name in runs}
    counts: dict[str, dict[str, int | None]] = {}
    problems: dict[str, str] = {}
    for _ in range(opts.runs):  # interleaved, so a busy spell hits every contender alike
        for name, (cmd, parse) in runs.items():
            started = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=folder, check=False)
            times[name].append(time.perf_counter() - started)
            if done.returncode not in (0, 1):
                problems[name] = (done.stderr or done.stdout).strip().splitlines()[-1:][0][:200]
                continue
            try:
                counts[name] = parse(done.stdout)
            except (ValueError, KeyError, OSError, IndexError) as exc:
                problems[name] = f"unreadable output: {exc}"
    print(
        f"\n12 checks on {opts.rows:,} orders / {opts.customers:,} customers, Spark local[2], {opts.runs} runs"
    )
    print("(whole processes: interpreter, JVM, metastore; the machine was shared with other jobs)")
    base = statistics.median(times["pipewatch (fused)"])
    print(f"  {'contender':<22}{'median s':>10}{'x pipewatch':>13}  counts")
    expected = bc.planted(opts.rows)
    for name, spent in times.items():
        got = counts.get(name, {})
        agree = "error: " + problems[name] if name in problems else (
            "all planted" if all(got.get(k) == v for k, v in expected.items()) else
            "differ: " + ", ".join(f"{k}={got.get(k)} (planted {v})" for k, v in expected.items() if got.get(k) != v)
        )  # fmt: skip
        med = statistics.median(spent)
        print(f"  {name:<22}{med:>10.1f}{med / base:>13.2f}  {agree}")
    reads = scans(folder)
    print("\nColumn reads per table (times each column is scanned)")
    names = list(reads)
    print(f"  {'table.column':<26}" + "".join(f"{n:>22}" for n in names))
    keys = sorted({(t, c) for r in reads.values() for t, cols in r.items() for c in cols})
    for table, col in keys:
        row = "".join(f"{reads[n].get(table, Counter())[col]:>22}" for n in names)
        print(f"  {table + '.' + col:<26}{row}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
