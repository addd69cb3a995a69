"""The Warehouse protocol: the one seam between pipewatch's checks and a database.

A warehouse has a SQL `dialect` (a sqlglot dialect name), runs one statement at a time over one
connection kept for the whole run, and returns column names and rows. Query failures raise
`QueryError` (the run goes on: the engine isolates the failing check); a warehouse that cannot be
reached at all raises `WarehouseError` (exit code 3). DuckDB is native (`pipewatch.warehouse.duckdb`);
dbt adapters (Postgres, Snowflake, ...) implement the same protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Protocol, runtime_checkable

from sqlglot import exp
from sqlglot.errors import ErrorLevel

from pipewatch.errors import WarehouseError


@dataclass(slots=True)
class QueryResult:
    """What a statement returned: column names and rows (tuples, in column order)."""

    columns: list[str]
    rows: list[tuple[Any, ...]] = field(default_factory=list)


class QueryError(WarehouseError):
    """One statement failed in the database (bad data, type error, unknown column...); `message` is the
    database's own message. The connection is still usable."""

    def __init__(self, message: str, sql: str = "") -> None:
        super().__init__(message)
        self.sql = sql


@runtime_checkable
class Warehouse(Protocol):
    """A connection to a database pipewatch can run checks on."""

    dialect: str

    def execute(self, statement: exp.Expr | str) -> QueryResult:
        """Run one statement (a sqlglot tree is rendered in `dialect`) and fetch every row."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def execute_all(warehouse: Warehouse, statements: Sequence[exp.Expr]) -> list[QueryResult]:
    """Run independent statements and return their results in order: concurrently when the warehouse
    offers `execute_many` (DuckDB), else one after the other. The first failure raises."""
    many = getattr(warehouse, "execute_many", None)
    if callable(many):
        results: list[QueryResult] = many(statements)
        return results
    return [warehouse.execute(s) for s in statements]


def render(statement: exp.Expr | str, dialect: str) -> str:
    """SQL text for a statement in `dialect` (strings pass through unchanged)."""
    if isinstance(statement, str):
        return statement
    return statement.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)


def as_utc(value: Any) -> datetime | None:
    """A timestamp a warehouse returned (datetime, date or ISO text) as an aware UTC datetime, else None.

    Naive values are taken as UTC, as dbt and the audit hook write them.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    return None
