"""Native DuckDB warehouse: a database file, or an in-memory database with DataFrames/Parquet registered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from pipewatch.errors import WarehouseError
from pipewatch.warehouse.base import QueryError, QueryResult, render


class DuckDBWarehouse:
    """A DuckDB connection held for the whole check run.

    `DuckDBWarehouse("warehouse.duckdb")` opens a database file (read-only by default: checks only read,
    and a read-only handle does not lock out other readers); `DuckDBWarehouse()` is an in-memory database
    to which `register` adds pandas DataFrames and `register_parquet` Parquet files as named relations.
    """

    dialect = "duckdb"

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        read_only: bool = True,
        connection: Any | None = None,
    ) -> None:
        if connection is not None:
            self._con = connection
        else:
            self._con = self._connect(path, read_only)
        # DuckDB draws a progress bar on the terminal for long queries; pipewatch's output is its own.
        self._con.execute("SET enable_progress_bar = false")

    @staticmethod
    def _connect(path: str | Path | None, read_only: bool) -> Any:
        target = ":memory:" if path is None else str(path)
        if path is not None and read_only and not Path(path).exists():
            raise WarehouseError(f"{path}: DuckDB database file not found")
        try:
            return duckdb.connect(target, read_only=read_only and path is not None)
        except duckdb.Error as exc:
            raise WarehouseError(f"{target}: cannot open DuckDB database: {_message(exc)}") from None

    def execute(self, statement: exp.Expr | str) -> QueryResult:
        """Run one statement and fetch its rows; a database error becomes `QueryError`."""
        sql = render(statement, self.dialect)
        try:
            cur = self._con.execute(sql)
            rows = cur.fetchall()
            columns = [d[0] for d in (cur.description or [])]
        except duckdb.ConnectionException as exc:  # the connection is gone: nothing else can run either
            raise WarehouseError(f"DuckDB connection lost: {_message(exc)}") from None
        except duckdb.Error as exc:
            raise QueryError(_message(exc), sql) from None
        return QueryResult(columns, [tuple(r) for r in rows])

    def register(self, name: str, frame: Any) -> None:
        """Expose a pandas (or Arrow) DataFrame as the relation `name`."""
        try:
            self._con.register(name, frame)
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot register DataFrame as `{name}`: {_message(exc)}") from None

    def register_parquet(self, name: str, path: str | Path) -> None:
        """Expose Parquet file(s) (a path or glob) as the view `name`."""
        view = exp.Create(
            this=exp.Table(this=exp.to_identifier(name, quoted=True)),
            kind="VIEW",
            replace=True,
            expression=exp.select(exp.Star()).from_(
                exp.Anonymous(this="read_parquet", expressions=[exp.Literal.string(str(path))])
            ),
        )
        try:
            self._con.execute(view.sql(dialect="duckdb"))
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot read Parquet {path}: {_message(exc)}") from None

    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    def __enter__(self) -> DuckDBWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _message(exc: BaseException) -> str:
    """The database's message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__
