"""The native DuckDB warehouse: files, DataFrames, Parquet, and how failures surface (exit code 3)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
from sqlglot import exp

from pipewatch.errors import EXIT_WAREHOUSE, WarehouseError
from pipewatch.rules import parse_rules, run_checks
from pipewatch.warehouse import QueryError, QueryResult, Warehouse
from pipewatch.warehouse.duckdb import DuckDBWarehouse


def test_in_memory_with_frames_and_sqlglot_trees() -> None:
    with DuckDBWarehouse() as wh:
        assert isinstance(wh, Warehouse) and wh.dialect == "duckdb"
        wh.register("my frame", pd.DataFrame({"a": [1, 2, None]}))
        got = wh.execute(exp.select(exp.Count(this=exp.column("a"))).from_(exp.to_table('"my frame"')))
        assert got == QueryResult(columns=["count(a)"], rows=[(2,)])
        assert wh.execute("select 1 as x, 'y' as y").rows == [(1, "y")]


def test_database_file_is_opened_read_only(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table t as select 1 as a")
    con.close()
    with DuckDBWarehouse(path) as wh:
        assert wh.execute("select * from t").rows == [(1,)]
        with pytest.raises(QueryError, match="read-only"):
            wh.execute("create table u (a int)")
    with DuckDBWarehouse(path, read_only=False) as wh:
        wh.execute("create table u (a int)")


def test_missing_database_file_is_a_warehouse_error(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="not found") as info:
        DuckDBWarehouse(tmp_path / "nope.duckdb")
    assert info.value.exit_code == EXIT_WAREHOUSE == 3


def test_query_errors_carry_the_database_message() -> None:
    with DuckDBWarehouse() as wh:
        with pytest.raises(QueryError) as info:
            wh.execute("select * from no_such_table")
        assert "no_such_table" in info.value.message
        assert "\n" not in info.value.message
        assert info.value.sql == "select * from no_such_table"
        assert info.value.exit_code == 3  # a QueryError that escapes is still a warehouse failure


def test_lost_connection_stops_the_run_with_exit_3() -> None:
    con = duckdb.connect()
    con.execute("create table t as select 1 as a")
    wh = DuckDBWarehouse(connection=con)
    con.close()
    rules = parse_rules("version: 1\ntables:\n  - relation: t\n    checks: [{not_null: a}]\n")
    with pytest.raises(WarehouseError) as info:
        run_checks(rules, wh)
    assert not isinstance(info.value, QueryError)
    assert "connection" in str(info.value).lower()


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "it's data.parquet"
    quoted = str(path).replace("'", "''")
    duckdb.connect().execute(
        f"COPY (SELECT * FROM (VALUES (1), (1), (2)) v(id)) TO '{quoted}' (FORMAT parquet)"
    )
    with DuckDBWarehouse() as wh:
        wh.register_parquet("events", path)
        rules = parse_rules("version: 1\ntables:\n  - relation: events\n    checks: [{unique: id}]\n")
        (res,) = run_checks(rules, wh).checks
        assert (res.failing_rows, res.affected_rows) == (1, 2)
        with pytest.raises(WarehouseError, match="cannot read Parquet"):
            wh.register_parquet("nothing", tmp_path / "missing.parquet")
