"""Run a plan on a warehouse and judge every check: counts, thresholds, samples, failure isolation.

Each fused statement runs once. When it fails, its checks are re-run one by one (or, for more than a
handful, split in halves recursively), so the culprit is found in few queries and reported as
`error` with the database's message while every other check gets its result. Failing checks then get
up to `samples` example rows from cheap LIMIT queries (duplicated-key samples ride in the fused
statement where the dialect allows, so they never cost a second aggregation).
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timezone
from datetime import time as dtime
from decimal import Decimal
from typing import Any

from sqlglot import exp

from pipewatch.rules.planner import Plan, PlannedCheck, Statement, build_statement, groups, statement_for
from pipewatch.rules.results import CheckResult, QualityReport, TableResult
from pipewatch.rules.samples import sample_record, shorten
from pipewatch.rules.scoring import exceeds, status_for, thresholds
from pipewatch.rules.spec import Check, Freshness, NotNullProportion, RowCount, RuleSet, TableSpec, check_id
from pipewatch.warehouse.base import QueryError, Warehouse, as_utc, run_concurrently

_Key = tuple[int, int]  # (id of table spec, id of check)
_Ran = tuple[Statement, list[tuple[_Key, CheckResult]]]  # a statement and its checks' results
#: A failed statement with at most this many checks is re-run check by check; larger ones are bisected.
_ONE_BY_ONE_UP_TO = 8


def run_checks(
    rules: RuleSet,
    warehouse: Warehouse,
    *,
    samples: int = 5,
    now: datetime | None = None,
    threads: int = 1,
    extra: Sequence[Callable[[Warehouse], CheckResult]] = (),
) -> QualityReport:
    """Plan `rules` for the warehouse's dialect, run them, and return the quality report.

    `samples`: failing rows fetched per failing check (0 = none). `now`: the clock freshness is judged
    against (default: the current UTC time). A warehouse that cannot be reached raises `WarehouseError`;
    a failing query only errors the checks it belongs to. `threads`: statements of different tables
    run on up to this many connections at once; `extra`: more checks (dbt tests run as their own SQL)
    that run in the same pool, after the fused statements, and are reported beside them.
    """
    started = time.perf_counter()
    dialect = warehouse.dialect
    clock = now or datetime.now(timezone.utc)
    results: dict[_Key, CheckResult] = {}

    # Each table's statement is built by the worker that runs it, so building the next one (Python)
    # overlaps the queries under way (the database's time, outside the GIL).
    def fused(items: list[tuple[TableSpec, Check]]) -> Callable[[Warehouse], _Ran]:
        def task(connection: Warehouse) -> _Ran:
            st = statement_for(items, dialect, samples=samples)
            return st, list(_run_statement(st, connection, clock, samples))

        return task

    tasks: list[Callable[[Warehouse], Any]] = [fused(items) for items in groups(rules, dialect)]
    done = run_concurrently(warehouse, [*tasks, *extra], threads)
    statements = []
    for st, got in done[: len(tasks)]:
        statements.append(st)
        results.update(got)
    if samples > 0:
        _fetch_samples(Plan(dialect, statements), results, warehouse, samples)
    report = _report(rules, results, dialect)
    _add(report, done[len(tasks) :])
    report.elapsed_s = time.perf_counter() - started
    return report


def _key(table: TableSpec, check: Check) -> _Key:
    return (id(table), id(check))


def _run_statement(
    st: Statement, warehouse: Warehouse, now: datetime, samples: int
) -> Iterator[tuple[_Key, CheckResult]]:
    sql = st.run_sql()
    try:
        result = warehouse.execute(sql)
        row = result.rows[0] if result.rows else tuple(None for _ in st.columns)
    except QueryError as exc:
        if len(st.checks) == 1:
            pc = st.checks[0]
            yield _key(pc.table, pc.check), _errored(pc.table, pc.check, exc.message, sql)
            return
        # A few checks: re-run each alone. Many: bisect, so one culprit among n costs ~2 log2(n) queries;
        # the parts that run fine report normally and the failing ones split again.
        items = st.items
        if len(items) <= _ONE_BY_ONE_UP_TO:
            parts = [[item] for item in items]
        else:
            mid = len(items) // 2
            parts = [items[:mid], items[mid:]]
        for part in parts:
            yield from _run_statement(
                build_statement(part, st.dialect, samples=st.samples), warehouse, now, samples
            )
        return
    total = _int(row[st.total])
    for pc in st.checks:
        res = _evaluate(pc, row, total, sql, now)
        if pc.compiled.followup is not None and res.failing_rows is None and res.affected_rows:
            _follow_up(pc, res, warehouse, samples)
        yield _key(pc.table, pc.check), res


def _base(table: TableSpec, check: Check, sql: str) -> CheckResult:
    return CheckResult(
        check_id=check_id(table, check),
        name=check.name,
        type=check.type,
        relation=table.target.relation,
        column=check.column_label,
        status="error",
        severity=check.severity,
        failing_rows=None,
        total_rows=None,
        sql=sql,
        weight=check.weight,
        model=table.target.model,
        where=table.where,
    )


def _errored(table: TableSpec, check: Check, message: str, sql: str) -> CheckResult:
    res = _base(table, check, sql)
    res.message = message
    return res


def _evaluate(pc: PlannedCheck, row: tuple[Any, ...], total: int, sql: str, now: datetime) -> CheckResult:
    check, table = pc.check, pc.table
    res = _base(table, check, sql)
    res.total_rows = total
    if isinstance(check, RowCount):
        res.threshold = {k: v for k, v in (("min", check.min), ("max", check.max)) if v is not None}
        res.metric = float(total)
        low = check.min is not None and total < check.min
        high = check.max is not None and total > check.max
        res.status = status_for(check, low or high)
        if low or high:
            bound = f"at least {check.min}" if low else f"at most {check.max}"
            res.message = f"{total} rows, expected {bound}"
        return res
    if isinstance(check, Freshness):
        res.threshold = {"max_age_s": check.max_age_s}
        latest = row[pc.outputs["max"]]
        if latest is None:
            res.status = status_for(check, True)
            res.message = f"no non-NULL `{check.column}` values: nothing to judge freshness by"
            return res
        when = as_utc(latest)
        if when is None:
            res.message = f"MAX(`{check.column}`) is not a date or timestamp (got {type(latest).__name__})"
            return res
        lag = (now - when).total_seconds()
        res.metric = lag
        res.status = status_for(check, lag > check.max_age_s)
        if lag > check.max_age_s:
            res.message = f"newest `{check.column}` is {lag:.0f}s old, max {check.max_age_s:.0f}s"
        return res
    if isinstance(check, NotNullProportion):
        share = (total - _int(row[pc.outputs["nulls"]])) / total if total else None
        bad = share is not None and not check.at_least <= share <= check.at_most
        _judge(res, check, int(bad))  # dbt's count: one row when the share is out of bounds
        res.threshold = {"at_least": check.at_least, "at_most": check.at_most, **thresholds(check)}
        res.metric = share
        if bad and share is not None:
            res.message = (
                f"{share:.2%} of `{check.column}` is not NULL,"
                f" expected {check.at_least:g} to {check.at_most:g}"
            )
        return res
    if "failing" not in pc.outputs:  # counted by the follow-up query
        res.affected_rows = _int(row[pc.outputs["affected"]])
        res.failing_unit = pc.compiled.failing_unit
        res.threshold = thresholds(check)
        _judge(res, check, None if res.affected_rows else 0)
        return res
    failing = _int(row[pc.outputs["failing"]])
    res.failing_rows = failing
    res.failing_unit = pc.compiled.failing_unit
    if "affected" in pc.outputs:
        res.affected_rows = _int(row[pc.outputs["affected"]])
    res.threshold = thresholds(check)
    _judge(res, check, failing)
    if res.status != "pass" and "samples" in pc.outputs:
        res.samples = _group_samples(row[pc.outputs["samples"]], check)
    return res


def _judge(res: CheckResult, check: Check, failing: int | None) -> None:
    """Set failing count, ratio metric and status (status stays `error` while the count is unknown)."""
    if failing is None:
        return
    res.failing_rows = failing
    res.metric = failing / res.total_rows if res.total_rows else 0.0
    res.status = status_for(check, exceeds(check, failing, res.total_rows))
    if res.status == "pass" and check.warn_above is not None and failing > check.warn_above:
        res.status = "warn"


def _follow_up(pc: PlannedCheck, res: CheckResult, warehouse: Warehouse, samples: int) -> None:
    """Count distinct offending values (and take samples) for checks the fused scan found rows for."""
    assert pc.compiled.followup is not None
    query = pc.compiled.followup(samples)
    try:
        got = warehouse.execute(query)
    except QueryError as exc:
        res.status = "error"
        res.message = exc.message
        return
    distinct = _int(got.rows[0][2]) if got.rows else 0
    _judge(res, pc.check, distinct)
    label = pc.check.column_label or "value"
    if samples > 0 and res.status != "pass":
        res.samples = [shorten({label: jsonable(r[0]), "n": jsonable(r[1])}) for r in got.rows[:samples]]


def _group_samples(raw: Any, check: Check) -> list[dict[str, Any]]:
    """Carried duplicated-key samples (`[{k0: .., n: ..}]`) with the key columns' names."""
    names: tuple[str, ...] = getattr(check, "columns", ())
    out: list[dict[str, Any]] = []
    for item in raw or []:
        if not isinstance(item, dict):
            continue
        sample = {name: shorten(jsonable(item.get(f"k{i}"))) for i, name in enumerate(names)}
        sample["n"] = jsonable(item.get("n"))
        out.append(sample)
    return out


def _fetch_samples(the_plan: Plan, results: dict[_Key, CheckResult], warehouse: Warehouse, n: int) -> None:
    columns: dict[str, list[str] | QueryError] = {}  # relation -> its column names, probed once
    for st in the_plan.statements:
        for pc in st.checks:
            res = results.get(_key(pc.table, pc.check))
            compiled = pc.compiled
            if res is None or res.status not in ("fail", "warn") or res.samples:
                continue
            try:
                if compiled.sample_rows is not None:
                    query = compiled.sample_rows(n, _columns_of(st, warehouse, columns))
                elif compiled.sample_query is not None:
                    query = compiled.sample_query(n)
                else:
                    continue
                got = warehouse.execute(query)
            except QueryError as exc:
                res.message = f"samples not fetched: {exc.message}"
                continue
            res.samples = [shorten(jsonable(sample_record(got.columns, r))) for r in got.rows[:n]]


def _columns_of(st: Statement, warehouse: Warehouse, known: dict[str, list[str] | QueryError]) -> list[str]:
    """The checked table's column names as the warehouse has them (one `LIMIT 0` query per relation)."""
    rel = st.target.ref.relation
    if rel not in known:
        try:
            known[rel] = warehouse.execute(
                exp.select(exp.Star()).from_(st.target.base(st.dialect)).limit(0)
            ).columns
        except QueryError as exc:
            known[rel] = exc
    got = known[rel]
    if isinstance(got, QueryError):
        raise got
    return got


def _report(rules: RuleSet, results: dict[_Key, CheckResult], dialect: str) -> QualityReport:
    tables: dict[str, TableResult] = {}
    for spec in rules.tables:
        for check in spec.checks:
            res = results.get(_key(spec, check))
            if res is None:
                continue
            rel = spec.target.relation
            if rel not in tables:
                tables[rel] = TableResult(relation=rel, checks=[], model=spec.target.model)
            tables[rel].checks.append(res)
    return QualityReport(tables=list(tables.values()), dialect=dialect)


def _add(report: QualityReport, results: Sequence[CheckResult]) -> None:
    """Put checks that ran outside the plan under their relations (tables in first-seen order)."""
    tables = {t.relation: t for t in report.tables}
    for res in results:
        table = tables.get(res.relation)
        if table is None:
            table = tables[res.relation] = TableResult(relation=res.relation, checks=[], model=res.model)
            report.tables.append(table)
        table.checks.append(res)


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def jsonable(value: Any) -> Any:
    """A value as JSON can hold it: numbers, strings, booleans, None, lists and dicts of them."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime, date, dtime)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    return str(value)
