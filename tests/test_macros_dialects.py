"""Golden SQL of the dbt package for the adapters not run here (Snowflake, BigQuery, Spark, Databricks,
Redshift, and the default for any other), parsed back by sqlglot in that dialect.

The package's macros are rendered with plain Jinja and a small stand-in for dbt's context (`return`,
`adapter.dispatch` following dbt's search order `<adapter>__`, its parents, `default__`); DuckDB and
PostgreSQL output is also checked here, and runs for real in test_macros_dbt.py.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

MACRO_DIR = Path(__file__).resolve().parents[1] / "macros" / "macros"
#: dbt adapter type -> (its parents in dispatch order, the sqlglot dialect to parse with)
ADAPTERS: dict[str, tuple[tuple[str, ...], str]] = {
    "duckdb": ((), "duckdb"),
    "postgres": ((), "postgres"),
    "redshift": (("postgres",), "redshift"),
    "snowflake": ((), "snowflake"),
    "bigquery": ((), "bigquery"),
    "spark": ((), "spark"),
    "databricks": (("spark",), "databricks"),
    "trino": ((), "trino"),
}
OTHER_ADAPTERS = [a for a in ADAPTERS if a not in ("duckdb", "postgres", "redshift")]


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


def _raise_return(value: Any) -> None:
    raise _Return(value)


def _source() -> str:
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(MACRO_DIR.glob("*.sql")))
    # dbt turns `{% test name(...) %}` blocks into `test_name` macros; so does this stand-in.
    text = re.sub(r"{%(-?)\s*test\s+(\w+)\(", r"{%\1 macro test_\2(", text)
    return re.sub(r"{%(-?)\s*endtest\s*(-?)%}", r"{%\1 endmacro \2%}", text)


def _dbt_test_sql(name: str) -> Callable[..., str]:
    """dbt's own generic test queries (as in dbt-core's global project), which the wrappers dispatch to."""

    def not_null(model: Any, column_name: str) -> str:
        return f"select {column_name} from {model} where {column_name} is null"

    def unique(model: Any, column_name: str) -> str:
        return (
            f"select {column_name} as unique_field, count(*) as n_records from {model} "
            f"where {column_name} is not null group by {column_name} having count(*) > 1"
        )

    def accepted_values(model: Any, column_name: str, values: list[Any], quote: bool = True) -> str:
        listed = ", ".join(f"'{v}'" if quote else str(v) for v in values)
        return (
            f"with all_values as (select {column_name} as value_field, count(*) as n_records from {model} "
            f"group by {column_name}) select * from all_values where value_field not in ({listed})"
        )

    def relationships(model: Any, column_name: str, to: Any, field: str) -> str:
        return (
            f"with child as (select {column_name} as from_field from {model} where {column_name} is not null), "
            f"parent as (select {field} as to_field from {to}) select from_field from child "
            "left join parent on child.from_field = parent.to_field where parent.to_field is null"
        )

    return {
        "test_not_null": not_null,
        "test_unique": unique,
        "test_accepted_values": accepted_values,
        "test_relationships": relationships,
    }[name]


class Renderer:
    """The package's macros under one adapter, callable like `renderer.pipewatch.quote_text("x")`."""

    def __init__(
        self, adapter_type: str, meta: dict[str, Any] | None = None, results: list[Any] | None = None
    ) -> None:
        self.adapter_type = adapter_type
        self.statements: list[str] = []
        self.config_calls: list[dict[str, Any]] = []
        env = jinja2.Environment(extensions=["jinja2.ext.do"], undefined=jinja2.StrictUndefined)
        env.globals.update(self._context(meta or {}))
        env.globals["results"] = results or []  # what dbt gives on-run-end hooks
        self._module = env.from_string(_source()).module

    def macro(self, name: str) -> Callable[..., Any]:
        """A package macro, with dbt's `return()` semantics."""
        raw = getattr(self._module, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                out = raw(*args, **kwargs)
            except _Return as ret:
                return ret.value
            return str(out)

        return call

    def dispatch(self, name: str, namespace: str) -> Callable[..., Any]:
        """adapter.dispatch: `<adapter>__name`, then the adapter's parents, then `default__name`."""
        if namespace == "dbt":
            return _dbt_test_sql(name)
        parents, _ = ADAPTERS[self.adapter_type]
        for prefix in (self.adapter_type, *parents, "default"):
            if hasattr(self._module, f"{prefix}__{name}"):
                return self.macro(f"{prefix}__{name}")
        raise AssertionError(f"no implementation of {name} for {self.adapter_type}")

    def _statement(self, name: str, auto_begin: bool = False, caller: Any = None) -> str:
        self.statements.append(str(caller()))
        return ""

    def _context(self, meta: dict[str, Any]) -> dict[str, Any]:
        renderer = self

        class Namespace:
            def __getattr__(self, name: str) -> Callable[..., Any]:
                return renderer.macro(name)

        class Config:
            def get(self, key: str, default: Any = None) -> Any:
                return {"meta": meta}.get(key, default)

            def __call__(self, **kwargs: Any) -> str:
                renderer.config_calls.append(kwargs)
                return ""

        def raise_compiler_error(message: str) -> None:
            raise RuntimeError(message)

        relation = SimpleNamespace(database="db", schema="analytics", identifier="pipewatch_audit")
        relation.__str__ = lambda: "db.analytics.pipewatch_audit"  # type: ignore[method-assign]
        return {
            "return": _raise_return,
            "pipewatch": Namespace(),
            "adapter": SimpleNamespace(
                dispatch=self.dispatch,
                type=lambda: self.adapter_type,
                get_relation=lambda *a: None,
                create_schema=lambda r: None,
                commit=lambda: None,
            ),
            "dbt": SimpleNamespace(
                type_string=lambda: "varchar",
                type_int=lambda: "integer",
                type_timestamp=lambda: "timestamp",
                current_timestamp=lambda: "current_timestamp",
                datediff=lambda a, b, part: f"datediff({part}, {a}, {b})",
            ),
            "exceptions": SimpleNamespace(raise_compiler_error=raise_compiler_error),
            "modules": SimpleNamespace(
                re=re, datetime=__import__("datetime"), pytz=SimpleNamespace(utc=timezone.utc)
            ),
            "config": Config(),
            "execute": True,
            "this": "db.analytics.orders",
            "model": {"unique_id": "model.shop.orders", "meta": meta},
            "graph": {"nodes": {}},
            "statement": self._statement,
            "api": SimpleNamespace(
                Relation=SimpleNamespace(create=lambda **kw: "db.analytics.pipewatch_audit")
            ),
            "var": lambda name, default=None: default,
            "target": SimpleNamespace(database="db", schema="analytics", name="prod"),
            "ref": lambda name: f"db.analytics.{name}",
            "source": lambda s, t: f"db.{s}.{t}",
            "flags": SimpleNamespace(WHICH="build"),
            "invocation_id": "inv-1",
            "project_name": "shop",
            "dbt_version": "1.11.0",
            "run_started_at": datetime(2026, 11, 1, 3, 0, tzinfo=timezone.utc),
        }


@functools.cache
def shared(adapter: str) -> Renderer:
    """One renderer per adapter for the macros that read no per-test context (compiling is slow)."""
    return Renderer(adapter)


def parse(sql: str, adapter: str) -> exp.Expr:
    """The SQL parsed by sqlglot in the adapter's dialect (raises on a syntax error)."""
    expression = sqlglot.parse_one(sql, read=ADAPTERS[adapter][1])
    assert expression is not None
    return expression


CHECKS: list[tuple[str, dict[str, Any]]] = [
    ("not_null", {"column": "customer_id"}),
    ("unique", {"column": "order_id"}),
    ("accepted_values", {"column": "status", "values": ["placed", "shipped"], "quote": True}),
    ("range", {"column": "amount", "min": 0, "max": 100.5}),
    ("range", {"column": "created_at", "min": date(2024, 1, 1), "inclusive": False}),
    ("matches", {"column": "email", "pattern": r"^[^@ ]+@[^@ ]+\.[a-z]+$"}),
    ("relationships", {"column": "customer_id", "to": "db.analytics.customers", "field": "id"}),
    ("row_count", {"min": 1, "max": 1000}),
    ("freshness", {"column": "created_at", "max_age_s": 172800.0}),
    ("duplicates", {"columns": ["order_id", "line_no"]}),
    ("expression", {"sql": "status <> 'paid' OR paid_at IS NOT NULL"}),
]


@pytest.mark.parametrize("adapter", list(ADAPTERS))
@pytest.mark.parametrize(("check_type", "args"), CHECKS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(CHECKS)])
def test_every_check_type_renders_valid_sql_on_every_adapter(
    adapter: str, check_type: str, args: dict[str, Any]
) -> None:
    """Each check's failing-rows query parses in the adapter's dialect."""
    sql = shared(adapter).macro("failing_rows_sql")(check_type, "db.analytics.orders", args)
    parse(sql, adapter)


@pytest.mark.parametrize(
    ("adapter", "expected"),
    [
        ("duckdb", "regexp_matches(email, '^a\\.b$')"),
        ("postgres", "(email ~ '^a\\.b$')"),
        ("redshift", "(email ~ '^a\\\\.b$')"),
        ("snowflake", "(regexp_instr(email, '^a\\\\.b$') > 0)"),
        ("bigquery", "regexp_contains(email, '^a\\\\.b$')"),
        ("spark", "(email rlike '^a\\\\.b$')"),
        ("databricks", "(email rlike '^a\\\\.b$')"),
        ("trino", "regexp_like(email, '^a\\.b$')"),
    ],
)
def test_regex_search_is_a_search_in_each_dialect(adapter: str, expected: str) -> None:
    """Golden: the search form per adapter (Snowflake's REGEXP_LIKE would anchor the whole string)."""
    assert shared(adapter).macro("regex_search")("email", r"^a\.b$") == expected


@settings(max_examples=25, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab'\\\"%_. \n$?*")), max_size=12))
@pytest.mark.parametrize("adapter", list(ADAPTERS))
def test_quote_text_round_trips_through_the_dialects_string_rules(adapter: str, text: str) -> None:
    """Any text, quotes and backslashes included, comes back unchanged from the dialect's literal."""
    literal = shared(adapter).macro("quote_text")(text)
    parsed = parse(f"select {literal}", adapter)
    assert parsed.find(exp.Literal).this == text  # type: ignore[union-attr]


@pytest.mark.parametrize("adapter", [*OTHER_ADAPTERS, "duckdb"])
def test_assert_rules_statement_parses_and_raises_the_dialects_way(adapter: str) -> None:
    """The post-hook for checks of every type is one statement that fails through the adapter's route."""
    meta = {
        "pipewatch": {
            "where": "status is not null",
            "checks": [
                {"not_null": ["order_id", "customer_id"]},
                {"unique": "order_id"},
                {"accepted_values": {"column": "status", "values": ["placed", "shipped"]}},
                {"range": {"column": "amount", "min": 0, "max_failure_ratio": 0.1}},
                {"matches": {"column": "email", "pattern": "@"}},
                {"relationships": {"column": "customer_id", "to": {"relation": "db.analytics.customers"}}},
                {"row_count": {"min": 1}},
                {"freshness": {"column": "created_at", "max_age": "1h30m"}},
                {"duplicates": {"columns": ["order_id"], "max_ratio": 0.01}},
                {"expression": "amount >= 0", "max_failures": 3},
                {"row_count": {"max": 5}, "severity": "warn"},
            ],
        }
    }
    sql = Renderer(adapter, meta).macro("assert_rules")()
    parse(sql, adapter)
    assert "row_count: failed" not in sql.split("pw_message")[0]
    marker = {
        "duckdb": "error(pw_q.pw_message)",
        "snowflake": "to_number(",
        "bigquery": "error(pw_q.pw_message)",
        "spark": "raise_error(",
        "databricks": "raise_error(",
        "trino": "cast(coalesce(pw_q.pw_message, '0') as integer)",
    }[adapter]
    assert marker in sql
    # 11 checks declared, one a warn: 11 error-severity counts (not_null expands to two columns).
    assert len(re.findall(r" as pw_c\d+\b", sql)) == 11


def test_assert_rules_on_postgres_is_a_do_block_that_raises() -> None:
    """PostgreSQL raises from a DO block (run for real in test_macros_dbt.py)."""
    sql = Renderer("postgres", {"pipewatch": [{"not_null": "id"}]}).macro("assert_rules")()
    assert sql.startswith("do $pipewatch$") and "raise exception '%', pw_found" in sql


@pytest.mark.parametrize(
    ("checks", "problem"),
    [
        ([{"nope": "x"}], "unknown check type `nope`"),
        ([{"not_null": "a", "unique": "a"}], "one check per list item"),
        ([{"range": {"column": "a"}}], "give `min`, `max` or both"),
        ([{"freshness": {"column": "a", "max_age": "soon"}}], "bad duration `soon`"),
        ([{"not_null": "a", "severity": "fatal"}], "severity must be `error` or `warn`"),
        ([{"matches": {"column": "a"}}], "missing key `pattern`"),
        ("not a list", "`checks` must be a non-empty list"),
    ],
)
def test_bad_meta_checks_fail_with_a_message_naming_the_check(checks: Any, problem: str) -> None:
    """meta.pipewatch is validated like a rule file: the compile error says which check and why."""
    with pytest.raises(RuntimeError, match=re.escape(problem)) as info:
        Renderer("duckdb", {"pipewatch": checks}).macro("assert_rules")()
    assert "model.shop.orders meta.pipewatch" in str(info.value)


@pytest.mark.parametrize("adapter", list(ADAPTERS))
def test_audit_is_one_insert_that_parses(adapter: str) -> None:
    """The hook's DDL and its single INSERT (rows + counts) parse in every dialect."""
    started = datetime(2026, 11, 1, 3, 0, 1)

    def result(uid: str, status: str, materialized: str | None, **extra: Any) -> SimpleNamespace:
        node = SimpleNamespace(
            unique_id=uid,
            resource_type=uid.split(".")[0],
            name=uid.split(".")[-1],
            relation_name=f"db.analytics.{uid.split('.')[-1]}" if materialized != "test" else None,
            config=SimpleNamespace(materialized=materialized),
        )
        timing = [SimpleNamespace(name="execute", started_at=started, completed_at=started)]
        return SimpleNamespace(
            node=node,
            status=status,
            adapter_response=extra.get("response", {}),
            timing=timing,
            execution_time=0.25,
            failures=extra.get("failures"),
            message=extra.get("message"),
            thread_id="Thread-1",
        )

    results = [
        result("model.shop.orders", "success", "table", response={"rows_affected": 12, "query_id": "q1"}),
        result("model.shop.stg", "success", "view"),
        result("test.shop.t", "fail", "test", failures=3, message="Got 3 results, it's \\ bad"),
        result("model.shop.broken", "error", "table", message="line1\nline2"),
    ]
    renderer = Renderer(adapter, results=results)
    assert renderer.macro("audit")() == ""
    ddl, insert = renderer.statements
    parse(ddl, adapter)
    parse(insert, adapter)
    assert insert.lower().count("insert into") == 1
    literals = {lit.this for lit in parse(insert, adapter).find_all(exp.Literal) if lit.is_string}
    assert "Got 3 results, it's \\ bad" in literals  # quotes and backslashes escaped the dialect's way
    assert "line1\nline2" in literals
    if adapter == "bigquery":  # one struct type for the whole array: every field cast
        assert "struct(cast('inv-1' as string) as invocation_id" in insert
    assert insert.count("count(*)") == 1  # only the successful table is counted (not the view or the error)
