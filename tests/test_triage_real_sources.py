"""Classification of messages produced by the real thing: DuckDB itself, dbt's own exception classes,
and the non-success results of the shared artifact corpus (real run_results from public projects)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import pytest
from dbt.exceptions import EnvVarMissingError
from dbt_common.exceptions import CompilationError, DbtDatabaseError, DbtRuntimeError

from pipewatch.artifacts.model import NodeResult
from pipewatch.triage import classify, classify_result
from tests.factories import make_result

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "artifact-corpus"


def duckdb_error(sql: str, setup: str = "", config: dict[str, Any] | None = None) -> str:
    con = duckdb.connect(config=config or {})
    try:
        if setup:
            con.execute(setup)
        con.execute(sql).fetchall()
    except duckdb.Error as exc:
        return str(exc)
    finally:
        con.close()
    raise AssertionError(f"expected {sql!r} to fail")


@pytest.mark.parametrize(
    ("sql", "setup", "category"),
    [
        ("select * from no_such_table", "", "code"),
        ("select nope from (select 1 as a)", "", "code"),
        ("selec 1", "", "code"),
        ("select no_such_function(1)", "", "code"),
        ("select 'abc'::integer", "", "data"),
        ("select cast(300 as tinyint)", "", "data"),
        ("select 1 // 0", "", "data"),
        ("insert into t values (1), (1)", "create table t (i integer primary key)", "data"),
        ("insert into n values (null)", "create table n (i integer not null)", "data"),
    ],
)
def test_real_duckdb_errors(sql: str, setup: str, category: str) -> None:
    message = duckdb_error(sql, setup)
    verdict = classify(message, "duckdb")
    assert verdict.category == category, (message, verdict.evidence)


def test_real_duckdb_out_of_memory_is_resource() -> None:
    message = duckdb_error(
        "select list(range) from range(50000000)", config={"memory_limit": "20MB", "threads": "1"}
    )
    assert "Out of Memory" in message
    assert classify(message, "duckdb").category == "resource"


def test_real_duckdb_file_lock_conflict_is_transient(tmp_path: Path) -> None:
    path = tmp_path / "locked.duckdb"
    holder = duckdb.connect(str(path))
    try:
        probe = subprocess.run(
            [sys.executable, "-c", f"import duckdb; duckdb.connect({str(path)!r})"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        holder.close()
    assert probe.returncode != 0
    message = probe.stderr.strip().splitlines()[-1]
    assert "Could not set lock" in message
    verdict = classify(message, "duckdb")
    assert (verdict.category, verdict.action, verdict.retryable) == ("transient", "retry", True)


NODE = SimpleNamespace(resource_type="model", name="orders", original_file_path="models/orders.sql")


def test_messages_formatted_by_dbts_own_exception_classes() -> None:
    database = DbtDatabaseError('relation "raw.orders" does not exist\nLINE 1: select * from raw.orders')
    database.add_node(NODE)
    compilation = CompilationError(
        "'dbt_utils' is undefined. This can happen when calling a macro.", node=NODE
    )
    runtime = DbtRuntimeError("Database Error\n  could not open relation with OID 6134794")
    env = EnvVarMissingError("DBT_PASSWORD")
    assert str(database).startswith("Database Error in model orders (models/orders.sql)")
    assert classify(str(database), "postgres").category == "code"
    assert classify(str(compilation), "postgres").category == "code"
    assert classify(str(runtime), "redshift").category == "transient"
    assert classify(str(env)).category == "code"


# --- the shared artifact corpus -----------------------------------------------------------------------

EXPECTED = {
    "model.dbt_bigquery_test.test_second_parallel_dbt_model": "code",
    "model.dbt_bigquery_test.test_third_dbt_model": "dependency",
    "model.dbtlearn.fct_reviews": "code",
    "model.dbtlearn.mart_fullmoon_reviews": "dependency",
    "model.dbt_training.sample1": "code",
    "model.jaffle_shop_dbtvault.customer_order_rank": "code",
    "model.jaffle_shop_dbtvault.order_dynamics": "code",
    "model.jaffle_shop.test_insert_overwrite": "code",
    "model.my_new_project.product_raw": "code",
    "model.my_new_project.product_transformed": "dependency",
}
OK = {"success", "pass"}


def corpus_results() -> list[tuple[str, str | None, dict[str, Any]]]:
    if not CORPUS.is_dir():
        pytest.skip("shared artifact corpus not present")
    found = []
    for path in sorted((CORPUS / "run_results").glob("*/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        adapter = next(
            (a for a in ("bigquery", "snowflake", "postgres", "duckdb", "spark") if a in path.name), None
        )
        for entry in data.get("results") or []:
            if str(entry.get("status", "")).lower() not in OK:
                found.append((path.name, adapter, entry))
    return found


def as_result(entry: dict[str, Any]) -> NodeResult:
    return make_result(
        entry["unique_id"],
        str(entry["status"]).lower(),
        message=entry.get("message"),
        failures=entry.get("failures"),
        execution_time=float(entry.get("execution_time") or 0.0),
        thread_id=entry.get("thread_id"),
    )


def test_every_non_success_result_in_the_corpus_gets_a_known_category() -> None:
    results = corpus_results()
    assert results
    seen: dict[str, str] = {}
    for name, adapter, entry in results:
        verdict = classify_result(as_result(entry), adapter=adapter)
        assert verdict is not None, (name, entry["unique_id"])
        assert verdict.category != "unknown", (name, entry["unique_id"], entry.get("message"))
        if entry["status"] == "fail":
            assert verdict.category == "quality"
        seen[entry["unique_id"]] = verdict.category
    for unique_id, category in EXPECTED.items():
        assert seen.get(unique_id) == category, unique_id
