"""store_failures and unit tests on Spark (dbt-spark `session`, local[2]), `dbt test` against
`pipewatch check --dbt-tests`.

A tiny project (one model, tests that store their failures as a table, as a view in a custom audit
schema, and one that passes; two unit tests) is built once by `dbt build`. Then a pyspark reader (the
engine's own client: neither dbt nor pipewatch) records what dbt stored and puts the other kind of
relation, holding other rows, at each audit name, so pipewatch must find it the way dbt-spark does
(`show table extended`), drop it as what it is and create its own: afterwards each audit relation is of
dbt's kind and format and holds dbt's rows, and each test's status and count are dbt's. Every Spark
process runs after the previous one ended: the embedded Derby metastore admits one JVM at a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import dbt_executable, pipewatch_executable
from tests.spark_cluster import require_spark, session_output

pytestmark = [pytest.mark.spark, pytest.mark.dbt]

MODEL = """\
select 1 as n, 'a' as kind union all
select 2 as n, 'b' as kind union all
select 3 as n, 'c' as kind union all
select 3 as n, 'c' as kind
"""
# The unit tests' models read a model of their own, one model per unit test: `dbt build` skips what
# depends on a failed test, the other unit tests of the same model included.
LETTERS = "select 'a' as kind union all select 'b' as kind\n"
COUNTS = "select kind, count(*) as n from {{ ref('letters') }} group by kind\n"
SCHEMA = """\
version: 2
models:
  - name: kinds
    columns:
      - name: n
        data_tests:
          - unique:
              name: pw_store_table
              config: {store_failures: true}
          - not_null:
              name: pw_store_passing
              config: {store_failures: true}
      - name: kind
        data_tests:
          - accepted_values:
              name: pw_store_view
              arguments: {values: [a]}
              config: {store_failures_as: view, schema: pw_audit}
unit_tests:
  - name: pw_unit_passes
    model: kind_counts
    given:
      - input: ref('letters')
        rows: [{kind: a}, {kind: a}]
    expect:
      rows: [{kind: a, n: 2}]
  - name: pw_unit_fails
    model: kind_totals
    given:
      - input: ref('letters')
        rows: [{kind: a}]
    expect:
      rows: [{kind: a, n: 3}]
"""
STORES = ("pw_store_table", "pw_store_passing", "pw_store_view")
UNITS = ("pw_unit_passes", "pw_unit_fails")

# The audit reader: a SparkSession as dbt-spark's session method builds it (Hive support, the profile's
# server_side_parameters). argv: the parameters, {uid: [schema, name]}, then `swap` to put the other kind
# of relation (with other rows) at each name after reading it.
READER = """\
import json, sys
from pyspark.sql import SparkSession
params, relations, swap = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3] == "swap"
builder = SparkSession.builder.enableHiveSupport()
for key, value in params.items():
    builder = builder.config(key, value)
spark = builder.getOrCreate()
out = {}
for uid, (schema, name) in sorted(relations.items()):
    found = spark.sql(f"show table extended in {schema} like '{name}'").collect()
    if not found:
        out[uid] = None
        continue
    info = found[0]["information"]
    kind = "view" if "Type: VIEW" in info else "table"
    provider = next((l.split(": ", 1)[1] for l in info.splitlines() if l.startswith("Provider: ")), None)
    frame = spark.sql(f"select * from {schema}.{name}")
    rows = sorted(json.dumps([str(v) for v in r]) for r in frame.collect())
    out[uid] = {"kind": kind, "provider": provider, "columns": frame.columns, "rows": rows}
    if swap:
        spark.sql(f"drop {kind} {schema}.{name}")
        other = "table" if kind == "view" else "view"
        spark.sql(f"create {other} {schema}.{name} as select 'not dbt' as planted")
spark.stop()
print(json.dumps(out))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=cwd, env=_env(), check=False)


def _read_audit(project: Path, params: dict[str, str], relations: dict[str, Any], action: str) -> Any:
    done = _run([sys.executable, "-c", READER, json.dumps(params), json.dumps(relations), action], project)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _by_name(results: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    return {
        uid.split(".")[-1] if uid.startswith("unit_test.") else uid.split(".")[2]: v
        for uid, v in results.items()
    }


@pytest.fixture(scope="module")
def spark_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The project built and tested by dbt, its audit relations swapped, then checked by pipewatch."""
    require_spark()
    project = tmp_path_factory.mktemp("spark_store")
    output = session_output(project, schema="pw")
    params = dict(output["server_side_parameters"])  # type: ignore[call-overload]
    (project / "dbt_project.yml").write_text(
        "name: pw_spark_store\nversion: '1.0'\nconfig-version: 2\nprofile: pw_spark_store\n"
    )
    profile = {"pw_spark_store": {"target": "spark", "outputs": {"spark": output}}}
    (project / "profiles.yml").write_text(yaml.safe_dump(profile))
    (project / "models").mkdir()
    (project / "models" / "kinds.sql").write_text(MODEL)
    (project / "models" / "letters.sql").write_text(LETTERS)
    (project / "models" / "kind_counts.sql").write_text(COUNTS)
    (project / "models" / "kind_totals.sql").write_text(COUNTS)
    (project / "models" / "schema.yml").write_text(SCHEMA)
    built = _run(
        [
            dbt_executable(),
            "--no-use-colors",
            "build",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
        ],
        project,
    )
    assert built.returncode == 1, built.stdout[-3000:] + built.stderr  # pw_unit_fails fails
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    dbts = {
        r["unique_id"]: (r["status"], r["failures"])
        for r in json.loads((project / "target" / "run_results.json").read_text())["results"]
        if r["unique_id"].startswith(("test.", "unit_test."))
    }
    relations = {
        uid: [n["schema"], n["alias"]]
        for uid, n in manifest["nodes"].items()
        if n["resource_type"] == "test" and n["name"] in STORES
    }
    stored_by_dbt = _read_audit(project, params, relations, "swap")
    # One run of everything: the unit tests' `dbt test` process is done before pipewatch's own
    # SparkSession boots the embedded Derby metastore, which admits one process at a time.
    checks, quality = _check(project)
    return {
        "dbt": dbts,
        "pipewatch": {uid: (c["status"], c["failing_rows"]) for uid, c in checks.items() if uid in dbts},
        "messages": {uid: c.get("message") for uid, c in checks.items()},
        "engines": quality["engines"],
        "stored_by_dbt": stored_by_dbt,
        "stored_by_pipewatch": _read_audit(project, params, relations, "read"),
        "manifest_databases": {n["database"] for n in manifest["nodes"].values() if n["name"] in STORES},
    }


def _check(project: Path, *select: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """`pipewatch check --dbt-tests` on the project: its checks by id, and its quality summary."""
    done = _run(
        [
            pipewatch_executable(), "check", "--dbt-tests", "--no-history", "--format", "json",
            "--project-dir", str(project), "--profiles-dir", str(project), *select,
        ],
        project,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]  # each part has a failure
    quality = json.loads(done.stdout)["quality"]
    return {c["id"]: c for t in quality["tables"] for c in t["checks"]}, quality


def test_store_failures_status_and_count_are_dbts(spark_store: dict[str, Any]) -> None:
    """Each storing test's status and count on Spark are those `dbt test` gave, run as dbt SQL."""
    dbt, ours = _by_name(spark_store["dbt"]), _by_name(spark_store["pipewatch"])
    assert {n: dbt[n] for n in STORES} == {
        "pw_store_table": ("fail", 1),
        "pw_store_passing": ("pass", 0),
        "pw_store_view": ("fail", 2),
    }
    assert {n: ours[n] for n in STORES} == {n: dbt[n] for n in STORES}, spark_store["messages"]
    assert spark_store["engines"] == {"fused": 0, "dbt_sql": 3, "dbt_unit": 2}


def test_audit_relations_hold_dbts_rows_as_dbts_kind(spark_store: dict[str, Any]) -> None:
    """pipewatch found the planted relation of the other kind at each audit name (dbt-spark's `show table
    extended`), dropped it and created dbt's: the same kind, file format, columns and rows."""
    by_dbt, by_us = spark_store["stored_by_dbt"], spark_store["stored_by_pipewatch"]
    assert sorted(v["kind"] for v in by_dbt.values()) == ["table", "table", "view"]
    assert by_us == by_dbt
    assert spark_store["manifest_databases"] == {None}  # dbt-spark names relations schema.identifier


def test_unit_tests_run_through_dbt_on_spark(spark_store: dict[str, Any]) -> None:
    """The project's unit tests, judged by a `dbt test` process of pipewatch's, get dbt's verdicts in
    the same run as the other tests: dbt is done before pipewatch opens its own SparkSession (a Spark
    `session` admits one process to its embedded metastore at a time)."""
    dbt, ours = _by_name(spark_store["dbt"]), _by_name(spark_store["pipewatch"])
    assert {n: dbt[n] for n in UNITS} == {"pw_unit_passes": ("pass", 0), "pw_unit_fails": ("fail", 1)}
    assert {n: ours[n] for n in UNITS} == {n: dbt[n] for n in UNITS}, spark_store["messages"]
