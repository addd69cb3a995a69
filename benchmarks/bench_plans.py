"""The evidence for planning per engine on DuckDB (issue 12): the same 12 checks, queries only.

bench_checks.py times whole processes, where at a few million rows the interpreter and imports weigh
as much as the queries. This script runs, in one process on one read-only connection, the shapes a
planner can give those checks on the data bench_checks.py generates, interleaved, `--runs` times:

- pipewatch's DuckDB plan (`warehouse.dialects`: `group_each_key_set`, `mark_join`): one statement, a
  GROUP BY per key set, `duplicates(order_id, line_no)` grouping only the rows of the order_ids
  `unique(order_id)` finds duplicated, the parent keys looked up with `NOT x IN (subquery)`;
- the same without narrowing (each key set grouped over every row);
- the plan pipewatch makes for every other engine, run on DuckDB: one GROUPING SETS pass, LEFT JOINs
  to the parents' distinct keys;
- pipewatch's DuckDB plan cut into its passes, run as statements of their own one after the other and
  concurrently on cursors of their own;
- one query per check (benchmarks/checks/per_check.sql) and the expert's single SELECT
  (benchmarks/checks/handwritten.sql).

Prints the best and median time of each and the ratio of the medians to the hand-written SELECT.
Usage: `.venv/bin/python benchmarks/bench_plans.py [--rows 10000000] [--customers 1000000] [--runs 7]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_checks import CHECKS, ensure_data, sql_queries

from pipewatch.rules import load_rules, plan
from pipewatch.rules.grouping import Grouping
from pipewatch.warehouse import dialects


def _planned(*, narrow: bool = True, **facts: bool) -> list[str]:
    """The benchmark's statements as pipewatch plans them for DuckDB with these engine facts changed
    (and without narrowing key sets when `narrow` is false)."""
    duck = dialects.engine_of("duckdb")
    changed = dataclasses.replace(duck, **facts)
    saved, saved_narrow = dialects.ENGINES, Grouping.narrow
    dialects.ENGINES = tuple(changed if e is duck else e for e in saved)
    if not narrow:
        Grouping.narrow = lambda *_: None  # type: ignore[method-assign]
    try:
        return [st.sql() for st in plan(load_rules(CHECKS / "rules.yml"), "duckdb", samples=0).statements]
    finally:
        dialects.ENGINES, Grouping.narrow = saved, saved_narrow  # type: ignore[method-assign]


def _passes(statement: str) -> list[str]:
    """A fused statement's passes as statements of their own (each with the CTEs it reads)."""
    tree = sqlglot.parse_one(statement, read="duckdb")
    with_ = tree.args.get("with_")
    parts = [tree.args["from_"].this, *(j.this for j in tree.args.get("joins") or [])]
    out = []
    for sub in parts:
        select = sub.this.copy()
        if with_ is not None and any(t.name.startswith("pw__") for t in select.find_all(exp.Table)):
            select.set("with_", with_.copy())
        out.append(select.sql(dialect="duckdb"))
    return out


def _shapes(con: duckdb.DuckDBPyConnection) -> dict[str, Callable[[], object]]:
    """Each plan shape as a function that runs it to completion on `con`."""
    ours = _planned()
    passes = [p for st in ours for p in _passes(st)]
    per_check = sql_queries(CHECKS / "per_check.sql")
    hand = sql_queries(CHECKS / "handwritten.sql")

    def in_turn(queries: list[str]) -> Callable[[], object]:
        return lambda: [con.execute(q).fetchall() for q in queries]

    def at_once(queries: list[str]) -> Callable[[], object]:
        def run(sql: str) -> object:
            cursor = con.cursor()
            try:
                return cursor.execute(sql).fetchall()
            finally:
                cursor.close()

        def all_of_them() -> object:
            with ThreadPoolExecutor(max_workers=len(queries)) as pool:
                return list(pool.map(run, queries))

        return all_of_them

    return {
        "pipewatch's DuckDB plan (1 statement)": in_turn(ours),
        "  the same, key sets not narrowed": in_turn(_planned(narrow=False)),
        "  other engines' plan: GROUPING SETS, LEFT JOIN": in_turn(
            _planned(group_each_key_set=False, mark_join=False)
        ),
        f"  its passes one after the other ({len(passes)})": in_turn(passes),
        f"  its passes concurrently ({len(passes)} cursors)": at_once(passes),
        f"one query per check ({len(per_check)})": in_turn(per_check),
        "hand-written single SELECT": in_turn(hand),
    }


def main() -> int:
    """Build or reuse bench_checks.py's data, time every shape interleaved, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    data = ensure_data(args.rows, args.customers)
    con = duckdb.connect(str(data.database), read_only=True)
    con.execute("SET enable_progress_bar = false")
    shapes = _shapes(con)
    times: dict[str, list[float]] = {name: [] for name in shapes}
    for run in shapes.values():  # warm the buffer pool once
        run()
    load_before = os.getloadavg()[0]
    for r in range(args.runs):
        names = list(shapes)
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            shapes[name]()
            times[name].append(time.perf_counter() - start)
    bound = statistics.median(times["hand-written single SELECT"])
    print(
        f"{args.rows:,} orders, {args.customers:,} customers; queries only, one process, {args.runs} runs; "
        f"load {load_before:.1f} before, {os.getloadavg()[0]:.1f} after ({os.cpu_count()} cores)"
    )
    print(f"  {'plan shape':<52}{'best s':>8}{'median s':>10}{'x hand':>8}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"  {name:<52}{min(samples):>8.3f}{median:>10.3f}{median / bound:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
