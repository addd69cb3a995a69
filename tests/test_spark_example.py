"""The example project on Spark (dbt-spark `session`, local[2]), end to end: the same models build, the
planted failures fail the same way as on DuckDB, `pipewatch check` (rules and --dbt-tests, fused, pushed
down through the dbt adapter in sqlglot's `spark` dialect) counts exactly what DuckDB counts, the terminal
view shows Spark's real error line, and stderr carries no Spark stack traces. One build per module; every
Spark process (dbt, pipewatch) runs one after the other, since the embedded Derby metastore admits one
JVM at a time. The last test runs the checks on a standalone cluster (master + 2 worker JVMs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, BuiltProject, build_example
from tests.spark_cluster import require_spark, start, stop

pytestmark = [pytest.mark.spark, pytest.mark.dbt]

CHECK = "from pipewatch.commands.check import check_command; check_command(prog_name='pipewatch check')"
AFTER_RUN = "from pipewatch.cli import main; main(prog_name='pipewatch')"


@pytest.fixture(scope="module")
def spark_build(tmp_path_factory: pytest.TempPathFactory) -> BuiltProject:
    """The example project seeded, freshness-checked and built on Spark with its planted faults."""
    require_spark()
    return build_example(tmp_path_factory.mktemp("spark"), "--target", "spark")


def pipewatch(
    project: Path, code: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """pipewatch in a fresh interpreter (its own JVM when it reaches Spark), as a user runs it."""
    cmd = [sys.executable, "-c", code, *args]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=project,
        env=env or dict(os.environ),
    )


def checks_of(
    project: Path, *args: str, env: dict[str, str] | None = None, database: str = "pipewatch_example"
) -> tuple[dict[str, Any], str]:
    """`pipewatch check --format json` on the project: checks by engine-neutral id, and stderr."""
    done = pipewatch(
        project, CHECK, "--project-dir", str(project), "--rules", str(REPO / "rules"),
        "--format", "json", "--no-history", "--samples", "0", *args, env=env,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr[-3000:]
    quality = json.loads(done.stdout)["quality"]
    # DuckDB and PostgreSQL name relations database.schema.table, Spark schema.table: compare without
    # the database.
    neutral = {c["id"].replace(f"{database}.", ""): c for t in quality["tables"] for c in t["checks"]}
    return {"dialect": quality["dialect"], "checks": neutral}, done.stderr


#: The inventory replay covers 17 months on DuckDB and 5 elsewhere (dbt_example_project/macros/portable.sql):
#: its tables' row counts differ by design, their checks' statuses and failing counts do not.
REPLAYED = ("inventory_snapshots", "inventory_forecast")


def counts(checks: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """What must be equal across engines: status, failing and total rows."""
    return {
        k: (c["status"], c["failing_rows"], None if any(r in k for r in REPLAYED) else c["total_rows"])
        for k, c in checks.items()
    }


@pytest.fixture(scope="module")
def spark_checks(spark_build: BuiltProject) -> tuple[dict[str, Any], str]:
    """rules/ and the project's dbt tests pushed into Spark (local[2]), once for the module."""
    return checks_of(spark_build.project_dir, "--target", "spark", "--dbt-tests")


def test_the_same_models_build_and_fail_the_same_way(
    spark_build: BuiltProject, faulty_build: BuiltProject
) -> None:
    """Every node's status on Spark is its status on DuckDB: 1 error, 1 failed test, 1 warning, 23 skips."""
    assert spark_build.build_exit == faulty_build.build_exit == 1
    assert spark_build.freshness_exit == faulty_build.freshness_exit == 1

    def statuses(built: BuiltProject) -> dict[str, str]:
        return {r["unique_id"]: r["status"] for r in built.artifact("run_results.json")["results"]}

    assert statuses(spark_build) == statuses(faulty_build)
    assert spark_build.artifact("run_results.json")["metadata"]["dbt_version"]
    assert spark_build.artifact("manifest.json")["metadata"]["adapter_type"] == "spark"
    sources = {r["unique_id"]: r["status"] for r in spark_build.artifact("sources.json")["results"]}
    duck = {r["unique_id"]: r["status"] for r in faulty_build.artifact("sources.json")["results"]}
    assert sources == duck


def test_checks_count_exactly_what_duckdb_counts(
    spark_checks: tuple[dict[str, Any], str], faulty_build: BuiltProject
) -> None:
    """rules/ and the project's dbt tests, fused per table, pushed into Spark: every check's status and
    counts equal DuckDB's on the same data; no Spark stack trace or JSON log record reaches stderr."""
    spark, spark_err = spark_checks
    duck, _ = checks_of(faulty_build.project_dir, "--dbt-tests")
    assert spark["dialect"] == "spark" and duck["dialect"] == "duckdb"
    assert counts(spark["checks"]) == counts(duck["checks"])
    assert len(spark["checks"]) > 80
    # the checks that could not run are those on the tables the planted error kept from being built;
    # each says so in Spark's own first line
    erred = [c for c in spark["checks"].values() if c["status"] == "error"]
    assert erred and all(c["message"].startswith("[TABLE_OR_VIEW_NOT_FOUND]") for c in erred)
    assert "SQLQueryContextLogger" not in spark_err
    assert "\tat org.apache.spark" not in spark_err
    assert len(spark_err) < 2000, spark_err[-2000:]


def test_after_run_shows_sparks_real_line(spark_build: BuiltProject) -> None:
    """The terminal view names the Spark error condition and classifies it as a data error; the JSON
    view keeps the whole message."""
    project = spark_build.project_dir
    text = pipewatch(
        project, AFTER_RUN, "after-run", "--project-dir", str(project), "--no-history", "--no-rules"
    )
    assert text.returncode == 1, text.stderr
    assert "[INVALID_FORMAT.MISMATCH_INPUT]" in text.stdout
    assert "Runtime Error\n" not in text.stdout
    done = pipewatch(
        project, AFTER_RUN, "after-run", "--project-dir", str(project), "--no-history", "--no-rules",
        "--format", "json",
    )  # fmt: skip
    failures = {f["unique_id"]: f for f in json.loads(done.stdout)["failures"]}
    payments = failures["model.shop.stg_payments"]
    assert payments["category"] == "data"
    assert "SQLSTATE" in payments["message"]


def test_checks_on_a_standalone_cluster(
    spark_build: BuiltProject, spark_checks: tuple[dict[str, Any], str], tmp_path: Path
) -> None:
    """The rules with spark.master pointing at a master and two worker JVMs on 127.0.0.1: executors in
    other processes run the fused SQL, and the counts are those of local[2]."""
    # each worker offers the 1g an executor of the example's spark target asks for
    cluster = start(tmp_path / "cluster", workers=2, cores=1, memory="1g")
    try:
        env = dict(os.environ, PIPEWATCH_SPARK_MASTER=cluster.master_url)
        on_cluster, _ = checks_of(spark_build.project_dir, "--target", "spark", env=env)
        app_dirs = list((tmp_path / "cluster" / "work").glob("worker*/app-*"))
    finally:
        stop(cluster)
    local = counts(spark_checks[0]["checks"])
    assert len(on_cluster["checks"]) > 30
    assert counts(on_cluster["checks"]) == {k: local[k] for k in on_cluster["checks"]}
    assert app_dirs, "no executor ran on the cluster's workers"
