"""Manifest test nodes -> rule specs: each supported test's mapping, its options, and why others run as dbt SQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st

from pipewatch.artifacts.model import Node
from pipewatch.rules import plan, run_checks
from pipewatch.rules.dbt_test_context import Unsupported, max_failures
from pipewatch.rules.dbt_tests import dbt_test_rules
from pipewatch.rules.spec import (
    AcceptedValues,
    Duplicates,
    Expression,
    Freshness,
    Matches,
    NotNull,
    NotNullProportion,
    Range,
    Relationships,
    RowCount,
    Unique,
)
from pipewatch.warehouse.duckdb import DuckDBWarehouse
from tests.factories import make_node, make_test_info

ORDERS = "model.shop.orders"
CUSTOMERS = "model.shop.customers"


def make_test(
    name: str,
    test_name: str | None,
    *,
    namespace: str | None = None,
    kwargs: dict[str, Any] | None = None,
    column: str | None = None,
    attached: str | None = ORDERS,
    severity: str = "error",
    where: str | None = None,
    fail_calc: str | None = None,
    warn_if: str | None = "!= 0",
    error_if: str | None = "!= 0",
    depends_on: tuple[str, ...] = (ORDERS,),
) -> Node:
    info = make_test_info(
        test_name or name,
        namespace=namespace,
        kwargs={"model": "{{ get_where_subquery(ref('orders')) }}", **(kwargs or {})},
        column_name=column,
        attached_node=attached,
        severity=severity,
        where=where,
        fail_calc=fail_calc,
        warn_if=warn_if,
        error_if=error_if,
        generic=test_name is not None,
    )
    return make_node(
        f"test.shop.{name}.abc123",
        name=name,
        path="models/schema.yml",
        schema="main_dbt_test__audit",
        materialization="test",
        depends_on=depends_on,
        test=info,
    )


def manifest(*tests: Node, extra: tuple[Node, ...] = ()) -> dict[str, Node]:
    nodes = [make_node(ORDERS), make_node(CUSTOMERS), make_node("source.shop.raw.customers"), *extra]
    return {n.unique_id: n for n in (*nodes, *tests)}


def only(*tests: Node, dialect: str = "duckdb", extra: tuple[Node, ...] = ()) -> Any:
    imported = dbt_test_rules(manifest(*tests, extra=extra), dialect)
    assert not imported.sql_tests, [t.why for t in imported.sql_tests]
    assert len(imported.checks) == 1
    return imported.checks[0]


def skipped_reason(test: Node, extra: tuple[Node, ...] = ()) -> str:
    """Why a test is not fused: it then runs as dbt SQL (never skipped)."""
    imported = dbt_test_rules(manifest(test, extra=extra))
    assert not imported.checks and not imported.skipped
    assert [t.node.unique_id for t in imported.sql_tests] == [test.unique_id]
    return imported.sql_tests[0].why


def test_core_tests_map_to_their_checks_under_the_test_id() -> None:
    nn = only(make_test("not_null_orders_id", "not_null", column="id"))
    assert isinstance(nn, NotNull) and nn.column == "id"
    assert nn.check_id == "test.shop.not_null_orders_id.abc123" and nn.name == "not_null_orders_id"
    assert nn.max_failures == 0 and nn.severity == "error"
    uq = only(make_test("unique_orders_id", "unique", column="id"))
    assert isinstance(uq, Unique) and uq.columns == ("id",) and uq.ignore_null_keys
    av = only(make_test("av", "accepted_values", column="status", kwargs={"values": ["a", 1, True]}))
    assert isinstance(av, AcceptedValues) and av.values == ("a", "1", "True")  # dbt quotes every value


def test_imported_tables_are_the_tested_relations() -> None:
    imported = dbt_test_rules(
        manifest(
            make_test("a", "not_null", column="id"),
            make_test("b", "unique", column="id"),
            make_test("c", "not_null", column="id", where="id > 1"),
        )
    )
    assert [(t.target.relation, t.target.model, t.where, len(t.checks)) for t in imported.tables] == [
        ("db.main.orders", ORDERS, None, 2),
        ("db.main.orders", ORDERS, "id > 1", 1),
    ]


def test_severity_and_thresholds_follow_dbt() -> None:
    warn = only(make_test("t", "not_null", column="id", severity="warn", warn_if="> 5"))
    assert warn.severity == "warn" and warn.max_failures == 5
    both = only(make_test("t", "not_null", column="id", warn_if="!= 0", error_if="> 10"))
    assert both.max_failures == 10 and both.warn_above == 0
    ge = only(make_test("t", "not_null", column="id", error_if=">= 3", warn_if=">= 3"))
    assert ge.max_failures == 2 and ge.warn_above is None


@given(
    op=st.sampled_from([">", ">=", "!=", "<>"]),
    n=st.integers(min_value=0, max_value=10**6),
    failures=st.integers(min_value=0, max_value=10**6),
    spaces=st.sampled_from(["", " ", "  "]),
)
def test_threshold_translation_agrees_with_dbt(op: str, n: int, failures: int, spaces: str) -> None:
    condition = f"{spaces}{op}{spaces}{n}{spaces}"
    dbt_fails = {">": failures > n, ">=": failures >= n, "!=": failures != n, "<>": failures != n}[op]
    try:
        limit = max_failures(condition)
    except Unsupported:
        # Only conditions a failing-rows limit cannot say: `!= N` for N > 0, and `>= 0` (always fails).
        assert (op in ("!=", "<>") and n != 0) or (op == ">=" and n == 0)
        return
    assert (failures > limit) == dbt_fails


def test_relationships_find_the_parent_by_ref_or_source() -> None:
    by_ref = only(
        make_test(
            "rel",
            "relationships",
            column="customer_id",
            kwargs={"to": "ref('customers')", "field": "id"},
            depends_on=(CUSTOMERS, ORDERS),
        )
    )
    assert isinstance(by_ref, Relationships)
    assert (
        by_ref.to.relation == "db.main.customers" and by_ref.field == "id" and by_ref.column == "customer_id"
    )
    by_source = only(
        make_test(
            "rel",
            "relationships",
            column="customer_id",
            kwargs={"to": "source('raw', 'customers')", "field": "id"},
            depends_on=("source.shop.raw.customers", ORDERS),
        )
    )
    assert by_source.to.model == "source.shop.raw.customers"
    unknown = make_test(
        "rel", "relationships", column="customer_id", kwargs={"to": "ref('nope')", "field": "id"}
    )
    assert "matches no node" in skipped_reason(unknown)


def test_accepted_values_unquoted_values_are_sql_literals() -> None:
    av = only(
        make_test(
            "av", "accepted_values", column="n", kwargs={"values": [1, "2.5", "'x'", "-3"], "quote": False}
        )
    )
    assert av.values[0] == 1 and str(av.values[1]) == "2.5" and av.values[2:] == ("x", -3)
    bad = make_test("av", "accepted_values", column="n", kwargs={"values": ["upper(x)"], "quote": False})
    assert "not a plain SQL literal" in skipped_reason(bad)


def test_dbt_utils_tests() -> None:
    expr = only(make_test("e", "expression_is_true", namespace="dbt_utils", kwargs={"expression": "a > b"}))
    assert isinstance(expr, Expression) and expr.sql == "a > b"
    on_column = only(
        make_test(
            "e", "expression_is_true", namespace="dbt_utils", column="amount", kwargs={"expression": "> 0"}
        )
    )
    assert on_column.sql == "amount > 0"
    rng = only(
        make_test(
            "r",
            "accepted_range",
            namespace="dbt_utils",
            column="x",
            kwargs={"min_value": 0, "max_value": 9.5, "inclusive": False},
        )
    )
    assert isinstance(rng, Range) and (rng.min, rng.max, rng.inclusive) == (0, 9.5, False)
    sql_bounds = only(
        make_test("r", "accepted_range", namespace="dbt_utils", column="x", kwargs={"min_value": "y * 2"})
    )
    assert isinstance(sql_bounds, Expression) and sql_bounds.sql == "x >= y * 2"
    combo = only(
        make_test(
            "u",
            "unique_combination_of_columns",
            namespace="dbt_utils",
            kwargs={"combination_of_columns": ["a", "b"]},
        )
    )
    assert isinstance(combo, Unique) and combo.columns == ("a", "b") and not combo.ignore_null_keys
    share = only(
        make_test("p", "not_null_proportion", namespace="dbt_utils", column="x", kwargs={"at_least": 0.9})
    )
    assert isinstance(share, NotNullProportion) and (share.at_least, share.at_most) == (0.9, 1.0)
    grouped = make_test(
        "p",
        "not_null_proportion",
        namespace="dbt_utils",
        column="x",
        kwargs={"at_least": 0.9, "group_by_columns": ["g"]},
    )
    assert "group_by_columns" in skipped_reason(grouped)


def test_pipewatch_package_tests_take_the_rule_arguments() -> None:
    rng = only(
        make_test(
            "r",
            "range",
            namespace="pipewatch",
            column="q",
            kwargs={"min": 1, "max": 100, "max_failures": 2},
            warn_if=">= 0 and (count(*) > 2)",
            error_if=">= 0 and (count(*) > 2)",
        )
    )
    assert isinstance(rng, Range) and rng.max_failures == 2
    dup = only(
        make_test("d", "duplicates", namespace="pipewatch", kwargs={"columns": ["a", "b"], "max_ratio": 0.1})
    )
    assert isinstance(dup, Duplicates) and dup.columns == ("a", "b") and dup.max_failure_ratio == 0.1
    rc = only(make_test("c", "row_count", namespace="pipewatch", kwargs={"min": 1}))
    assert isinstance(rc, RowCount) and rc.min == 1
    fresh = only(make_test("f", "freshness", namespace="pipewatch", column="ts", kwargs={"max_age": "2d"}))
    assert isinstance(fresh, Freshness) and fresh.max_age_s == 172800
    m = only(make_test("m", "matches", namespace="pipewatch", column="s", kwargs={"pattern": "^[a-z]+$"}))
    assert isinstance(m, Matches)
    rel = only(
        make_test(
            "rel",
            "relationships",
            namespace="pipewatch",
            column="customer_id",
            kwargs={"to": "customers"},
            depends_on=(CUSTOMERS, ORDERS),
        )
    )
    assert rel.to.model == CUSTOMERS and rel.field == "customer_id"


@pytest.mark.parametrize(
    ("test", "reason"),
    [
        (make_test("assert_x", None), "singular test"),
        (make_test("t", "not_accepted_values", namespace="dbt_utils", column="x"), "no pipewatch equivalent"),
        (make_test("t", "my_check", column="x"), "no pipewatch equivalent"),
        (make_test("t", "not_null", column="x", fail_calc="sum(n)"), "fail_calc"),
        (make_test("t", "not_null", column="x", where="x > {{ var('v') }}"), "Jinja"),
        (make_test("t", "accepted_values", column="x", kwargs={"values": ["{{ var('v') }}"]}), "Jinja"),
        (make_test("t", "not_null", column="x", where="x; drop table y"), "`where`"),
        (make_test("t", "not_null", column="coalesce(a, b)"), "SQL expression"),
        (make_test("t", "not_null", column="x", error_if="= 3"), "threshold"),
        (make_test("t", "not_null", column="x", attached=None), "attached"),
        (make_test("t", "not_null", column="x", attached="model.shop.gone"), "not in the manifest"),
        (make_test("t", "matches", namespace="pipewatch", column="x", kwargs={"pattern": "(a"}), "bad regex"),
        (
            make_test("t", "expression_is_true", namespace="dbt_utils", kwargs={"expression": "select 1"}),
            "expression",
        ),
    ],
)
def test_what_cannot_be_run_exactly_is_skipped_with_the_reason(test: Node, reason: str) -> None:
    assert reason in skipped_reason(test)


def test_a_test_on_an_ephemeral_model_is_skipped() -> None:
    eph = make_node("model.shop.eph", materialization="ephemeral")
    test = make_test("t", "not_null", column="x", attached=eph.unique_id)
    assert "ephemeral" in skipped_reason(test, extra=(eph,))


def test_quoted_columns_keep_their_name() -> None:
    assert only(make_test("t", "not_null", column='"Order Date"')).column == "Order Date"
    assert only(make_test("t", "not_null", column='"order_id"'), dialect="postgres").column == "order_id"
    mixed = make_test("t", "not_null", column='"OrderId"')
    imported = dbt_test_rules(manifest(mixed), "postgres")
    assert "fold" in imported.sql_tests[0].why


def test_imported_checks_run_with_dbt_counts_on_duckdb() -> None:
    nodes = manifest(
        make_test("nn", "not_null", column="customer_id"),
        make_test("uq", "unique", column="customer_id"),
        make_test(
            "av", "accepted_values", column="status", kwargs={"values": ["paid", "open"]}, severity="warn"
        ),
        make_test(
            "rel",
            "relationships",
            column="customer_id",
            kwargs={"to": "ref('customers')", "field": "id"},
            depends_on=(CUSTOMERS, ORDERS),
        ),
        make_test(
            "share",
            "not_null_proportion",
            namespace="dbt_utils",
            column="customer_id",
            kwargs={"at_least": 0.9},
        ),
        make_test("nn_paid", "not_null", column="customer_id", where="status = 'paid'"),
    )
    with DuckDBWarehouse() as wh:
        wh.execute("ATTACH ':memory:' AS db")
        wh.execute("CREATE TABLE db.main.customers AS SELECT * FROM (VALUES (1), (2)) t(id)")
        wh.execute(
            "CREATE TABLE db.main.orders AS SELECT * FROM (VALUES "
            "(1, 'paid'), (1, 'open'), (3, 'gone'), (3, 'gone'), (NULL, 'paid'), (2, NULL)) t(customer_id, status)"
        )
        report = run_checks(dbt_test_rules(nodes).ruleset, wh, samples=0)
    got = {c.name: (c.status, c.failing_rows) for c in report.checks}
    assert got == {
        "nn": ("fail", 1),
        "uq": ("fail", 2),  # values 1 and 3; the NULL is not a duplicate
        "av": ("warn", 1),  # one offending value, `gone`, in two rows; NULL passes
        "rel": ("fail", 2),  # both rows of customer 3
        "share": ("fail", 1),  # 5 of 6 present: 0.83 < 0.9, one failing row as dbt-utils returns
        "nn_paid": ("fail", 1),
    }
    assert {s.check_id for s in report.skipped} == set()


@pytest.mark.parametrize(
    "dialect", ["duckdb", "postgres", "snowflake", "bigquery", "databricks", "redshift", "trino"]
)
def test_imported_tests_compile_in_every_dialect(dialect: str) -> None:
    nodes = manifest(
        make_test("nn", "not_null", column="customer_id", where="status = 'paid'"),
        make_test("uq", "unique", column="customer_id"),
        make_test("av", "accepted_values", column="status", kwargs={"values": ["paid", "open"]}),
        make_test(
            "rel",
            "relationships",
            column="customer_id",
            kwargs={"to": "ref('customers')", "field": "id"},
            depends_on=(CUSTOMERS, ORDERS),
        ),
        make_test("rng", "accepted_range", namespace="dbt_utils", column="amount", kwargs={"min_value": 0}),
        make_test(
            "combo",
            "unique_combination_of_columns",
            namespace="dbt_utils",
            kwargs={"combination_of_columns": ["a", "b"]},
        ),
        make_test(
            "share", "not_null_proportion", namespace="dbt_utils", column="email", kwargs={"at_least": 0.5}
        ),
        make_test("expr", "expression_is_true", namespace="dbt_utils", kwargs={"expression": "amount >= 0"}),
    )
    imported = dbt_test_rules(nodes, dialect)
    assert not imported.skipped and len(imported.checks) == 8
    the_plan = plan(imported.ruleset, dialect, samples=0)
    for sql in the_plan.sql(pretty=False):
        assert sqlglot.parse_one(sql, read=dialect) is not None
