"""Read the `pipewatch_audit` table that the dbt package's `pipewatch.audit()` hook writes, into history.

Teams whose dbt runs leave no `target/` folder (a managed runner) still get history and anomalies:
the on-run-end hook appends one row per node result to `pipewatch_audit` in the warehouse, and
`ingest_from_warehouse(store, warehouse)` records every invocation found there that the store does not
hold yet, as a run with source `warehouse-audit`. Ingest is keyed by invocation id, so calling it again
(every night, say) adds only the runs since the last call.

The warehouse is anything pipewatch can query: a `Warehouse` (e.g. `DuckDBWarehouse`), a DuckDB file
path, an open DuckDB connection, or a DB-API connection (psycopg2 and the like).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlglot import exp

from pipewatch.artifacts.model import AdapterResponse, Node, NodeResult, Run, normalize_status
from pipewatch.errors import WarehouseError
from pipewatch.history.errors import HistoryError
from pipewatch.history.ingest import IngestResult
from pipewatch.history.store import HistoryStore
from pipewatch.rules.spec import TableRef
from pipewatch.rules.sqltext import SqlTextError, parse_relation, table
from pipewatch.warehouse.base import QueryError, QueryResult, Warehouse, as_utc, render

#: The table `pipewatch.audit()` writes (in the target schema unless configured otherwise).
AUDIT_TABLE = "pipewatch_audit"
#: The history source recorded for runs read from the audit table.
SOURCE = "warehouse-audit"
#: The audit table's columns this reader uses (the hook writes them all; see macros/macros/audit.sql).
AUDIT_COLUMNS = (
    "invocation_id",
    "project",
    "target_name",
    "command",
    "dbt_version",
    "adapter_type",
    "run_started_at",
    "recorded_at",
    "unique_id",
    "resource_type",
    "name",
    "relation",
    "materialized",
    "status",
    "execution_time",
    "rows_affected",
    "row_count",
    "failures",
    "message",
    "thread_id",
    "query_id",
    "started_at",
    "completed_at",
)
#: Invocation ids per `IN (...)` list when fetching rows.
_IDS_PER_QUERY = 500
_MISSING_TABLE = re.compile(
    # DuckDB, PostgreSQL/Redshift, Snowflake, BigQuery, Spark/Databricks, SQLite-likes
    r"table with name \S+ does not exist|relation \S+ does not exist|object \S+ does not exist"
    r"|not found: table|table or view not found|TABLE_OR_VIEW_NOT_FOUND|no such table",
    re.IGNORECASE,
)
_DRIVER_DIALECTS = {
    "psycopg2": "postgres",
    "psycopg": "postgres",
    "pg8000": "postgres",
    "duckdb": "duckdb",
    "snowflake": "snowflake",
    "google": "bigquery",
    "databricks": "databricks",
    "pyhive": "spark",
    "redshift_connector": "redshift",
    "trino": "trino",
}


@dataclass(frozen=True, slots=True)
class AuditIngestResult:
    """What one `ingest_from_warehouse` did: the audit table read, and the runs it recorded."""

    table: str
    invocations_found: int  # distinct invocations in the audit table
    ingested: list[IngestResult] = field(default_factory=list)  # the runs recorded by this call
    already_recorded: int = 0  # invocations the store held before this call

    @property
    def invocation_ids(self) -> list[str]:
        """The invocation ids this call recorded, oldest first."""
        return [r.invocation_id for r in self.ingested]


def ingest_from_warehouse(
    store: HistoryStore,
    warehouse: Warehouse | Any,
    *,
    table_name: str = AUDIT_TABLE,
    schema: str | None = None,
    database: str | None = None,
    dialect: str | None = None,
) -> AuditIngestResult:
    """Record into `store` every invocation in the warehouse's audit table that it does not hold yet.

    `warehouse`: a `Warehouse`, a DuckDB file path, a DuckDB connection or a DB-API connection (its
    dialect is guessed from the driver; pass `dialect` to say it). The table is `table_name`, optionally
    qualified by `schema` and `database`, named as the dbt hook created it (unquoted, so folded the way
    the warehouse folds names). Each run is recorded in its own transaction, oldest first, with source
    `warehouse-audit`; running this again records nothing twice.

    Raises `HistoryError` (exit 2) when the audit table is not there, `WarehouseError` (exit 3) when the
    warehouse cannot be reached or the query fails otherwise.
    """
    with _as_warehouse(warehouse, dialect) as wh:
        ref = audit_table_ref(table_name, schema, database, wh.dialect)
        found = _query(wh, _distinct_ids(ref, wh.dialect), ref)
        ids = sorted({str(row[0]) for row in found.rows if row[0] is not None})
        known = _recorded_ids(store)
        new = [i for i in ids if i not in known]
        runs = read_audit_runs(wh, invocation_ids=new, ref=ref) if new else []
    results = [store.ingest(run, source=SOURCE) for run in runs]
    return AuditIngestResult(
        table=ref.relation,
        invocations_found=len(ids),
        ingested=results,
        already_recorded=len(ids) - len(new),
    )


def audit_table_ref(
    table_name: str = AUDIT_TABLE, schema: str | None = None, database: str | None = None, dialect: str = ""
) -> TableRef:
    """The audit table as a `TableRef` (`table_name` may itself be `schema.table` or `db.schema.table`)."""
    try:
        parts = parse_relation(table_name, dialect or "duckdb")
    except SqlTextError as exc:
        raise HistoryError(f"audit table: {exc}") from None
    prefix = tuple(p for p in (database, schema) if p)
    if prefix and len(parts) > 1:
        raise HistoryError(f"audit table `{table_name}` is already qualified; do not also pass a schema")
    full = (*prefix, *parts)
    if len(full) > 3:
        raise HistoryError(f"audit table `{'.'.join(full)}` has more than database.schema.table")
    return TableRef(parts=full, relation=".".join(full))


def read_audit_runs(
    warehouse: Warehouse,
    *,
    invocation_ids: Sequence[str] | None = None,
    ref: TableRef | None = None,
) -> list[Run]:
    """The audit table's invocations (all, or those in `invocation_ids`) as `Run`s, oldest first."""
    ref = ref or audit_table_ref(dialect=warehouse.dialect)
    rows: list[dict[str, Any]] = []
    batches: Iterable[Sequence[str] | None] = (
        [None] if invocation_ids is None else _chunks(list(invocation_ids), _IDS_PER_QUERY)
    )
    for batch in batches:
        got = _query(warehouse, _select_rows(ref, warehouse.dialect, batch), ref)
        names = [c.lower() for c in got.columns]
        rows.extend(dict(zip(names, r, strict=False)) for r in got.rows)
    return runs_from_rows(rows)


def runs_from_rows(rows: Iterable[dict[str, Any]]) -> list[Run]:
    """Group audit rows (column name -> value) into one `Run` per invocation, oldest first.

    A node recorded twice in one invocation keeps its last row. `rows_affected` is the adapter's count,
    or the hook's count(*) of the built table where the adapter reports none (DuckDB).
    """
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        inv = row.get("invocation_id")
        if inv is not None:
            grouped.setdefault(str(inv), []).append(row)
    runs = [_run(inv, members) for inv, members in grouped.items()]
    runs.sort(key=lambda r: (r.generated_at or 0.0, r.invocation_id or ""))
    return runs


def _run(invocation_id: str, rows: list[dict[str, Any]]) -> Run:
    first = rows[0]
    started = _posix(first.get("run_started_at"))
    recorded = max((t for t in (_posix(r.get("recorded_at")) for r in rows) if t is not None), default=None)
    results: dict[str, NodeResult] = {}
    nodes: dict[str, Node] = {}
    for row in rows:
        uid = _text(row.get("unique_id"))
        if not uid:
            continue
        results[uid] = _node_result(uid, row)
        nodes[uid] = _node(uid, row, _text(first.get("adapter_type")) or "duckdb")
    return Run(
        invocation_id=invocation_id,
        dbt_version=_text(first.get("dbt_version")),
        generated_at=recorded if recorded is not None else started,
        elapsed_time=(recorded - started) if recorded is not None and started is not None else None,
        command=_text(first.get("command")),
        select=(),
        target=_text(first.get("target_name")),
        adapter_type=_text(first.get("adapter_type")),
        project_name=_text(first.get("project")),
        schema_versions={},
        nodes=nodes,
        results=list(results.values()),
        freshness=[],
    )


def _node_result(uid: str, row: dict[str, Any]) -> NodeResult:
    rows_affected = _int(row.get("rows_affected"))
    if rows_affected is None:
        rows_affected = _int(row.get("row_count"))
    return NodeResult(
        unique_id=uid,
        status=normalize_status(_text(row.get("status"))),
        message=_text(row.get("message")),
        failures=_int(row.get("failures")),
        execution_time=_float(row.get("execution_time")) or 0.0,
        thread_id=_text(row.get("thread_id")),
        compile_started=None,
        compile_completed=None,
        execute_started=_posix(row.get("started_at")),
        execute_completed=_posix(row.get("completed_at")),
        adapter_response=AdapterResponse(rows_affected=rows_affected, query_id=_text(row.get("query_id"))),
        relation_name=_text(row.get("relation")),
    )


def _node(uid: str, row: dict[str, Any], dialect: str) -> Node:
    parts: tuple[str, ...] = ()
    relation = _text(row.get("relation"))
    if relation:
        try:
            parts = parse_relation(relation, dialect)
        except (SqlTextError, ValueError):
            parts = ()
    padded = (None,) * (3 - len(parts)) + parts
    return Node(
        unique_id=uid,
        resource_type=_text(row.get("resource_type")) or uid.split(".", 1)[0],
        name=_text(row.get("name")) or uid.rsplit(".", 1)[-1],
        package=uid.split(".")[1] if uid.count(".") >= 2 else "",
        path="",
        database=padded[0],
        schema=padded[1],
        alias=padded[2],
        materialization=_text(row.get("materialized")),
        tags=(),
        owner=None,
        depends_on=(),
    )


# --- queries ------------------------------------------------------------------------------------------


def _distinct_ids(ref: TableRef, dialect: str) -> exp.Select:
    return exp.select(exp.column("invocation_id")).distinct().from_(table(ref, dialect))


def _select_rows(ref: TableRef, dialect: str, ids: Sequence[str] | None) -> exp.Select:
    query = exp.select(*(exp.column(c) for c in AUDIT_COLUMNS)).from_(table(ref, dialect))
    if ids is not None:
        query = query.where(
            exp.In(this=exp.column("invocation_id"), expressions=[exp.Literal.string(i) for i in ids])
        )
    return query


def _query(wh: Warehouse, statement: exp.Expr, ref: TableRef) -> QueryResult:
    try:
        return wh.execute(statement)
    except QueryError as exc:
        if _MISSING_TABLE.search(exc.message):
            raise HistoryError(
                f"audit table `{ref.relation}` not found in the warehouse: add "
                '`on-run-end: ["{{ pipewatch.audit() }}"]` to dbt_project.yml (with the pipewatch dbt package '
                f"installed) and run dbt, or name the table's schema ({exc.message})"
            ) from None
        raise WarehouseError(f"cannot read audit table `{ref.relation}`: {exc.message}") from None


def _recorded_ids(store: HistoryStore) -> set[str]:
    if not store.exists:
        return set()
    with store.connect() as con:
        return {str(r[0]) for r in con.execute("SELECT invocation_id FROM invocations").fetchall()}


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- connections --------------------------------------------------------------------------------------


class _DbApiWarehouse:
    """A DB-API 2 connection (psycopg2, snowflake-connector, ...) seen as a `Warehouse`; not closed here."""

    def __init__(self, connection: Any, dialect: str) -> None:
        self._con = connection
        self.dialect = dialect

    def execute(self, statement: exp.Expr | str) -> QueryResult:
        """Run one statement and fetch its rows; a database error becomes `QueryError`."""
        sql = render(statement, self.dialect)
        cur = self._con.cursor()
        try:
            cur.execute(sql)
            columns = [d[0] for d in (cur.description or [])]
            rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
        except Exception as exc:  # every driver has its own Error hierarchy; the message is what counts
            rollback = getattr(self._con, "rollback", None)
            if rollback is not None:
                # A failed statement aborts a PostgreSQL transaction until rolled back; the original
                # error is the one worth reporting, not a failed rollback.
                with contextlib.suppress(Exception):
                    rollback()
            raise QueryError(" ".join(str(exc).split()) or type(exc).__name__, sql) from None
        finally:
            cur.close()
        return QueryResult(columns, rows)

    def close(self) -> None:
        """The caller owns the connection: nothing to release."""


class _Borrowed:
    """Context manager yielding a warehouse, closing it only when this module opened it."""

    def __init__(self, wh: Warehouse, owned: bool) -> None:
        self.wh = wh
        self.owned = owned

    def __enter__(self) -> Warehouse:
        return self.wh

    def __exit__(self, *exc: object) -> None:
        if self.owned:
            self.wh.close()


def _as_warehouse(source: Any, dialect: str | None) -> _Borrowed:
    from pipewatch.warehouse.duckdb import DuckDBWarehouse

    if isinstance(source, (str, Path)):
        return _Borrowed(DuckDBWarehouse(source, read_only=True), owned=True)
    if hasattr(source, "execute") and isinstance(getattr(source, "dialect", None), str):
        return _Borrowed(source, owned=False)
    module = type(source).__module__.split(".")[0]
    if module == "duckdb" or module == "_duckdb":
        return _Borrowed(DuckDBWarehouse(connection=source), owned=False)
    if hasattr(source, "cursor"):
        guessed = dialect or _DRIVER_DIALECTS.get(module)
        if guessed is None:
            raise WarehouseError(
                f"cannot tell the SQL dialect of a {type(source).__module__} connection; pass dialect=..."
            )
        return _Borrowed(_DbApiWarehouse(source, guessed), owned=False)
    raise WarehouseError(
        f"cannot read the audit table from a {type(source).__name__}: pass a Warehouse, a DuckDB file path, "
        "or a DB-API connection"
    )


# --- values -------------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _posix(value: Any) -> float | None:
    """A warehouse timestamp as POSIX seconds (numbers are taken as seconds already)."""
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    when = as_utc(value)
    return when.timestamp() if when is not None else None
