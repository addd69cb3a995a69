"""The fused planner: one statement per (relation, where), each column read once, golden SQL per dialect.

Golden files live in tests/data/golden_sql/<dialect>.sql; regenerate them after an intended change with
`PIPEWATCH_UPDATE_GOLDEN=1 pytest tests/test_rules_plan.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from pipewatch.rules import load_rules, parse_rules, plan, run_checks
from pipewatch.rules.planner import Plan
from pipewatch.warehouse.duckdb import DuckDBWarehouse

GOLDEN = Path(__file__).parent / "data" / "golden_sql"
DIALECTS = ["duckdb", "postgres", "snowflake", "bigquery", "databricks", "redshift", "trino"]
SEPARATOR = "\n;\n"


#: The checked table's columns as a warehouse would list them for a row sample (the checked one moves first).
SAMPLED_COLUMNS = ("order_id", "email", "customer_id")


def golden_plan(dialect: str) -> Plan:
    return plan(load_rules(GOLDEN / "rules.yml", dialect=dialect), dialect, samples=5)


def render(dialect: str) -> str:
    """Every statement of the sample plan, plus the follow-up and sample queries a failing run adds."""
    p = golden_plan(dialect)
    parts = [f"-- fused: {st.target.ref.relation}\n{st.sql(pretty=True)}" for st in p.statements]
    for st in p.statements:
        for pc in st.checks:
            cc = pc.compiled
            if cc.followup is not None:
                parts.append(f"-- follow-up: {pc.check.name}\n{_sql(cc.followup(5), dialect)}")
            if pc.check.type not in ("unique", "relationships", "matches"):
                continue
            if cc.sample_query is not None:
                parts.append(f"-- samples: {pc.check.name}\n{_sql(cc.sample_query(5), dialect)}")
            if cc.sample_rows is not None:
                sampled = cc.sample_rows(5, SAMPLED_COLUMNS)
                parts.append(f"-- samples: {pc.check.name}\n{_sql(sampled, dialect)}")
    return SEPARATOR.join(parts) + "\n"


def _sql(e: exp.Expr, dialect: str) -> str:
    return e.sql(dialect=dialect, pretty=True, unsupported_level=sqlglot.ErrorLevel.RAISE)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_golden_sql(dialect: str) -> None:
    text = render(dialect)
    path = GOLDEN / f"{dialect}.sql"
    if os.environ.get("PIPEWATCH_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"no golden {path.name}: run with PIPEWATCH_UPDATE_GOLDEN=1"
    assert text == path.read_text()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_golden_sql_parses_back_in_its_dialect(dialect: str) -> None:
    for chunk in (GOLDEN / f"{dialect}.sql").read_text().split(SEPARATOR):
        parsed = sqlglot.parse(chunk, read=dialect)
        statements = [s for s in parsed if s is not None]
        assert len(statements) == 1
        assert isinstance(statements[0], exp.Select)
        # Stable: what sqlglot reads back it writes out the same way.
        again = sqlglot.parse_one(statements[0].sql(dialect=dialect), read=dialect)
        assert again.sql(dialect=dialect) == statements[0].sql(dialect=dialect)


def test_dialect_differences_are_visible_in_the_goldens() -> None:
    sql = {d: (GOLDEN / f"{d}.sql").read_text() for d in DIALECTS}
    assert "REGEXP_MATCHES(" in sql["duckdb"]
    assert '"email" ~ ' in sql["postgres"] and '"email" ~ ' in sql["redshift"]
    assert "REGEXP_INSTR(" in sql["snowflake"]  # REGEXP_LIKE would full-match on Snowflake
    assert "REGEXP_CONTAINS(" in sql["bigquery"]
    assert "REGEXP_LIKE(" in sql["trino"] and "REGEXP_LIKE(" in sql["databricks"]
    assert '"ANALYTICS"."MAIN"."ORDERS"' in sql["snowflake"]  # unquoted names fold to upper case there
    assert "ARG_MAX(" in sql["duckdb"]  # duplicated-key samples ride in the fused statement
    assert "ARG_MAX(" not in sql["postgres"] and "HAVING" in sql["postgres"]


def test_one_statement_per_relation_and_filter() -> None:
    p = golden_plan("postgres")
    assert len(p.statements) == 2
    orders, customers = p.statements
    assert orders.parts == ("flat", "grouped")
    assert len(orders.checks) == 11 and len(customers.checks) == 3
    for st in p.statements:
        tree = st.expression
        assert isinstance(tree, exp.Select)
        checked = st.target.ref.parts[-1]
        reads = [t for t in tree.find_all(exp.Table) if t.name == checked]
        assert len(reads) == len(st.parts)  # one read of the table per part: flat and grouped
    parent_reads = [t for t in orders.expression.find_all(exp.Table) if t.name == "customers"]
    assert len(parent_reads) == 1  # the relationships check joins the parent's distinct keys once


def test_scan_counts_each_column_once_per_filter() -> None:
    counts = golden_plan("postgres").scan_counts()
    assert counts["analytics.main.orders"] == {
        "amount": 1,
        "created_at": 2,  # the `where` column is read by both the flat and the grouped part
        "customer_id": 1,
        "email": 1,
        "line_no": 1,
        "order_id": 1,  # not_null(order_id) is computed from the unique/duplicates groups
        "paid_at": 1,
        "status": 1,
    }
    # customer_id: once for the customers' own checks, once as the (unfiltered) relationships parent.
    assert counts["analytics.main.customers"] == {"customer_id": 2, "signup_date": 1}


def test_duckdb_groups_each_key_set_in_a_pass_of_its_own_and_looks_parent_keys_up_without_a_join() -> None:
    (orders, _) = golden_plan("duckdb").statements
    assert orders.parts == ("flat", "grouped1", "grouped2")
    sql = orders.sql()
    assert "GROUPING" not in sql and "LEFT JOIN" not in sql
    # duplicates(order_id, line_no) groups only the rows of duplicated order_ids, which unique(order_id)
    # finds: its groups are computed once, as a CTE both passes read.
    assert sql.count("AS MATERIALIZED") == 1 and "EXISTS" in sql
    assert 'NOT "customer_id" IN (SELECT "pw__p0"."customer_id" FROM' in sql
    counts = golden_plan("duckdb").scan_counts()["analytics.main.orders"]
    # The key sets share order_id, and each grouped pass reads it and the `where` column.
    assert counts["order_id"] == 2 and counts["created_at"] == 3 and counts["line_no"] == 1


def test_without_a_filter_joins_get_their_own_pass_and_every_column_is_read_once() -> None:
    rs = parse_rules(
        """
version: 1
tables:
  - relation: orders
    checks:
      - not_null: [order_id, customer_id, status]
      - unique: order_id
      - duplicates: {columns: [order_id, line_no]}
      - relationships: {column: customer_id, to: {relation: customers}}
      - relationships: {column: product_id, to: {relation: products}, field: id}
      - accepted_values: {column: status, values: [a, b]}
      - expression: "amount >= 0"
      - row_count: {min: 1}
"""
    )
    (st,) = plan(rs, "postgres").statements
    assert st.parts == ("flat", "joined", "grouped")
    assert st.scans == {
        "orders": {"order_id": 1, "line_no": 1, "customer_id": 1, "product_id": 1, "status": 1, "amount": 1},
        "customers": {"customer_id": 1},
        "products": {"id": 1},
    }
    # not_null(customer_id) rides in the joined pass, not_null(order_id) over the groups.
    flat_sql = st.expression.args["from_"].sql()  # the first pass: FROM (flat) AS pw__flat
    assert "pw__flat" in flat_sql and "status" in flat_sql
    assert "customer_id" not in flat_sql and "order_id" not in flat_sql


def test_shared_measures_and_key_sets() -> None:
    rs = parse_rules(
        """
version: 1
tables:
  - relation: t
    checks:
      - unique: a
      - unique: {column: a, name: again_unique, severity: warn}
      - duplicates: {columns: [a]}
      - not_null: a
      - accepted_values: {column: a, values: [1, 2]}
      - relationships: {column: b, to: {relation: p}, field: id}
      - relationships: {column: b, to: {relation: p}, field: id, name: again}
      - relationships: {column: c, to: {relation: p}, field: id}
"""
    )
    (st,) = plan(rs, "duckdb", samples=0).statements
    inner = [s for s in st.expression.find_all(exp.Select) if s.args.get("group")]
    group_selects = [
        s for s in inner if s.find(exp.GroupingSets) is None and s.args["from_"].this.name == "t"
    ]
    assert len(group_selects) == 1  # unique + duplicates on the same key share one plain GROUP BY
    joins = [t for t in st.expression.find_all(exp.Table) if t.name == "p"]
    assert len(joins) == 2  # one join per distinct (parent, field, child column)
    assert st.checks[0].outputs == st.checks[1].outputs  # the same measures are computed once
    assert st.checks[0].outputs["affected"] != st.checks[2].outputs["affected"]  # NULL keys differ
    assert st.scans["t"] == {"a": 1, "b": 1, "c": 1}


def test_the_duckdb_golden_plan_runs(tmp_path: Path) -> None:
    con = duckdb.connect(":memory:")
    con.execute(f"ATTACH '{tmp_path / 'analytics.duckdb'}' AS analytics")
    con.execute(
        "CREATE TABLE analytics.main.orders (order_id INT, line_no INT, customer_id INT, status VARCHAR, "
        "amount DOUBLE, email VARCHAR, created_at TIMESTAMP, paid_at TIMESTAMP)"
    )
    con.execute("CREATE TABLE analytics.main.customers (customer_id INT, signup_date DATE)")
    con.execute(
        "INSERT INTO analytics.main.orders VALUES (1, 1, 1, 'placed', 5, 'a@b.co', TIMESTAMP '2026-02-01', NULL),"
        "(1, 1, 9, 'lost', -5, 'nope', TIMESTAMP '2026-02-02', NULL), (2, 1, NULL, 'placed', 1, NULL, "
        "TIMESTAMP '2025-01-01', NULL)"
    )
    con.execute("INSERT INTO analytics.main.customers VALUES (1, DATE '2021-01-01'), (1, DATE '2019-05-05')")
    rep = run_checks(load_rules(GOLDEN / "rules.yml"), DuckDBWarehouse(connection=con), samples=5)
    got = {c.check_id.split("::")[1]: (c.status, c.failing_rows) for c in rep.checks}
    assert got["unique(order_id)"] == ("fail", 1)
    assert got["accepted_values(status)"] == ("fail", 1)
    assert got["range(amount)"] == ("fail", 1)
    assert got["matches(email)"] == ("fail", 1)
    assert got["relationships(customer_id -> analytics.main.customers.customer_id)"] == ("fail", 1)
    assert got["duplicates(order_id, line_no)"] == ("fail", 1)
    assert got["unique(customer_id)"] == ("fail", 1)
    assert got["range(signup_date)"] == ("fail", 1)
    assert all(c.total_rows == 2 for c in rep.tables[0].checks)  # the 2025 order is filtered out


def test_duckdb_groups_each_key_set_billed_warehouses_group_them_in_one_pass() -> None:
    for dialect in DIALECTS:
        orders = golden_plan(dialect).statements[0]
        # flat (with the join: a `where`) and grouped; on DuckDB a grouped pass per key set
        assert orders.parts == (
            ("flat", "grouped1", "grouped2") if dialect == "duckdb" else ("flat", "grouped")
        )
        assert ("GROUPING SETS" in orders.sql()) is (dialect != "duckdb"), dialect


NARROWING = """
version: 1
tables:
  - relation: c
    checks:
      - duplicates: {columns: [a, b, k]}
      - unique: a
      - duplicates: {columns: [a, b]}
      - not_null: b
"""


def test_a_key_set_containing_another_groups_only_the_rows_the_smaller_one_finds_duplicated() -> None:
    import duckdb

    from pipewatch.warehouse.duckdb import DuckDBWarehouse

    (st,) = plan(parse_rules(NARROWING), "duckdb", samples=0).statements
    # (a, b, k) is narrowed by (a, b); not_null(b) rides over the groups of (a, b), which must then see
    # every group and is not narrowed. The groups of (a, b) are computed once, as a CTE.
    sql = st.sql()
    assert sql.count("AS MATERIALIZED") == 1 and sql.count("EXISTS") == 1, sql
    assert st.parts == ("flat", "grouped1", "grouped2", "grouped3")
    con = duckdb.connect()
    rows = [
        (1, 1, 1),
        (1, 1, 1),
        (1, 1, 2),
        (1, 2, 1),
        (None, None, 1),
        (None, None, 1),
        (None, 3, 1),
        (2, 2, 2),
    ]
    con.execute("CREATE TABLE c (a INTEGER, b INTEGER, k INTEGER)")
    con.executemany("INSERT INTO c VALUES (?, ?, ?)", rows)
    report = run_checks(parse_rules(NARROWING), DuckDBWarehouse(connection=con), samples=0)
    assert {c.name: c.failing_rows for c in report.checks} == {
        "duplicates(a, b, k)": 2,  # (1,1,1) twice, (NULL,NULL,1) twice: NULL keys group together
        "unique(a)": 1,  # a = 1 four times; NULL keys are not counted, as in dbt
        "duplicates(a, b)": 3,  # (1,1) x3: 2 extra rows, (NULL,NULL) x2: 1
        "not_null(b)": 2,
    }


@pytest.mark.parametrize("dialect", DIALECTS)
def test_what_runs_is_what_a_copying_render_gives(dialect: str) -> None:
    # `Statement.run_sql` renders without sqlglot's defensive copy (the trees are the run's own): the
    # SQL must be the same as a render of an untouched copy.
    for st in golden_plan(dialect).statements:
        expected = _sql(st.expression.copy(), dialect)
        assert st.run_sql() == expected
