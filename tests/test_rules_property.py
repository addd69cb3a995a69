"""Property tests: hostile identifiers and values never reach SQL as text, and counts stay exact.

Random table/column names (quotes, spaces, keywords, unicode) and values (quotes, backslashes,
`'; DROP TABLE x; --`) go through a rule dict -> YAML -> loader -> planner; the SQL must parse back
in every dialect with each value a literal and each name an identifier, run on DuckDB, and count
exactly what a Python re-computation of dbt's definitions counts.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from pipewatch.rules import check_dataframe, parse_rules, plan
from pipewatch.rules.api import _dump
from pipewatch.rules.sqltext import external_source

INJECTION = "'; DROP TABLE x; --"
KEYWORDS = ["select", "from", "order", "group", "table", "drop", "where", "null", "Select", "AS", "by"]
ALPHABET = st.characters(
    codec="utf-8",
    exclude_categories=("Cs", "Cc"),  # no surrogates or control characters
) | st.sampled_from(list("\"'`\\; -.$é中😀[]"))
DIALECTS = ["duckdb", "postgres", "snowflake", "bigquery", "databricks", "redshift", "trino"]


def names() -> st.SearchStrategy[str]:
    return (st.sampled_from(KEYWORDS) | st.text(ALPHABET, min_size=1, max_size=10)).filter(
        lambda s: not s.lower().startswith("pw__") and s.strip() != ""
    )


values = st.sampled_from([INJECTION, "a'b", "back\\slash", '"dq"', "", " ", "é", "x"]) | st.text(
    ALPHABET, max_size=6
)


def q(name: str, dialect: str = "duckdb") -> str:
    """A quoted identifier as a user would write one in a `where`/`expression` in `dialect`."""
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)


def lit(value: str, dialect: str = "duckdb") -> str:
    """A string literal as a user would write one in `dialect`."""
    return exp.Literal.string(value).sql(dialect=dialect)


def re_escape(text: str) -> str:
    """Escape regex metacharacters only (RE2 refuses escapes of ordinary letters and spaces)."""
    return "".join("\\" + ch if ch in ".^$*+?()[]{}|\\" else ch for ch in text)


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    cols = draw(st.lists(names(), min_size=3, max_size=3, unique_by=str.casefold))
    # Table names that read as a file or URL are refused by design (tests/hostile/test_rules.py).
    table = draw(names().filter(lambda s: external_source((s,)) is None))
    parent = draw(
        names().filter(lambda s: s.casefold() != table.casefold() and external_source((s,)) is None)
    )
    pkey = draw(names())
    n = draw(st.integers(min_value=0, max_value=25))
    rows = [
        (
            draw(st.none() | st.integers(0, 6)),
            draw(st.none() | values),
            draw(st.none() | st.integers(-5, 15)),
        )
        for _ in range(n)
    ]
    return {
        "cols": cols,
        "table": table,
        "parent": parent,
        "pkey": pkey,
        "rows": rows,
        "parent_keys": draw(st.lists(st.none() | st.integers(0, 8), max_size=8)),
        "accepted": [*draw(st.lists(values, min_size=1, max_size=4)), INJECTION],
        "lo": draw(st.integers(-5, 5)),
        "span": draw(st.integers(0, 10)),
        "needle": draw(values.filter(bool)),
        "where_value": draw(values),
    }


def rules_for(c: dict[str, Any], d: str = "duckdb") -> dict[str, Any]:
    k, v, num = c["cols"]
    return {
        "version": 1,
        "tables": [
            {
                "relation": q(c["table"], d),
                "where": f"{q(k, d)} IS NOT NULL OR {q(v, d)} = {lit(c['where_value'], d)}",
                "checks": [
                    {"not_null": v},
                    {"unique": v},
                    {"accepted_values": {"column": v, "values": c["accepted"]}},
                    {"range": {"column": num, "min": c["lo"], "max": c["lo"] + c["span"]}},
                    {"matches": {"column": v, "pattern": re_escape(c["needle"])}},
                    {"duplicates": {"columns": [k, v]}},
                    {"expression": {"name": "eq_needle", "sql": f"{q(v, d)} <> {lit(c['needle'], d)}"}},
                    {
                        "relationships": {
                            "column": k,
                            "to": {"relation": q(c["parent"], d)},
                            "field": c["pkey"],
                        }
                    },
                    {"row_count": {"min": 0}},
                ],
            }
        ],
    }


def expected(c: dict[str, Any]) -> dict[str, int]:
    """dbt's failure counts, computed in Python on the filtered rows."""
    rows = [r for r in c["rows"] if r[0] is not None or r[1] == c["where_value"]]
    vs = [r[1] for r in rows if r[1] is not None]
    counts = Counter(vs)
    accepted = set(c["accepted"])
    hi = c["lo"] + c["span"]
    keys = Counter((r[0], r[1]) for r in rows)
    parents = {p for p in c["parent_keys"] if p is not None}
    return {
        "not_null": sum(1 for r in rows if r[1] is None),
        "unique": sum(1 for x in counts.values() if x > 1),
        "accepted_values": len({x for x in vs if x not in accepted}),
        "range": sum(1 for r in rows if r[2] is not None and not c["lo"] <= r[2] <= hi),
        "matches": sum(1 for x in vs if c["needle"] not in x),
        "duplicates": sum(x - 1 for x in keys.values() if x > 1),
        "expression": sum(1 for x in vs if x == c["needle"]),
        "relationships": sum(1 for r in rows if r[0] is not None and r[0] not in parents),
        "row_count": len(rows),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_hostile_names_and_values_count_exactly_on_duckdb(c: dict[str, Any]) -> None:
    k, v, num = c["cols"]
    df = pd.DataFrame(c["rows"], columns=[k, v, num]).astype({k: "Int64", v: "object", num: "Int64"})
    parent = pd.DataFrame({c["pkey"]: pd.array(c["parent_keys"], dtype="Int64")})
    report = check_dataframe(df, rules_for(c), name=c["table"], tables={c["parent"]: parent}, samples=2)
    got = {r.type: r for r in report.checks}
    want = expected(c)
    assert all(r.status != "error" for r in report.checks), [(r.name, r.message) for r in report.checks]
    for kind, count in want.items():
        value = got[kind].metric if kind == "row_count" else got[kind].failing_rows
        assert value == count, (kind, value, count)
    assert got["row_count"].total_rows == want["row_count"]


@settings(max_examples=25, deadline=None)
@given(cases())
def test_hostile_input_is_only_literals_and_identifiers_in_every_dialect(c: dict[str, Any]) -> None:
    dotted = any("." in name for name in [*c["cols"], c["table"], c["parent"], c["pkey"]])
    for dialect in DIALECTS:
        if dialect == "bigquery" and dotted:
            # BigQuery names cannot hold a dot: a backquoted `a.b` is a path, so it cannot round-trip.
            continue
        rs = parse_rules(_dump(rules_for(c, dialect)), dialect=dialect)
        for st_ in plan(rs, dialect, samples=3).statements:
            sql = st_.sql()
            tree = sqlglot.parse_one(sql, read=dialect)
            assert isinstance(tree, exp.Select)
            literals = {lit_.this for lit_ in tree.find_all(exp.Literal) if lit_.is_string}
            assert set(c["accepted"]) <= literals, dialect
            idents = {i.this for i in tree.find_all(exp.Identifier)}
            assert c["cols"][1] in idents or c["cols"][1].lower() in idents or c["cols"][1].upper() in idents
            assert not any(isinstance(node, (exp.Drop, exp.Command)) for node in tree.walk())
