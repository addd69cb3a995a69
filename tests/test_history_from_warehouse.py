"""`pipewatch history ingest --from-warehouse`: the audit table the dbt package fills, read into history."""

from __future__ import annotations

from pathlib import Path

import duckdb
from click.testing import CliRunner

from pipewatch.cli import main
from pipewatch.history import HistoryStore
from tests.test_macros_audit import audit_row, write_audit


def test_audit_runs_are_recorded_once(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        write_audit(con, [audit_row("run-a", "model.shop.orders"), audit_row("run-b", "model.shop.orders")])
    history = tmp_path / "history.duckdb"
    args = ["history", "ingest", "--from-warehouse", "--duckdb", str(warehouse), "--history", str(history)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "2 run(s) recorded, 0 already present of 2" in first.stdout
    assert HistoryStore(history).invocation_count() == 2
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "0 run(s) recorded, 2 already present" in again.stdout


def test_target_dirs_and_the_warehouse_are_exclusive(tmp_path: Path) -> None:
    for args in (["history", "ingest"], ["history", "ingest", "--from-warehouse", str(tmp_path)]):
        done = CliRunner().invoke(main, args)
        assert done.exit_code == 2 and "--from-warehouse" in done.stderr


def test_a_warehouse_without_the_audit_table_is_an_input_error(tmp_path: Path) -> None:
    warehouse = tmp_path / "empty.duckdb"
    duckdb.connect(str(warehouse)).close()
    done = CliRunner().invoke(
        main,
        [
            "history",
            "ingest",
            "--from-warehouse",
            "--duckdb",
            str(warehouse),
            "--history",
            str(tmp_path / "h"),
        ],
    )
    assert done.exit_code == 2 and "pipewatch_audit" in done.stderr
