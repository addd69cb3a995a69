"""Any DB-API 2 connection (psycopg2, snowflake-connector, ...) as a `Warehouse`, and `borrow_warehouse`,
which turns what a caller hands pipewatch (a Warehouse, a DuckDB path or connection, a DB-API
connection) into a warehouse, closing it afterwards only when pipewatch opened it."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from sqlglot import exp

from pipewatch.errors import WarehouseError
from pipewatch.warehouse.base import QueryError, QueryResult, Warehouse, render
from pipewatch.warehouse.dialects import driver_dialect


def fetch(connection: Any, sql: str) -> QueryResult:
    """Run `sql` on a fresh cursor of a DB-API 2 connection and fetch its rows.

    A driver error is re-raised as it is, for the caller to word, after a rollback: a failed
    statement aborts a PostgreSQL transaction until rolled back (a failed rollback is not the error
    worth reporting, and neither is a cursor that cannot close on a lost connection).
    """
    cur = connection.cursor()
    try:
        cur.execute(sql)
        columns = [str(d[0]) for d in (cur.description or [])]
        rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
        return QueryResult(columns, rows)
    except Exception:
        rollback = getattr(connection, "rollback", None)
        if rollback is not None:
            with contextlib.suppress(Exception):
                rollback()
        raise
    finally:
        with contextlib.suppress(Exception):
            cur.close()


class DbApiWarehouse:
    """A DB-API 2 connection seen as a `Warehouse`; the caller owns the connection (never closed here)."""

    def __init__(self, connection: Any, dialect: str) -> None:
        self._con = connection
        self.dialect = dialect

    def execute(self, statement: exp.Expr | str) -> QueryResult:
        """Run one statement and fetch its rows; a database error becomes `QueryError`."""
        sql = render(statement, self.dialect)
        try:
            return fetch(self._con, sql)
        except Exception as exc:  # every driver has its own Error hierarchy; the message is what counts
            raise QueryError(" ".join(str(exc).split()) or type(exc).__name__, sql) from None

    def close(self) -> None:
        """The caller owns the connection: nothing to release."""


class Borrowed:
    """Context manager yielding a warehouse, closing it on exit only when pipewatch opened it (`owned`)."""

    def __init__(self, wh: Warehouse, owned: bool) -> None:
        self.wh = wh
        self.owned = owned

    def __enter__(self) -> Warehouse:
        return self.wh

    def __exit__(self, *exc: object) -> None:
        if self.owned:
            self.wh.close()


def borrow_warehouse(source: Any, dialect: str | None = None, purpose: str = "query") -> Borrowed:
    """`source` as a warehouse for a `with` block: a `Warehouse` as it is, a DuckDB file path (opened
    read-only, closed after), a DuckDB connection, or a DB-API connection (dialect from its driver
    unless `dialect` is given). WarehouseError, saying what it could not `purpose`, for anything else."""
    from pipewatch.warehouse.duckdb import DuckDBWarehouse

    if isinstance(source, (str, Path)):
        return Borrowed(DuckDBWarehouse(source, read_only=True), owned=True)
    if hasattr(source, "execute") and isinstance(getattr(source, "dialect", None), str):
        return Borrowed(source, owned=False)
    module = type(source).__module__
    if driver_dialect(module) == "duckdb":
        return Borrowed(DuckDBWarehouse(connection=source), owned=False)
    if hasattr(source, "cursor"):
        guessed = dialect or driver_dialect(module)
        if guessed is None:
            raise WarehouseError(f"cannot tell the SQL dialect of a {module} connection; pass dialect=...")
        return Borrowed(DbApiWarehouse(source, guessed), owned=False)
    raise WarehouseError(
        f"cannot {purpose} from a {type(source).__name__}: pass a Warehouse, a DuckDB file path, "
        "or a DB-API connection"
    )
