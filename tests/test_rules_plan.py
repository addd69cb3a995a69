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
    p = golden_plan("duckdb")
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
    counts = golden_plan("duckdb").scan_counts()
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
    (st,) = plan(rs, "duckdb").statements
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


def test_duckdb_runs_a_tables_passes_as_separate_statements_billed_warehouses_fuse_them() -> None:
    for dialect in DIALECTS:
        statements = golden_plan(dialect).statements
        orders = statements[0]
        assert len(orders.passes) == len(orders.parts) == 2  # flat (with the join: a `where`) and grouped
        assert orders.split is (dialect == "duckdb"), dialect
    assert (
        not golden_plan("bigquery").statements[0].split and not golden_plan("snowflake").statements[0].split
    )


def test_split_passes_give_the_fused_statements_results() -> None:
    import duckdb

    from pipewatch.warehouse.duckdb import DuckDBWarehouse

    con = duckdb.connect()
    con.execute("CREATE TABLE p AS SELECT * FROM (VALUES (1), (2)) t(id)")
    con.execute(
        "CREATE TABLE c AS SELECT * FROM (VALUES (1, 1, 'a'), (1, 3, NULL), (2, NULL, 'b'), (3, 2, 'b')) t(id, pid, s)"
    )
    text = (
        "version: 1\ntables:\n  - relation: c\n    checks:\n      - unique: id\n      - not_null: s\n"
        "      - relationships: {column: pid, to: {relation: p}, field: id}\n"
    )
    rules = parse_rules(text)
    split = run_checks(rules, DuckDBWarehouse(connection=con), samples=0)
    (st,) = plan(rules, "duckdb", samples=0).statements
    assert st.split and len(st.passes) == 3
    fused = DuckDBWarehouse(connection=con).execute(st.expression).rows[0]
    assert [c.failing_rows for c in split.checks] == [1, 1, 1]
    assert fused[st.total] == split.checks[0].total_rows == 4


@pytest.mark.parametrize("dialect", DIALECTS)
def test_what_runs_is_what_a_copying_render_gives(dialect: str) -> None:
    # `Statement.runs` renders without sqlglot's defensive copy (the trees are the run's own): the
    # SQL must be the same as a render of untouched copies, for the fused and the split shape alike.
    for split in (False, True):
        for st in golden_plan(dialect).statements:
            st.split = split and len(st.passes) > 1
            expected = (
                [_sql(p.copy(), dialect) for p in st.passes]
                if st.split
                else [_sql(st.expression.copy(), dialect)]
            )
            assert list(st.runs()) == expected
