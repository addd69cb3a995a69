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

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlglot import exp

from pipewatch.artifacts.model import AdapterResponse, Node, NodeResult, Run, normalize_status
from pipewatch.errors import WarehouseError
from pipewatch.history.errors import HistoryError
from pipewatch.history.ingest import IngestResult
from pipewatch.history.store import HistoryStore
from pipewatch.rules.spec import TableRef
from pipewatch.rules.sqltext import SqlTextError, parse_relation, table
from pipewatch.warehouse.base import QueryError, QueryResult, Warehouse, as_utc
from pipewatch.warehouse.dbapi import borrow_warehouse
from pipewatch.warehouse.dialects import is_missing_table

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
    with borrow_warehouse(warehouse, dialect, "read the audit table") as wh:
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
        if is_missing_table(exc.message):
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
