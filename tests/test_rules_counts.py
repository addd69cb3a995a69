"""Correctness proof: planted violations of known counts in DuckDB, counted exactly by every check type.

The expected numbers are planted by hand (and re-derived in Python from the rows); the dbt-equivalence
test also runs dbt's own generic-test SQL (core `unique`, `not_null`, `accepted_values`,
`relationships`; dbt-utils `expression_is_true`, `accepted_range`, `unique_combination_of_columns`)
on the same tables and compares `count(*)` of each, which is what dbt reports as `failures`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import duckdb
import pytest

from pipewatch.rules import parse_rules, plan, run_checks
from pipewatch.rules.results import CheckResult, QualityReport
from pipewatch.warehouse.base import QueryResult
from pipewatch.warehouse.duckdb import DuckDBWarehouse

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
N = 1000


def order_rows() -> list[tuple[Any, ...]]:
    """1000 clean orders, then planted violations (indices chosen not to overlap)."""
    rows = []
    for i in range(N):
        rows.append(
            {
                "order_id": i + 1,
                "line_no": 1,
                "customer_id": i % 100 + 1,
                "status": ["placed", "shipped", "completed"][i % 3],
                "amount": float(i % 101),  # 0..100: both inclusive bounds are present
                "email": f"user{i}@example.com",
                "created_at": NOW - timedelta(days=3, minutes=i),
                "paid_at": None,
                "note": None,
            }
        )
    # unique(order_id): value 10 x2, 20 x3, 30 x2 -> 3 duplicated values in 7 rows; 4 NULL ids (ignored).
    rows[500]["order_id"] = 10
    rows[501]["order_id"] = 20
    rows[502]["order_id"] = 20
    rows[503]["order_id"] = 30
    for i in (504, 505, 506, 507):
        rows[i]["order_id"] = None
    # duplicates(order_id, line_no): same pairs except row 501 gets line 2 -> (20,1) x2, (20,2) x1;
    # plus the 4 NULL ids share line 1 -> one NULL key group of 4. Excess: (10,1)+1, (20,1)+1, (30,1)+1, (NULL,1)+3.
    rows[501]["line_no"] = 2
    # not_null(customer_id): 5 NULLs.
    for i in range(600, 605):
        rows[i]["customer_id"] = None
    # relationships: 6 orphan rows (3 x 999, 3 x 998).
    for i in range(610, 616):
        rows[i]["customer_id"] = 999 if i < 613 else 998
    # accepted_values(status): 'bogus' x3, 'lost' x2 -> 2 values, 5 rows; 4 NULLs never fail.
    for i in range(620, 623):
        rows[i]["status"] = "bogus"
    for i in range(623, 625):
        rows[i]["status"] = "lost"
    for i in range(625, 629):
        rows[i]["status"] = None
    # range(amount, 0..100): -1 x2, 101 x3 -> 5; one NULL.
    for i in range(630, 632):
        rows[i]["amount"] = -1.0
    for i in range(632, 635):
        rows[i]["amount"] = 101.0
    rows[635]["amount"] = None
    # matches(email): 4 bad, 2 NULL.
    for i in range(640, 644):
        rows[i]["email"] = ["no-at-sign", "a@b", "two@@x.com", "UPPER@X.COM"][i - 640]
    rows[644]["email"] = None
    rows[645]["email"] = None
    # expression(status <> 'paid' OR paid_at IS NOT NULL): 7 paid without date, 2 paid with date.
    for i in range(650, 659):
        rows[i]["status"] = "paid"
        if i >= 657:
            rows[i]["paid_at"] = NOW
    # note: stays NULL everywhere except 2 rows (checks on an all-but-2 NULL column).
    rows[700]["note"] = "x"
    rows[701]["note"] = "y"
    return [tuple(r.values()) for r in rows]


ORDER_COLUMNS = "order_id, line_no, customer_id, status, amount, email, created_at, paid_at, note"


def make_db() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA shop")
    con.execute(
        "CREATE TABLE shop.orders (order_id INTEGER, line_no INTEGER, customer_id INTEGER, status VARCHAR, "
        "amount DOUBLE, email VARCHAR, created_at TIMESTAMP, paid_at TIMESTAMPTZ, note VARCHAR)"
    )
    rows = order_rows()
    for r in rows:
        assert len(r) == 9
    con.executemany("INSERT INTO shop.orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [_naive(r) for r in rows])
    # Parent with duplicated keys and a NULL key: must not multiply child rows nor match NULLs.
    con.execute("CREATE TABLE shop.customers (customer_id INTEGER, name VARCHAR)")
    con.executemany(
        "INSERT INTO shop.customers VALUES (?, ?)",
        [(i, f"c{i}") for i in range(1, 101)] + [(5, "dup"), (7, "dup"), (None, "nokey")],
    )
    con.execute('CREATE TABLE shop.empty_events (id INTEGER, "at" TIMESTAMP)')
    return con


def _naive(r: tuple[Any, ...]) -> tuple[Any, ...]:
    out = list(r)
    out[6] = out[6].replace(tzinfo=None)  # created_at is a naive TIMESTAMP (UTC by convention)
    return tuple(out)


RULES = """
version: 1
tables:
  - relation: shop.orders
    checks:
      - not_null: [order_id, customer_id, note]
      - unique: order_id
      - accepted_values: {column: status, values: [placed, shipped, completed, paid]}
      - range: {column: amount, min: 0, max: 100}
      - matches: {column: email, pattern: '^[a-z0-9]+@[a-z]+\\.[a-z]+$'}
      - relationships: {column: customer_id, to: {relation: shop.customers}, field: customer_id}
      - row_count: {min: 1, max: 5000}
      - row_count: {name: too_few, min: 2000}
      - freshness: {column: created_at, max_age: 4d}
      - freshness: {name: stale, column: created_at, max_age: 48h}
      - duplicates: {columns: [order_id, line_no], max_ratio: 0.01}
      - expression: {name: paid_orders_have_date, sql: "status <> 'paid' OR paid_at IS NOT NULL"}
  - relation: shop.empty_events
    checks:
      - row_count: {min: 1}
      - freshness: {column: at, max_age: 1d}
      - not_null: id
"""

EXPECTED = {
    # name: (failing_rows, affected_rows, status)
    "not_null(order_id)": (4, None, "fail"),
    "not_null(customer_id)": (5, None, "fail"),
    "not_null(note)": (998, None, "fail"),
    "unique(order_id)": (3, 7, "fail"),
    "accepted_values(status)": (2, 5, "fail"),
    "range(amount)": (5, None, "fail"),
    "matches(email)": (4, None, "fail"),
    "relationships(customer_id -> shop.customers.customer_id)": (6, None, "fail"),
    "row_count": (None, None, "pass"),
    "too_few": (None, None, "fail"),
    "freshness(created_at)": (None, None, "pass"),
    "stale": (None, None, "fail"),
    "duplicates(order_id, line_no)": (6, 10, "pass"),  # 6/1000 = 0.6% <= 1%
    "paid_orders_have_date": (7, None, "fail"),
}


@pytest.fixture(scope="module")
def db() -> Iterator[duckdb.DuckDBPyConnection]:
    con = make_db()
    yield con
    con.close()


@pytest.fixture(scope="module")
def report(db: duckdb.DuckDBPyConnection) -> QualityReport:
    return run_checks(parse_rules(RULES), DuckDBWarehouse(connection=db), samples=3, now=NOW)


def by_name(report: QualityReport, relation: str = "shop.orders") -> dict[str, CheckResult]:
    (table,) = [t for t in report.tables if t.relation == relation]
    return {c.name: c for c in table.checks}


def test_every_planted_violation_is_counted_exactly(report: QualityReport) -> None:
    got = by_name(report)
    assert set(got) == set(EXPECTED)
    for name, (failing, affected, status) in EXPECTED.items():
        c = got[name]
        assert (c.failing_rows, c.affected_rows, c.status) == (failing, affected, status), name
        assert c.total_rows == N, name
        assert c.message is None or c.status != "pass", name


def test_expected_counts_rederived_in_python() -> None:
    """The planted numbers above, recomputed from the rows with dbt's definitions (guards the fixture)."""
    rows = [dict(zip(ORDER_COLUMNS.split(", "), r, strict=True)) for r in order_rows()]
    ids = Counter(r["order_id"] for r in rows if r["order_id"] is not None)
    assert sum(1 for n in ids.values() if n > 1) == 3
    assert sum(n for n in ids.values() if n > 1) == 7
    accepted = {"placed", "shipped", "completed", "paid"}
    bad = [r["status"] for r in rows if r["status"] is not None and r["status"] not in accepted]
    assert (len(set(bad)), len(bad)) == (2, 5)
    keys = Counter((r["order_id"], r["line_no"]) for r in rows)
    assert sum(n - 1 for n in keys.values() if n > 1) == 6
    parents = set(range(1, 101))
    assert sum(1 for r in rows if r["customer_id"] is not None and r["customer_id"] not in parents) == 6


def test_metrics_thresholds_and_messages(report: QualityReport) -> None:
    got = by_name(report)
    assert got["row_count"].metric == N
    assert got["too_few"].message == "1000 rows, expected at least 2000"
    stale = got["stale"]
    assert stale.metric == pytest.approx(3 * 86400)  # newest created_at is exactly 3 days before NOW
    assert stale.threshold == {"max_age_s": 172800.0}
    assert got["duplicates(order_id, line_no)"].metric == pytest.approx(0.006)
    assert got["duplicates(order_id, line_no)"].threshold == {"max_failure_ratio": 0.01}
    assert got["unique(order_id)"].failing_unit == "values"
    assert got["unique(order_id)"].threshold == {"max_failures": 0}
    assert got["range(amount)"].metric == pytest.approx(0.005)


def test_empty_table(report: QualityReport) -> None:
    got = by_name(report, "shop.empty_events")
    assert got["row_count"].status == "fail" and got["row_count"].metric == 0
    assert got["freshness(at)"].status == "fail"
    assert "nothing to judge freshness by" in (got["freshness(at)"].message or "")
    assert (got["not_null(id)"].status, got["not_null(id)"].failing_rows, got["not_null(id)"].total_rows) == (
        "pass",
        0,
        0,
    )


def test_samples(report: QualityReport) -> None:
    got = by_name(report)
    top, *ties = got["unique(order_id)"].samples  # most-duplicated first; equal counts in any order
    assert top == {"order_id": 20, "n": 3}
    assert sorted(ties, key=lambda s: s["order_id"]) == [{"order_id": 10, "n": 2}, {"order_id": 30, "n": 2}]
    assert got["accepted_values(status)"].samples == [{"status": "bogus", "n": 3}, {"status": "lost", "n": 2}]
    assert len(got["not_null(customer_id)"].samples) == 3
    assert all(s["customer_id"] is None for s in got["not_null(customer_id)"].samples)
    assert {
        s["customer_id"] for s in got["relationships(customer_id -> shop.customers.customer_id)"].samples
    } <= {998, 999}
    assert set(got["relationships(customer_id -> shop.customers.customer_id)"].samples[0]) == set(
        ORDER_COLUMNS.split(", ")
    )
    assert all(s["amount"] in (-1.0, 101.0) for s in got["range(amount)"].samples)
    assert all(isinstance(s["created_at"], str) for s in got["matches(email)"].samples)  # JSON-safe
    assert got["row_count"].samples == [] and got["duplicates(order_id, line_no)"].samples == []


class CountingWarehouse(DuckDBWarehouse):
    """DuckDB that records the SQL it runs."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        super().__init__(connection=con)
        self.log: list[str] = []

    def execute(self, statement: Any) -> QueryResult:
        from pipewatch.warehouse.base import render

        self.log.append(render(statement, self.dialect))
        return super().execute(statement)


def test_samples_zero_runs_only_the_fused_statements_and_followups(db: duckdb.DuckDBPyConnection) -> None:
    wh = CountingWarehouse(db)
    rep = run_checks(parse_rules(RULES), wh, samples=0, now=NOW)
    # One statement per (relation, where) + one follow-up for the failing accepted_values count.
    statements = plan(parse_rules(RULES), "duckdb", samples=0).statements
    assert len(wh.log) == len(statements) + 1
    assert all(c.samples == [] for c in rep.checks)
    assert by_name(rep)["accepted_values(status)"].failing_rows == 2


def test_thresholds_and_severity(db: duckdb.DuckDBPyConnection) -> None:
    text = """
    version: 1
    tables:
      - relation: shop.orders
        checks:
          - not_null: {column: customer_id, max_failures: 5, name: at_limit}
          - not_null: {column: customer_id, max_failures: 4, name: over_limit}
          - not_null: {column: customer_id, max_failure_ratio: 0.005, name: ratio_at}
          - not_null: {column: customer_id, max_failure_ratio: 0.004, name: ratio_over}
          - not_null: {column: customer_id, max_failures: 100, max_failure_ratio: 0.001, name: either}
          - not_null: {column: customer_id, severity: warn, name: warned}
          - not_null: {column: order_id, severity: warn, max_failures: 10, name: warn_pass}
    """
    rep = run_checks(parse_rules(text), DuckDBWarehouse(connection=db), samples=0)
    status = {c.name: c.status for c in rep.checks}
    assert status == {
        "at_limit": "pass",
        "over_limit": "fail",
        "ratio_at": "pass",
        "ratio_over": "fail",
        "either": "fail",
        "warned": "warn",
        "warn_pass": "pass",
    }


def test_where_filters_and_one_statement_per_filter(db: duckdb.DuckDBPyConnection) -> None:
    text = """
    version: 1
    tables:
      - relation: shop.orders
        where: "amount >= 50"
        checks:
          - not_null: customer_id
          - unique: order_id
      - relation: shop.orders
        where: "amount >= 50"
        checks:
          - row_count: {min: 1}
      - relation: shop.orders
        where: "status = 'bogus'"
        checks:
          - row_count: {name: bogus_rows, max: 1}
          - relationships: {column: customer_id, to: {relation: shop.customers}}
    """
    rs = parse_rules(text)
    assert len(plan(rs, "duckdb").statements) == 2
    wh = CountingWarehouse(db)
    rep = run_checks(rs, wh, samples=0)
    assert len(wh.log) == len(plan(rs, "duckdb").statements)
    got = {c.name: c for c in rep.checks}
    rows = [dict(zip(ORDER_COLUMNS.split(", "), r, strict=True)) for r in order_rows()]
    high = [r for r in rows if r["amount"] is not None and r["amount"] >= 50]
    assert got["row_count"].metric == len(high)
    assert got["not_null(customer_id)"].failing_rows == sum(1 for r in high if r["customer_id"] is None)
    assert got["not_null(customer_id)"].total_rows == len(high)
    ids = Counter(r["order_id"] for r in high if r["order_id"] is not None)
    assert got["unique(order_id)"].failing_rows == sum(1 for n in ids.values() if n > 1)
    assert got["bogus_rows"].metric == 3 and got["bogus_rows"].status == "fail"
    assert got["relationships(customer_id -> shop.customers.customer_id)"].failing_rows == 0


def test_one_bad_check_does_not_sink_the_others(db: duckdb.DuckDBPyConnection) -> None:
    text = """
    version: 1
    tables:
      - relation: shop.orders
        checks:
          - not_null: [order_id, customer_id]
          - unique: order_id
          - expression: {name: overflows, sql: "CAST(amount * 1e12 AS INTEGER) > 0"}
          - range: {column: amount, min: 0, max: 100}
          - expression: {name: string_math, sql: "CAST(status AS INTEGER) + 1 > 0"}
          - expression: {name: no_such_column, sql: "nope > 1"}
          - accepted_values: {column: status, values: [placed, shipped, completed, paid]}
          - duplicates: {columns: [order_id, line_no]}
      - relation: shop.missing_table
        checks:
          - not_null: a
      - relation: shop.customers
        checks:
          - unique: customer_id
    """
    wh = CountingWarehouse(db)
    rep = run_checks(parse_rules(text), wh, samples=0)
    got = {c.check_id: c for c in rep.checks}
    errors = {k: v.message for k, v in got.items() if v.status == "error"}
    assert set(errors) == {
        "shop.orders::overflows",
        "shop.orders::string_math",
        "shop.orders::no_such_column",
        "shop.missing_table::not_null(a)",
    }
    assert "out of range" in (errors["shop.orders::overflows"] or "").lower()
    assert "convert" in (errors["shop.orders::string_math"] or "").lower()
    assert "nope" in (errors["shop.orders::no_such_column"] or "")
    assert "missing_table" in (errors["shop.missing_table::not_null(a)"] or "")
    assert got["shop.orders::not_null(order_id)"].failing_rows == 4
    assert got["shop.orders::unique(order_id)"].failing_rows == 3
    assert got["shop.orders::range(amount)"].failing_rows == 5
    assert got["shop.orders::accepted_values(status)"].failing_rows == 2
    assert got["shop.orders::duplicates(order_id, line_no)"].failing_rows == 6
    assert got["shop.customers::unique(customer_id)"].failing_rows == 2
    # Bisection: far fewer queries than one per check would need after the fused one fails.
    assert len(wh.log) < 3 + 2 * 9


def test_a_parent_field_that_does_not_exist_is_an_error_not_a_pass(db: duckdb.DuckDBPyConnection) -> None:
    # shop.customers has no `order_id`; a bare name in the parent lookup would bind to the child's column
    # (DuckDB resolves subqueries laterally) and find every key: the check must error, and the gate fail.
    text = """
    version: 1
    tables:
      - relation: shop.orders
        checks:
          - relationships: {column: order_id, to: {relation: shop.customers}, field: order_id}
          - relationships: {column: customer_id, to: {relation: shop.customers}, field: customer_id}
    """
    rep = run_checks(parse_rules(text), DuckDBWarehouse(connection=db), samples=0)
    got = {c.check_id.split("::")[1]: c for c in rep.checks}
    assert got["relationships(order_id -> shop.customers.order_id)"].status == "error"
    assert got["relationships(customer_id -> shop.customers.customer_id)"].failing_rows == 6


# --- dbt equivalence: dbt's own test SQL on the same tables ------------------------------------------

DBT_QUERIES = {
    # dbt-core generic tests (global_project/macros/generic_test_sql), rendered for these tables.
    "unique(order_id)": """
        select order_id as unique_field, count(*) as n_records from shop.orders
        where order_id is not null group by order_id having count(*) > 1""",
    "not_null(customer_id)": "select customer_id from shop.orders where customer_id is null",
    "accepted_values(status)": """
        with all_values as (select status as value_field, count(*) as n_records from shop.orders group by status)
        select * from all_values where value_field not in ('placed','shipped','completed','paid')""",
    "relationships(customer_id -> shop.customers.customer_id)": """
        with child as (select customer_id as from_field from shop.orders where customer_id is not null),
        parent as (select customer_id as to_field from shop.customers)
        select from_field from child left join parent on child.from_field = parent.to_field
        where parent.to_field is null""",
    # dbt-utils generic tests.
    "paid_orders_have_date": "select 1 from shop.orders where not(status <> 'paid' OR paid_at IS NOT NULL)",
    "range(amount)": """
        with meet_condition as (select * from shop.orders),
        validation_errors as (select * from meet_condition where 1 = 2
            or not amount >= 0 or not amount <= 100)
        select * from validation_errors""",
    "unique_combination": """
        with validation_errors as (select order_id, line_no from shop.orders group by order_id, line_no
            having count(*) > 1) select * from validation_errors""",
}


def test_counts_equal_dbt_failures(db: duckdb.DuckDBPyConnection, report: QualityReport) -> None:
    got = by_name(report)
    for name, sql in DBT_QUERIES.items():
        (dbt_failures,) = db.execute(f"select count(*) from ({sql}) dbt_internal_test").fetchone()  # type: ignore[misc]
        if name == "unique_combination":
            # dbt-utils unique_combination_of_columns = pipewatch Unique over both columns, NULL keys grouped.
            from pipewatch.rules.spec import TableRef, TableSpec, Unique

            check = Unique(name="ucc", columns=("order_id", "line_no"), ignore_null_keys=False)
            spec = TableSpec(TableRef(("shop", "orders"), "shop.orders"), (check,))
            rep = run_checks(_ruleset(spec), DuckDBWarehouse(connection=db), samples=0)
            assert rep.checks[0].failing_rows == dbt_failures == 4
            continue
        assert got[name].failing_rows == dbt_failures, name


def _ruleset(*specs: Any) -> Any:
    from pipewatch.rules.spec import RuleSet

    return RuleSet(tables=list(specs))
