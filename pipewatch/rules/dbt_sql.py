"""dbt tests pipewatch cannot fuse, run as dbt runs them: the compiled SQL inside dbt's test wrapper.

A singular test, a generic test from any package (dbt-utils' `equality`, a project's own `positive`), or
a fusable test with a config the fused engine does not model (`limit`, a custom `fail_calc`, a
threshold it cannot read) runs here. Its SQL is the one dbt compiled into the manifest, wrapped exactly
as dbt's test materialization (`default__get_test_sql` after `default__get_limit_sql`) wraps it:

    select <fail_calc> as failures, <fail_calc> <warn_if> as should_warn, <fail_calc> <error_if> as should_error
    from (<compiled sql> limit <limit>) dbt_internal_test

and judged as dbt's `TestRunner.build_test_run_result` judges it: `fail` when the severity is error and
`should_error`, else `warn` when `should_warn`, else `pass`; the failures count is reported when the test
warns or fails. The wrapper is text on purpose: dbt pastes the compiled SQL and the three configs into
its macro verbatim, and only the same text gives the same result; none of it comes from a rule file.

A test that asks for stored failures (`store_failures`, `store_failures_as`, `--store-failures`) first
writes its failing rows where dbt would and is counted from them (`rules.dbt_store`).

A test that cannot run (no compiled SQL, a database error, a result not of dbt's shape) is `error`
with the reason, and fails the gate as dbt's error would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pipewatch.artifacts.model import Node
from pipewatch.rules.results import CheckResult
from pipewatch.warehouse.base import QueryError, Warehouse

if TYPE_CHECKING:
    from pipewatch.rules.dbt_store import Store

#: dbt's defaults for the test configs (dbt-core `TestConfig`).
DEFAULT_FAIL_CALC = "count(*)"
DEFAULT_CONDITION = "!= 0"
#: The `type` of a singular test's result (generic tests are typed by their test name).
SINGULAR = "singular"
#: The relation a test is reported under when it tests no single model (a singular test on a join).
NO_RELATION = "<dbt tests>"


@dataclass(frozen=True, slots=True)
class SqlTest:
    """One test to run as dbt SQL: its node, the relation it is reported under, its statement or why not."""

    node: Node
    relation: str
    model: str | None
    why: str  # why it does not run fused
    sql: str | None  # the wrapped statement; None when the test cannot run
    problem: str | None = None  # why it cannot run, when `sql` is None
    store: Store | None = None  # where dbt stores its failing rows, when it does
    compiled: str | None = None  # dbt's compiled SQL, which a storing test writes into `store`

    @property
    def type(self) -> str:
        """`singular`, or the generic test's name as dbt calls it (`dbt_utils.equality`)."""
        info = self.node.test
        if info is None or not info.generic:
            return SINGULAR
        return f"{info.namespace}.{info.name}" if info.namespace and info.namespace != "dbt" else info.name

    def run(self, warehouse: Warehouse) -> CheckResult:
        """Run the statement on `warehouse` (one connection of the pool) and judge it as dbt does."""
        if self.sql is None:
            return self.result("error", message=self.problem)
        if self.store is not None and self.compiled is not None:
            from pipewatch.rules.dbt_store import run_stored

            return run_stored(self, self.compiled, warehouse)
        try:
            got = warehouse.execute(self.sql)
        except QueryError as exc:
            return self.result("error", message=exc.message)
        return judge(self, got.columns, got.rows)

    def result(self, status: str, *, failures: int | None = None, message: str | None = None) -> CheckResult:
        """This test's `CheckResult` with `status` (`total_rows` is unknown: dbt's query does not count them)."""
        info = self.node.test
        severity = "warn" if info is not None and info.severity == "warn" else "error"
        threshold: dict[str, Any] = {}
        if info is not None:
            threshold = {
                "fail_calc": info.fail_calc or DEFAULT_FAIL_CALC,
                "warn_if": info.warn_if or DEFAULT_CONDITION,
                "error_if": info.error_if or DEFAULT_CONDITION,
            }
            if info.limit is not None:
                threshold["limit"] = info.limit
        return CheckResult(
            check_id=self.node.unique_id,
            name=self.node.name,
            type=self.type,
            relation=self.relation,
            column=info.column_name if info is not None else None,
            status=status,
            severity=severity,
            failing_rows=failures,
            total_rows=None,
            threshold=threshold,
            sql=self.sql or "",
            message=message,
            model=self.model,
            where=info.where if info is not None else None,
            engine="dbt_sql",
        )


def wrap_test_sql(
    compiled: str,
    *,
    fail_calc: str | None = None,
    warn_if: str | None = None,
    error_if: str | None = None,
    limit: int | None = None,
) -> str:
    """dbt's test statement for `compiled` (see the module docstring), character for character."""
    calc = fail_calc or DEFAULT_FAIL_CALC
    main = with_limit(compiled, limit)
    return (
        "select\n"
        f"  {calc} as failures,\n"
        f"  {calc} {warn_if or DEFAULT_CONDITION} as should_warn,\n"
        f"  {calc} {error_if or DEFAULT_CONDITION} as should_error\n"
        f"from (\n  {main}\n  \n) dbt_internal_test"
    )


def with_limit(compiled: str, limit: int | None) -> str:
    """dbt's `get_limit_subquery_sql`: the test's SQL, capped at `limit` rows when it has one."""
    return compiled if limit is None else f"{compiled}\n  limit {int(limit)}"


def sql_test(
    node: Node,
    nodes: Mapping[str, Node],
    why: str,
    compiled: str | None,
    missing: str | None = None,
    *,
    store_failures: bool = False,
    read_only: str | None = None,
) -> SqlTest:
    """The `SqlTest` for a test node: reported under its tested relation; `compiled` is dbt's SQL for it
    (`missing`: why dbt could not compile it, when it has none). `store_failures`: dbt's `--store-failures`
    flag; `read_only`: why the warehouse cannot take the failures a storing test writes, when it cannot."""
    from pipewatch.rules.dbt_store import store_of

    info = node.test
    attached = nodes.get(info.attached_node) if info is not None and info.attached_node else None
    relation = (attached.relation if attached is not None else None) or NO_RELATION
    model = attached.unique_id if attached is not None else None
    if not compiled or not compiled.strip():
        problem = "the manifest has no compiled SQL for this test" + (f" and {missing}" if missing else "")
        return SqlTest(node, relation, model, why, None, problem)
    try:
        store = store_of(node, store_failures)
    except ValueError as exc:
        return SqlTest(node, relation, model, why, None, str(exc))
    if store is not None and read_only is not None:
        problem = f"dbt would store its failures in {store.label}, but {read_only}"
        return SqlTest(node, relation, model, why, None, problem, store)
    sql = wrap_test_sql(
        compiled,
        fail_calc=info.fail_calc if info else None,
        warn_if=info.warn_if if info else None,
        error_if=info.error_if if info else None,
        limit=info.limit if info else None,
    )
    return SqlTest(node, relation, model, why, sql, store=store, compiled=compiled)


def judge(test: SqlTest, columns: list[str], rows: list[tuple[Any, ...]]) -> CheckResult:
    """dbt's verdict on its test query's result (`build_test_run_result`)."""
    if len(rows) != 1:
        return test.result("error", message=f"the test query returned {len(rows)} rows, expected 1")
    if len(columns) != 3:
        return test.result("error", message=f"the test query returned {len(columns)} columns, expected 3")
    values = dict(zip((c.lower() for c in columns), rows[0], strict=True))
    failures, should_warn, should_error = (
        values.get("failures"),
        _bool(values.get("should_warn")),
        _bool(values.get("should_error")),
    )
    count = _count(failures)
    if count is None or should_warn is None or should_error is None:
        return test.result("error", message=f"fail_calc returned {failures!r}, not a number of failures")
    info = test.node.test
    if (info is None or info.severity != "warn") and should_error:
        status = "fail"
    elif should_warn:
        status = "warn"
    else:
        return test.result("pass", failures=count)
    return test.result(status, failures=count)


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, Decimal, float)):
        return int(value)
    try:
        return int(str(value))
    except ValueError:
        return None


def _bool(value: Any) -> bool | None:
    """A should_warn/should_error value as dbt reads it (booleans, or text/number a database returns)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, Decimal, float)):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "t", "yes", "y", "on", "1"):
            return True
        if text in ("false", "f", "no", "n", "off", "0"):
            return False
    return None
