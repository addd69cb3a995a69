"""DuckDB's plan for key sets (a GROUP BY each, larger sets narrowed by smaller ones, parent keys looked
up without a join) counts exactly what the plan of every other engine counts (one GROUPING SETS pass,
LEFT JOINs to the parents' distinct keys), on random tables with NULLs and random key sets.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipewatch.rules import parse_rules, run_checks
from pipewatch.warehouse import dialects
from pipewatch.warehouse.duckdb import DuckDBWarehouse

COLUMNS = ["a", "b", "c"]
values = st.one_of(st.none(), st.integers(0, 2))
rows = st.lists(st.tuples(values, values, values), max_size=14)
key_sets = st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=3, unique=True)
checks = st.one_of(
    key_sets.map(lambda ks: ("duplicates", {"columns": ks})),
    st.sampled_from(COLUMNS).map(lambda c: ("unique", {"column": c})),
    st.sampled_from(COLUMNS).map(lambda c: ("not_null", {"column": c})),
    st.sampled_from(COLUMNS).map(
        lambda c: ("relationships", {"column": c, "to": {"relation": "p"}, "field": "k"})
    ),
)


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute("CREATE TABLE t (a INTEGER, b INTEGER, c INTEGER)")
    connection.execute("CREATE TABLE p AS SELECT * FROM (VALUES (0), (1), (NULL)) v(k)")
    yield connection
    connection.close()


def _counts(con: duckdb.DuckDBPyConnection, text: str) -> dict[str, Any]:
    report = run_checks(parse_rules(text), DuckDBWarehouse(connection=con), samples=3)
    return {c.check_id: (c.status, c.failing_rows, c.affected_rows, c.total_rows) for c in report.checks}


def _as_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plan for DuckDB as for any other engine: one GROUPING SETS pass, LEFT JOINs to parent keys."""
    duck = dialects.engine_of("duckdb")
    plain = dataclasses.replace(duck, group_each_key_set=False, mark_join=False)
    engines = tuple(plain if e is duck else e for e in dialects.ENGINES)
    monkeypatch.setattr(dialects, "ENGINES", engines)


@settings(max_examples=60, deadline=None)
@given(
    data=rows,
    picked=st.lists(checks, min_size=1, max_size=5),
    where=st.sampled_from([None, "c IS NOT NULL", "a <> 1 OR b IS NULL"]),
)
def test_duckdb_plan_counts_what_the_grouping_sets_plan_counts(
    con: duckdb.DuckDBPyConnection,
    data: list[tuple[Any, ...]],
    picked: list[tuple[str, dict[str, Any]]],
    where: str | None,
) -> None:
    con.execute("DELETE FROM t")
    if data:
        con.executemany("INSERT INTO t VALUES (?, ?, ?)", data)
    # Named by position, so that a check drawn twice is reported twice.
    named = [{kind: {**spec, "name": f"c{i}"}} for i, (kind, spec) in enumerate(picked)]
    table: dict[str, Any] = {"relation": "t", "checks": named, **({"where": where} if where else {})}
    text = json.dumps({"version": 1, "tables": [table]})
    ours = _counts(con, text)
    with pytest.MonkeyPatch.context() as mp:
        _as_elsewhere(mp)
        assert dialects.engine_of("duckdb").group_each_key_set is False
        theirs = _counts(con, text)
    assert ours == theirs
