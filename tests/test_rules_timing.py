"""Fused plan vs one query per check: same counts (test), and DuckDB timings (run this file as a script).

    .venv/bin/python tests/test_rules_timing.py [rows [threads]]   # default 1,000,000 orders

prints, for the 12 checks of the issue's benchmark, the median wall time of: pipewatch with
`--samples 0` and with samples, one query per check (dbt's test SQL), and a hand-written single
SELECT (the expert's lower bound), plus the plan's per-column scan counts.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import duckdb

if __name__ == "__main__":  # run as a script from anywhere
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipewatch.rules import parse_rules, plan, run_checks
from pipewatch.rules.spec import RuleSet
from pipewatch.warehouse.duckdb import DuckDBWarehouse

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)

RULES = r"""
version: 1
tables:
  - relation: orders
    checks:
      - not_null: [order_id, customer_id]
      - unique: order_id
      - accepted_values: {column: status, values: [placed, shipped, completed, returned]}
      - range: {column: amount, min: 0, max: 100000}
      - range: {column: qty, min: 1, max: 40}
      - matches: {column: email, pattern: '^[^@ ]+@[^@ ]+\.[a-z]+$'}
      - relationships: {column: customer_id, to: {relation: customers}, field: customer_id}
      - row_count: {min: 1}
      - freshness: {column: created_at, max_age: 48h}
      - duplicates: {columns: [order_id, line_no], max_ratio: 0.01}
      - expression: {name: paid_orders_have_date, sql: "status <> 'returned' OR paid_at IS NOT NULL"}
"""

#: One query per check, as dbt's generic tests write them; each returns the `failures` count.
PER_CHECK = {
    "not_null(order_id)": "select count(*) from orders where order_id is null",
    "not_null(customer_id)": "select count(*) from orders where customer_id is null",
    "unique(order_id)": "select count(*) from (select order_id from orders where order_id is not null "
    "group by order_id having count(*) > 1)",
    "accepted_values(status)": "select count(*) from (select status from orders group by status) "
    "where status not in ('placed','shipped','completed','returned')",
    "range(amount)": "select count(*) from orders where not amount >= 0 or not amount <= 100000",
    "range(qty)": "select count(*) from orders where not qty >= 1 or not qty <= 40",
    "matches(email)": r"select count(*) from orders where not regexp_matches(email, '^[^@ ]+@[^@ ]+\.[a-z]+$')",
    "relationships(customer_id -> customers.customer_id)": "select count(*) from orders c left join customers p "
    "on c.customer_id = p.customer_id where c.customer_id is not null and p.customer_id is null",
    "row_count": "select count(*) from orders",
    "freshness(created_at)": "select max(created_at) from orders",
    "duplicates(order_id, line_no)": "select coalesce(sum(n - 1), 0) from (select order_id, line_no, count(*) n "
    "from orders group by order_id, line_no having count(*) > 1)",
    "paid_orders_have_date": "select count(*) from orders where not (status <> 'returned' or paid_at is not null)",
}

HAND_WRITTEN = r"""
select count(*), count(*) - count(order_id), count(*) - count(customer_id),
  count(case when status not in ('placed','shipped','completed','returned') then 1 end),
  count(case when amount < 0 or amount > 100000 then 1 end), count(case when qty < 1 or qty > 40 then 1 end),
  count(case when not regexp_matches(email, '^[^@ ]+@[^@ ]+\.[a-z]+$') then 1 end),
  count(case when o.customer_id is not null and p.k is null then 1 end), max(created_at),
  count(case when not (status <> 'returned' or paid_at is not null) then 1 end),
  (select count(*) from (select order_id from orders where order_id is not null group by 1 having count(*) > 1)),
  (select sum(n - 1) from (select order_id, line_no, count(*) n from orders group by 1, 2 having count(*) > 1))
from orders o left join (select customer_id k from customers group by 1) p on o.customer_id = p.k
"""


def make_tables(con: duckdb.DuckDBPyConnection, rows: int) -> None:
    """`orders` (rows) and `customers` (rows / 10) with planted violations of every kind."""
    con.execute(
        f"""
        create or replace table customers as select i as customer_id from range({rows // 10}) t(i);
        create or replace table orders as select
          case when i % 100000 = 7 then null when i % 50000 = 3 then i - 1 else i end as order_id,
          (i % 3)::int as line_no,
          case when i % 1000 = 0 then null else (i * 7919) % ({rows // 10} + 50) end as customer_id,
          case i % 4 when 0 then 'placed' when 1 then 'shipped' when 2 then 'completed'
            else (case when i % 997 = 0 then 'bogus' else 'returned' end) end as status,
          ((i * 31) % 100000)::double - (case when i % 5000 = 0 then 200000 else 0 end) as amount,
          (i % 50)::int as qty,
          case when i % 777 = 0 then 'bad email' else 'u' || i || '@ex.com' end as email,
          timestamp '2026-02-27' + to_seconds(i % 86400) as created_at,
          case when i % 4 = 3 and i % 1001 <> 0 then timestamp '2026-02-28' else null end as paid_at
        from range({rows}) t(i);
        """
    )


def rules() -> RuleSet:
    return parse_rules(RULES)


def per_check_counts(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    return {name: con.execute(sql).fetchone()[0] for name, sql in PER_CHECK.items()}  # type: ignore[index]


def test_fused_plan_counts_equal_one_query_per_check() -> None:
    con = duckdb.connect(":memory:")
    make_tables(con, 100_000)
    report = run_checks(rules(), DuckDBWarehouse(connection=con), samples=0, now=NOW)
    assert len(plan(rules(), "duckdb").statements) == 1
    expected = per_check_counts(con)
    for c in report.checks:
        if c.type == "row_count":
            assert c.metric == expected[c.name]
        elif c.type == "freshness":
            assert c.metric == (NOW - expected[c.name].replace(tzinfo=timezone.utc)).total_seconds()  # type: ignore[attr-defined]
        else:
            assert c.failing_rows == expected[c.name], c.name
    assert sum(1 for c in report.checks if c.status != "pass") >= 9  # violations are planted


def main(rows: int, reps: int = 7, threads: int | None = None) -> None:
    """Time each way round-robin (a shared machine's load shifts hit every way alike)."""
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    make_tables(con, rows)
    wh = DuckDBWarehouse(connection=con)
    rs = rules()
    runs: dict[str, Callable[[], object]] = {
        "hand-written single SELECT": lambda: con.execute(HAND_WRITTEN).fetchall(),
        "pipewatch --samples 0": lambda: run_checks(rs, wh, samples=0, now=NOW),
        "pipewatch --samples 5": lambda: run_checks(rs, wh, samples=5, now=NOW),
        "one query per check": lambda: per_check_counts(con),
    }
    for fn in runs.values():  # warm up
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(reps):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    floor = statistics.median(times["hand-written single SELECT"])
    (threads_used,) = con.execute("SELECT current_setting('threads')").fetchone()  # type: ignore[misc]
    print(f"{rows:,} orders, {rows // 10:,} customers, DuckDB {duckdb.__version__}, {threads_used} threads")
    print(f"  {'':28s} {'median':>8s} {'min':>8s}  median/hand-written")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:28s} {med:7.3f}s {min(ts):7.3f}s  {med / floor:5.2f}x")
    print("scan counts per column:", plan(rs, "duckdb").scan_counts())


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000,
        threads=int(sys.argv[2]) if len(sys.argv) > 2 else None,
    )
