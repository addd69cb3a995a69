"""Reading `pipewatch_audit` back into history (pipewatch.history.audit), on tables written here.

The table has the columns the dbt hook writes (macros/macros/audit.sql); the real hook is exercised in
test_macros_dbt.py. These tests are fast: an in-memory DuckDB, no dbt.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipewatch.errors import WarehouseError
from pipewatch.history import HistoryError, HistoryStore
from pipewatch.history.audit import (
    AUDIT_COLUMNS,
    audit_table_ref,
    ingest_from_warehouse,
    runs_from_rows,
)
from pipewatch.warehouse.duckdb import DuckDBWarehouse

_TYPES = {
    "run_started_at": "TIMESTAMP",
    "recorded_at": "TIMESTAMP",
    "started_at": "TIMESTAMP",
    "completed_at": "TIMESTAMP",
    "execution_time": "DOUBLE",
    "rows_affected": "BIGINT",
    "row_count": "BIGINT",
    "failures": "BIGINT",
}
T0 = datetime(2026, 11, 1, 3, 0, 0)


def audit_row(invocation: str, uid: str, status: str = "success", **extra: Any) -> dict[str, Any]:
    """One audit row as the hook writes it."""
    row: dict[str, Any] = dict.fromkeys(AUDIT_COLUMNS)
    row.update(
        invocation_id=invocation,
        project="shop",
        target_name="dev",
        command="build",
        dbt_version="1.11.0",
        adapter_type="duckdb",
        run_started_at=T0,
        recorded_at=T0 + timedelta(seconds=30),
        unique_id=uid,
        resource_type=uid.split(".")[0],
        name=uid.split(".")[-1],
        relation=f'"db"."main"."{uid.split(".")[-1]}"',
        materialized="table",
        status=status,
        execution_time=1.5,
        thread_id="Thread-1",
        started_at=T0 + timedelta(seconds=1),
        completed_at=T0 + timedelta(seconds=2.5),
    )
    row.update(extra)
    return row


def write_audit(
    con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]], table: str = "pipewatch_audit"
) -> None:
    """Create the audit table (if needed) and insert rows."""
    cols = ", ".join(f"{c} {_TYPES.get(c, 'VARCHAR')}" for c in AUDIT_COLUMNS)
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({cols})")
    marks = ", ".join("?" for _ in AUDIT_COLUMNS)
    con.executemany(f"INSERT INTO {table} VALUES ({marks})", [[r[c] for c in AUDIT_COLUMNS] for r in rows])


@pytest.fixture
def store(tmp_path: Path) -> HistoryStore:
    """An empty history store."""
    return HistoryStore(tmp_path / "history.duckdb")


def test_runs_group_by_invocation_oldest_first() -> None:
    """One Run per invocation with its results; the run's times come from the hook's timestamps."""
    later = T0 + timedelta(hours=1)
    rows = [
        audit_row("b", "model.shop.x", run_started_at=later, recorded_at=later + timedelta(seconds=10)),
        audit_row("a", "model.shop.x"),
        audit_row("a", "test.shop.t", status="fail", failures=3, materialized="test", relation=None),
    ]
    runs = runs_from_rows(rows)
    assert [r.invocation_id for r in runs] == ["a", "b"]
    a = runs[0]
    assert a.command == "build" and a.target == "dev" and a.project_name == "shop"
    assert a.generated_at == (T0 + timedelta(seconds=30)).replace(tzinfo=timezone.utc).timestamp()
    assert a.elapsed_time == 30.0
    by_id = a.result_by_id()
    assert by_id["test.shop.t"].status == "fail" and by_id["test.shop.t"].failures == 3
    assert a.nodes["model.shop.x"].relation == "db.main.x"
    assert by_id["model.shop.x"].execute_completed - by_id["model.shop.x"].execute_started == 1.5  # type: ignore[operator]


def test_rows_affected_falls_back_to_the_counted_rows() -> None:
    """The adapter's rows_affected wins; where it has none (DuckDB) the hook's count(*) is used."""
    runs = runs_from_rows(
        [
            audit_row("a", "model.shop.x", rows_affected=7, row_count=9),
            audit_row("a", "model.shop.y", rows_affected=None, row_count=9),
            audit_row("a", "model.shop.z"),
        ]
    )
    got = {r.unique_id: r.adapter_response.rows_affected for r in runs[0].results}
    assert got == {"model.shop.x": 7, "model.shop.y": 9, "model.shop.z": None}


def test_statuses_are_normalized() -> None:
    """`runtime error` and odd case fold the way artifacts do."""
    runs = runs_from_rows([audit_row("a", "model.shop.x", status="Runtime Error")])
    assert runs[0].results[0].status == "error"


def test_ingest_records_each_invocation_once(store: HistoryStore) -> None:
    """Two invocations recorded with source warehouse-audit; the next call adds only a new one."""
    con = duckdb.connect()
    write_audit(con, [audit_row("a", "model.shop.x"), audit_row("a", "model.shop.y", status="error")])
    write_audit(con, [audit_row("b", "model.shop.x", run_started_at=T0 + timedelta(hours=1))])
    wh = DuckDBWarehouse(connection=con)
    first = ingest_from_warehouse(store, wh)
    assert first.invocation_ids == ["a", "b"] and first.already_recorded == 0
    assert [r.node_results for r in first.ingested] == [2, 1]
    assert ingest_from_warehouse(store, wh).ingested == []
    write_audit(con, [audit_row("c", "model.shop.x", run_started_at=T0 + timedelta(hours=2))])
    third = ingest_from_warehouse(store, wh)
    assert third.invocation_ids == ["c"] and third.already_recorded == 2 and third.invocations_found == 3
    with store.connect() as db:
        rows = db.execute("select invocation_id, source, n_error from invocations order by 1").fetchall()
    assert rows == [("a", "warehouse-audit", 1), ("b", "warehouse-audit", 0), ("c", "warehouse-audit", 0)]


def test_ingest_from_a_file_path_and_a_raw_connection(store: HistoryStore, tmp_path: Path) -> None:
    """A DuckDB file path and an open duckdb connection both work, in a schema of their own."""
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA analytics")
    write_audit(con, [audit_row("a", "model.shop.x")], table="analytics.pipewatch_audit")
    assert ingest_from_warehouse(store, con, schema="analytics").invocation_ids == ["a"]
    con.close()
    again = ingest_from_warehouse(store, str(path), table_name="analytics.pipewatch_audit")
    assert again.ingested == [] and again.already_recorded == 1


def test_missing_audit_table_is_an_input_error_saying_what_to_do(store: HistoryStore) -> None:
    """No table: HistoryError (exit 2) naming the hook to add; nothing is written to the store."""
    with pytest.raises(HistoryError, match=r"pipewatch_audit` not found.*pipewatch\.audit\(\)") as info:
        ingest_from_warehouse(store, DuckDBWarehouse())
    assert info.value.exit_code == 2
    assert not store.exists


def test_a_query_failing_otherwise_is_a_warehouse_error(store: HistoryStore) -> None:
    """An audit table without the expected columns: WarehouseError (exit 3)."""
    con = duckdb.connect()
    con.execute("CREATE TABLE pipewatch_audit (invocation_id VARCHAR)")
    con.execute("INSERT INTO pipewatch_audit VALUES ('a')")
    with pytest.raises(WarehouseError) as info:
        ingest_from_warehouse(store, DuckDBWarehouse(connection=con))
    assert info.value.exit_code == 3


def test_unknown_sources_are_refused_clearly(store: HistoryStore) -> None:
    """Neither a warehouse, a path nor a DB-API connection: one clear WarehouseError."""
    with pytest.raises(WarehouseError, match="cannot read the audit table from a int"):
        ingest_from_warehouse(store, 42)

    class Conn:
        def cursor(self) -> None:
            raise AssertionError("never used without a dialect")

    with pytest.raises(WarehouseError, match="pass dialect"):
        ingest_from_warehouse(store, Conn())


def test_table_names_are_validated() -> None:
    """Qualified names split; over-qualified or unreadable ones are input errors."""
    assert audit_table_ref("analytics.pipewatch_audit").parts == ("analytics", "pipewatch_audit")
    assert audit_table_ref(schema="s", database="d").parts == ("d", "s", "pipewatch_audit")
    with pytest.raises(HistoryError, match="already qualified"):
        audit_table_ref("s.t", schema="x")
    with pytest.raises(HistoryError):
        audit_table_ref("a.b.c.d")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["i1", "i2", "i3"]),
            st.sampled_from(["model.p.a", "model.p.b", "test.p.t", "seed.p.s"]),
            st.sampled_from(["success", "error", "fail", "pass", "skipped", "warn"]),
        ),
        max_size=25,
    )
)
def test_grouping_keeps_one_result_per_node_per_invocation(
    items: list[tuple[str, str, str]],
) -> None:
    """Whatever the rows, a run per invocation and one result per node (its last row)."""
    rows = [audit_row(i, u, s) for i, u, s in items]
    runs = runs_from_rows(rows)
    assert {r.invocation_id for r in runs} == {i for i, _, _ in items}
    for run in runs:
        last = {u: s for i, u, s in items if i == run.invocation_id}
        assert {r.unique_id: r.status for r in run.results} == last
