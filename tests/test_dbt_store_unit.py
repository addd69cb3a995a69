"""dbt's `store_failures` and unit tests, the parts that need no dbt: when a test stores (dbt's
`should_store_failures` and `store_failures_as` rules), what the stored relation holds on a real in-memory
DuckDB, and how dbt's unit-test verdicts (run_results) are reported. The comparisons with real `dbt test`
runs, on DuckDB and PostgreSQL, are in test_dbt_conformance.py."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from typing import Any

import msgspec
import pytest

from pipewatch.artifacts.model import Node, NodeResult
from pipewatch.rules.dbt_sql import SqlTest, sql_test
from pipewatch.rules.dbt_store import prepare_stores, store_of
from pipewatch.rules.dbt_tests import dbt_test_rules
from pipewatch.rules.dbt_unit import UnitRun, _verdict, unit_tests
from pipewatch.warehouse.duckdb import DuckDBWarehouse
from tests.factories import make_node, make_result, make_test_info

MODEL = "model.shop.orders"
COMPILED = "select * from orders where amount < 0"
TEST = "test.shop.not_null_orders_amount"


def _node(name: str = "not_null_orders_amount", **config: Any) -> Node:
    info = make_test_info("not_null", attached_node=MODEL, column_name="amount")
    info = msgspec.structs.replace(info, **config)
    return make_node(
        f"test.shop.{name}", resource_type="test", test=info, database="memory", schema="main_dbt_test__audit"
    )


@pytest.mark.parametrize(
    ("config", "flag", "kind"),
    [
        ({}, False, None),
        ({}, True, "table"),
        ({"store_failures": True, "store_failures_as": "table"}, False, "table"),
        ({"store_failures": True, "store_failures_as": "view"}, False, "view"),
        ({"store_failures": False, "store_failures_as": "ephemeral"}, True, None),  # config beats the flag
        ({"store_failures": False}, True, None),
    ],
)
def test_when_dbt_stores_failures(config: dict[str, Any], flag: bool, kind: str | None) -> None:
    store = store_of(_node(**config), flag)
    assert (store.kind if store else None) == kind
    if store is not None:
        assert store.label == "memory.main_dbt_test__audit.not_null_orders_amount"


def test_an_invalid_store_failures_as_is_an_error_naming_dbts_values() -> None:
    test = sql_test(_node(store_failures=True, store_failures_as="parquet"), {}, "why", COMPILED)
    assert test.sql is None and "ephemeral, table and view" in (test.problem or "")


def test_a_storing_test_runs_as_dbt_sql_and_says_why() -> None:
    nodes = {MODEL: make_node(MODEL), TEST: _node(store_failures=True)}
    fused = dbt_test_rules({MODEL: nodes[MODEL], TEST: _node()}, "duckdb")
    assert fused.checks and not fused.sql_tests  # the same test without the config fuses
    imported = dbt_test_rules(nodes, "duckdb", compiled={TEST: COMPILED})
    assert not imported.checks and "store_failures" in imported.sql_tests[0].why
    flagged = dbt_test_rules(
        {MODEL: nodes[MODEL], TEST: _node()},
        "duckdb",
        compiled={TEST: COMPILED},
        store_failures=True,
        read_only="it is read-only",
    )
    test = flagged.sql_tests[0]
    assert test.sql is None and "store its failures in memory.main_dbt_test__audit" in (test.problem or "")


def _stored(wh: DuckDBWarehouse, **config: Any) -> tuple[SqlTest, Any]:
    node = _node(store_failures=True, **config)
    [test] = prepare_stores(wh, [sql_test(node, {MODEL: make_node(MODEL)}, "why", COMPILED)])
    return test, test.run(wh)


def test_stored_failures_hold_the_tests_rows_and_replace_the_previous_relation() -> None:
    with DuckDBWarehouse() as wh:
        wh.execute("create table orders as select i - 3 as amount, i as id from range(10) t(i)")
        wh.execute("create schema main_dbt_test__audit")
        wh.execute("create view main_dbt_test__audit.not_null_orders_amount as select 1 as old")
        _, res = _stored(wh, store_failures_as="table", limit=2)
        assert (res.status, res.failing_rows) == ("fail", 2)
        rows = wh.execute("select amount, id from main_dbt_test__audit.not_null_orders_amount order by id")
        assert len(rows.rows) == 2 and all(r[0] < 0 for r in rows.rows)
        _, res = _stored(wh, store_failures_as="view")
        assert (res.status, res.failing_rows) == ("fail", 3)
        kind = wh.execute(
            "select table_type from information_schema.tables where table_name = 'not_null_orders_amount'"
        )
        assert kind.rows == [("VIEW",)]


def test_a_relation_that_cannot_be_written_is_the_tests_error() -> None:
    with DuckDBWarehouse() as wh:
        wh.execute("create table orders as select 1 as amount")
        _, res = _stored(wh, store_failures_as="table")
        assert res.status == "pass"
        wh.execute("create table not_orders as select 1 as x")
        node = _node(store_failures=True)
        bad = sql_test(node, {MODEL: make_node(MODEL)}, "why", "select * from missing_table")
        res = bad.run(wh)
        assert res.status == "error" and "storing failures in memory.main_dbt_test__audit" in (
            res.message or ""
        )


UNIT = "unit_test.shop.orders.orders_sum"


def _unit_nodes() -> dict[str, Node]:
    return {
        MODEL: make_node(MODEL),
        UNIT: make_node(UNIT, resource_type="unit_test", name="orders_sum", depends_on=(MODEL,)),
    }


def _reported(got: dict[str, Any]) -> NodeResult:
    """The unit test's entry in dbt's run_results.json, as pipewatch's decoder reads it."""
    return make_result(UNIT, got["status"], got.get("message"), failures=got.get("failures"))


@pytest.mark.parametrize(
    ("got", "status", "failures"),
    [
        ({"status": "pass", "failures": 0}, "pass", 0),
        (
            {"status": "fail", "failures": 1, "message": "actual differs from expected:\n@@ ,a\n+ ,1"},
            "fail",
            1,
        ),
        ({"status": "error", "message": "Runtime Error: boom"}, "error", None),
        ({"status": "skipped"}, "error", None),
    ],
)
def test_dbts_unit_test_verdicts(got: dict[str, Any], status: str, failures: int | None) -> None:
    nodes = _unit_nodes()
    res = _verdict(nodes[UNIT], nodes, _reported(got))
    assert (res.status, res.failing_rows, res.engine, res.type) == (status, failures, "dbt_unit", "unit_test")
    assert res.relation == "db.main.orders" and res.model == MODEL


def test_a_long_diff_is_cut() -> None:
    nodes = _unit_nodes()
    diff = "actual differs from expected:\n" + "\n".join(f"+ ,{i}" for i in range(100))
    res = _verdict(nodes[UNIT], nodes, _reported({"status": "fail", "failures": 1, "message": diff}))
    assert (res.message or "").count("\n") < 20 and "more lines" in (res.message or "")


def test_unit_tests_dbt_did_not_report_on_are_errors_with_dbts_message() -> None:
    nodes = _unit_nodes()
    tests = unit_tests(nodes, None)
    assert [t.unique_id for t in tests] == [UNIT] and unit_tests(nodes, set()) == []
    said = "Compilation Error in unit_test orders_sum: no such column"
    process = subprocess.Popen(
        [sys.executable, "-c", f"print({said!r})"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    run = UnitRun(tests, nodes, process=process, tmp=tempfile.TemporaryDirectory())
    res = run.result_for(nodes[UNIT])
    assert res.status == "error" and "no such column" in (res.message or "")
    refused = UnitRun(tests, nodes, problem="no profile").result_for(nodes[UNIT])
    assert (refused.status, refused.message) == ("error", "no profile")


def test_a_run_ended_early_stops_dbt_and_leaves_nothing_behind() -> None:
    nodes = _unit_nodes()
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], text=True)
    tmp = tempfile.TemporaryDirectory()
    run = UnitRun(unit_tests(nodes, None), nodes, process=process, tmp=tmp)
    run.close()
    assert process.poll() is not None and not os.path.exists(tmp.name)


def test_a_failed_unit_test_shows_dbts_diff_and_fails_the_gate_in_words() -> None:
    from pipewatch.outputs.text import render_quality_text
    from pipewatch.rules.results import QualityReport, TableResult
    from pipewatch.rules.scoring import gate

    nodes = _unit_nodes()
    diff = "actual differs from expected:\n@@,kind,n\n→ ,a,2→1"
    failed = _verdict(nodes[UNIT], nodes, _reported({"status": "fail", "failures": 1, "message": diff}))
    report = QualityReport(tables=[TableResult("db.main.orders", [failed], MODEL)])
    passed, reasons = gate(report)
    assert not passed and reasons == [f"{UNIT}: actual differs from expected"]
    text = render_quality_text(report, passed=passed, reasons=reasons)
    assert "0 fused, 0 as dbt SQL, 1 unit test\n" in text
    assert "actual differs from expected" in text and "→ ,a,2→1" in text
