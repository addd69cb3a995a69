"""The Warehouse protocol: the one seam between pipewatch's checks and a database.

A warehouse has a SQL `dialect` (a sqlglot dialect name), runs one statement at a time over one
connection kept for the whole run, and returns column names and rows. Query failures raise
`QueryError` (the run goes on: the engine isolates the failing check); a warehouse that cannot be
reached at all raises `WarehouseError` (exit code 3). DuckDB is native (`pipewatch.warehouse.duckdb`);
dbt adapters (Postgres, Snowflake, ...) implement the same protocol.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Protocol, TypeVar, runtime_checkable

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


T = TypeVar("T")


def run_concurrently(
    warehouse: Warehouse, tasks: Sequence[Callable[[Warehouse], T]], threads: int
) -> list[T]:
    """Run independent tasks, each given a warehouse connection, on up to `threads` connections at once.

    A warehouse that offers `session()` (a context manager yielding a `Warehouse` on a connection of its
    own) gets one session per worker thread, held for all the tasks that thread runs; otherwise the tasks
    run one after the other on `warehouse`. Results come back in task order; the first exception a task
    raised (a `WarehouseError`: the warehouse is gone) is raised once every worker has stopped.
    """
    session = getattr(warehouse, "session", None)
    workers = min(threads, len(tasks))
    if workers <= 1 or not callable(session):
        return [task(warehouse) for task in tasks]
    connect = getattr(warehouse, "connect", None)
    if callable(connect):
        connect()  # the warehouse's own connection belongs to this thread, not to the first worker's
    results: list[Any] = [None] * len(tasks)
    errors: list[BaseException] = []
    lock = threading.Lock()
    pending = iter(range(len(tasks)))

    def work() -> None:
        try:
            with session() as connection:
                while not errors:
                    with lock:
                        index = next(pending, None)
                    if index is None:
                        return
                    results[index] = tasks[index](connection)
        except BaseException as exc:  # handed to the caller's thread below
            errors.append(exc)

    pool = [threading.Thread(target=work, name=f"pipewatch-{i}", daemon=True) for i in range(workers)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    return results


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
