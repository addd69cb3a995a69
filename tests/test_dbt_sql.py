"""dbt tests run as dbt SQL: dbt's test wrapper (fail_calc, limit, warn_if, error_if) and dbt's verdict.

The statements run on a real in-memory DuckDB; the expected statuses are dbt's rule from
`TestRunner.build_test_run_result` (error severity and should_error: fail; else should_warn: warn).
The real-dbt comparisons live in test_dbt_tests_dbt.py and test_dbt_conformance.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipewatch.rules.dbt_sql import sql_test, wrap_test_sql
from pipewatch.warehouse.duckdb import DuckDBWarehouse
from tests.factories import make_node, make_test_info

MODEL = "model.shop.orders"


def _wh(bad: int) -> DuckDBWarehouse:
    wh = DuckDBWarehouse()
    wh.execute(
        f"create table orders as select case when i < {bad} then -1 else i end as amount from range(50) t(i)"
    )
    return wh


def _run(bad: int, compiled: str | None = "select * from orders where amount < 0", **config: object) -> tuple:
    severity = str(config.pop("severity", "error"))
    limit = config.pop("limit", None)
    info = make_test_info("positive", attached_node=MODEL, severity=severity, **config)  # type: ignore[arg-type]
    info = type(info)(**{**{f: getattr(info, f) for f in info.__struct_fields__}, "limit": limit})
    node = make_node("test.shop.positive_orders_amount", resource_type="test", test=info)
    nodes = {MODEL: make_node(MODEL), node.unique_id: node}
    test = sql_test(node, nodes, "no pipewatch equivalent", compiled)
    with _wh(bad) as wh:
        res = test.run(wh)
    return res.status, res.failing_rows, res


@pytest.mark.parametrize(
    ("bad", "config", "status", "failures"),
    [
        (0, {}, "pass", 0),
        (3, {}, "fail", 3),
        (3, {"severity": "warn"}, "warn", 3),
        (3, {"warn_if": ">1", "error_if": ">5"}, "warn", 3),
        (6, {"warn_if": ">1", "error_if": ">5"}, "fail", 6),
        (6, {"warn_if": ">1", "error_if": ">5", "severity": "warn"}, "warn", 6),
        (1, {"warn_if": ">1", "error_if": ">5"}, "pass", 1),
        (4, {"limit": 1}, "fail", 1),
        (4, {"limit": 1, "error_if": ">2"}, "warn", 1),
        (4, {"fail_calc": "sum(amount)"}, "fail", -4),
        (4, {"fail_calc": "count(distinct amount)"}, "fail", 1),
        (0, {"fail_calc": "coalesce(sum(amount), 0)"}, "pass", 0),
    ],
)
def test_dbt_verdicts(bad: int, config: dict[str, object], status: str, failures: int) -> None:
    got_status, got_failures, res = _run(bad, **config)
    assert (got_status, got_failures) == (status, failures)
    assert res.engine == "dbt_sql" and res.relation == "db.main.orders" and "dbt_internal_test" in res.sql


def test_a_test_without_compiled_sql_is_an_error_that_says_so() -> None:
    status, _, res = _run(1, compiled=None)
    assert status == "error" and "no compiled SQL" in (res.message or "")


def test_a_database_error_is_the_tests_error() -> None:
    status, _, res = _run(1, compiled="select * from no_such_table")
    assert status == "error" and "no_such_table" in (res.message or "")


def test_a_null_fail_calc_is_an_error_not_a_pass() -> None:
    status, _, res = _run(0, fail_calc="sum(amount)")
    assert status == "error" and "fail_calc" in (res.message or "")


def test_the_wrapper_keeps_a_trailing_comment_out_of_the_way() -> None:
    sql = wrap_test_sql("select 1 as x -- a comment", limit=3)
    with DuckDBWarehouse() as wh:
        assert wh.execute(sql).rows == [(1, True, True)]


@settings(max_examples=30, deadline=None)
@given(bad=st.integers(0, 50), limit=st.one_of(st.none(), st.integers(0, 60)))
def test_limit_caps_the_count_as_dbt_does(bad: int, limit: int | None) -> None:
    _, failures, _ = _run(bad, limit=limit)
    assert failures == (bad if limit is None else min(bad, limit))
