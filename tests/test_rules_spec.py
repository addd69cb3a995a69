"""Rule files: every form the contract allows loads, and every mistake is a `file:line: message` error."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from pipewatch.artifacts.model import Node
from pipewatch.errors import ConfigError
from pipewatch.rules import load_rules, parse_duration, parse_rules, plan
from pipewatch.rules.spec import (
    AcceptedValues,
    Duplicates,
    Expression,
    Freshness,
    Matches,
    NotNull,
    Range,
    Relationships,
    RowCount,
    Unique,
    check_id,
)


def rules(text: str, **kw: object) -> str:
    return textwrap.dedent(text).lstrip("\n")


def errors_of(text: str, **kw: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_rules(rules(text), source="r.yml", **kw)  # type: ignore[arg-type]
    assert info.value.exit_code == 2
    return str(info.value).splitlines()


def node(uid: str, rtype: str, name: str, alias: str, materialization: str | None = "table") -> Node:
    return Node(
        unique_id=uid,
        resource_type=rtype,
        name=name,
        package="shop",
        path="models/x.sql",
        database="warehouse",
        schema="analytics",
        alias=alias,
        materialization=materialization,
        tags=(),
        owner=None,
        depends_on=(),
    )


NODES = {
    "model.shop.orders": node("model.shop.orders", "model", "orders", "orders"),
    "model.shop.customers": node("model.shop.customers", "model", "customers", "dim_customers"),
    "seed.shop.countries": node("seed.shop.countries", "seed", "countries", "countries"),
    "model.shop.eph": node("model.shop.eph", "model", "eph", "eph", "ephemeral"),
    "source.shop.raw.payments": node("source.shop.raw.payments", "source", "payments", "payments_v2"),
}

CONTRACT_SAMPLE = """
version: 1
tables:
  - model: orders
    where: "created_at >= DATE '2026-01-01'"
    checks:
      - not_null: [order_id, customer_id]
      - unique: order_id
      - accepted_values: {column: status, values: [placed, shipped, completed, returned]}
      - range: {column: amount, min: 0, max: 100000}
      - matches: {column: email, pattern: '^[^@ ]+@[^@ ]+\\.[a-z]+$'}
      - relationships: {column: customer_id, to: customers, field: customer_id}
      - row_count: {min: 1}
      - freshness: {column: created_at, max_age: 48h}
      - duplicates: {columns: [order_id, line_no], max_ratio: 0.01}
      - expression: {name: paid_orders_have_date, sql: "status <> 'paid' OR paid_at IS NOT NULL"}
"""


def test_the_design_sample_loads_with_the_manifest() -> None:
    rs = parse_rules(rules(CONTRACT_SAMPLE), nodes=NODES)
    (table,) = rs.tables
    assert table.target.parts == ("warehouse", "analytics", "orders")
    assert table.target.model == "model.shop.orders"
    assert table.where == "created_at >= DATE '2026-01-01'"
    kinds = [type(c) for c in table.checks]
    assert kinds == [
        NotNull,
        NotNull,
        Unique,
        AcceptedValues,
        Range,
        Matches,
        Relationships,
        RowCount,
        Freshness,
        Duplicates,
        Expression,
    ]
    rel = table.checks[6]
    assert isinstance(rel, Relationships)
    assert rel.to.relation == "warehouse.analytics.dim_customers"
    assert rel.to.model == "model.shop.customers"
    fresh = table.checks[8]
    assert isinstance(fresh, Freshness) and fresh.max_age_s == 48 * 3600
    dup = table.checks[9]
    assert (
        isinstance(dup, Duplicates)
        and dup.max_failure_ratio == 0.01
        and dup.columns == ("order_id", "line_no")
    )
    assert [check_id(table, c) for c in table.checks][:3] == [
        "warehouse.analytics.orders::not_null(order_id)",
        "warehouse.analytics.orders::not_null(customer_id)",
        "warehouse.analytics.orders::unique(order_id)",
    ]
    assert table.checks[10].name == "paid_orders_have_date"
    assert all(c.loc.file == "<rules>" and c.loc.line > 0 for c in table.checks)


def test_sources_seeds_and_relations_resolve() -> None:
    rs = parse_rules(
        rules("""
        version: 1
        tables:
          - source: raw.payments
            checks: [{row_count: {min: 1}}]
          - model: countries
            checks: [{not_null: code}]
          - relation: '"my db".main."odd.table"'
            checks:
              - relationships: {column: c, to: {source: raw.payments}, field: id}
              - relationships: {column: d, to: {relation: main.other}}
        """),
        nodes=NODES,
    )
    src, seed, rel = rs.tables
    assert src.target.relation == "warehouse.analytics.payments_v2"
    assert src.target.model == "source.shop.raw.payments"
    assert seed.target.relation == "warehouse.analytics.countries"
    assert rel.target.parts == ("my db", "main", "odd.table")
    r1, r2 = rel.checks
    assert isinstance(r1, Relationships) and r1.to.model == "source.shop.raw.payments"
    assert isinstance(r2, Relationships) and r2.to.parts == ("main", "other") and r2.field == "d"


def test_check_forms_and_common_options() -> None:
    rs = parse_rules(
        rules("""
        version: 1
        tables:
          - relation: t
            checks:
              - not_null: a
              - not_null: {columns: [b, c], severity: warn}
              - not_null: d
                severity: WARN
                weight: 2
              - unique: {column: e, max_failures: 3, name: e_is_unique}
              - expression: "x > 0"
              - range: {column: day, min: 2024-01-01, max: 2024-12-31, max_failure_ratio: 0.5}
              - duplicates: {column: a}
              - row_count: {max: 10, weight: 0}
              - freshness: {column: ts, max_age: 1h30m}
        """)
    )
    checks = rs.tables[0].checks
    assert [c.name for c in checks] == [
        "not_null(a)",
        "not_null(b)",
        "not_null(c)",
        "not_null(d)",
        "e_is_unique",
        "expression(x > 0)",
        "range(day)",
        "duplicates(a)",
        "row_count",
        "freshness(ts)",
    ]
    assert [c.severity for c in checks[:4]] == ["error", "warn", "warn", "warn"]
    assert checks[3].weight == 2.0
    assert checks[4].max_failures == 3
    rng = checks[6]
    assert isinstance(rng, Range) and rng.min == date(2024, 1, 1) and rng.max_failure_ratio == 0.5
    assert checks[8].weight == 0.0
    fresh = checks[9]
    assert isinstance(fresh, Freshness) and fresh.max_age_s == 5400


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("48h", 172800),
        ("2d", 172800),
        ("1w", 604800),
        ("1h30m", 5400),
        ("1.5h", 5400),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["48", "2 days", "h", "0h", "-1h", "1y", "1h x", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


# --- each error kind, with its line -----------------------------------------------------------------

HEAD = "version: 1\ntables:\n  - relation: main.t\n    checks:\n"


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ("      - not_nul: a\n", "r.yml:5: unknown check type `not_nul` (did you mean `not_null`?)"),
        ("      - accepted_values: {column: s}\n", "r.yml:5: accepted_values: missing key `values`"),
        ("      - range: {column: a, mni: 1}\n", "r.yml:5: range: unknown key `mni` (did you mean `min`?)"),
        ("      - matches: {pattern: 'x'}\n", "r.yml:5: matches: missing key `column`"),
        ("      - matches: {column: a, pattern: '(ab'}\n", "r.yml:5: matches: bad regex `(ab`: missing ), "),
        ("      - freshness: {column: a, max_age: 48}\n", "r.yml:5: freshness: bad duration `48`"),
        ("      - freshness: {column: a, max_age: 2 days}\n", "r.yml:5: freshness: bad duration `2 days`"),
        (
            "      - expression: 'a = 1; DROP TABLE t'\n",
            "r.yml:5: expression: `sql` must be a single SQL expression",
        ),
        ("      - expression: 'SELECT 1'\n", "r.yml:5: expression: `sql` is not a single SQL expression"),
        (
            "      - expression: 'a IN (SELECT b FROM u)'\n",
            "r.yml:5: expression: `sql` must not contain a subquery",
        ),
        ("      - expression: 'amount'\n", "r.yml:5: expression: `sql` must be a boolean condition"),
        ("      - expression: \"'x'\"\n", "r.yml:5: expression: `sql` must be a boolean condition"),
        ("      - expression: 'count(*) > 1'\n", "r.yml:5: expression: `sql` must be a row-level condition"),
        ("      - range: {column: a, min: 5, max: 1}\n", "r.yml:5: range: min (5) is greater than max (1)"),
        ("      - range: {column: a}\n", "r.yml:5: range: give `min`, `max` or both"),
        (
            "      - range: {column: a, min: 1, max: z}\n",
            "r.yml:5: range: `min` and `max` have different types",
        ),
        ("      - row_count: {min: 5, max: 1}\n", "r.yml:5: row_count: min (5) is greater than max (1)"),
        ("      - row_count: {min: -1}\n", "r.yml:5: row_count: `min` must be a whole number >= 0"),
        (
            "      - not_null: {column: a, severity: fatal}\n",
            "r.yml:5: not_null: severity must be `error` or `warn`",
        ),
        (
            "      - not_null: {column: a, max_failures: -1}\n",
            "r.yml:5: not_null: max_failures must be a whole",
        ),
        (
            "      - not_null: {column: a, max_failures: 1.5}\n",
            "r.yml:5: not_null: max_failures must be a whole",
        ),
        (
            "      - not_null: {column: a, max_failure_ratio: 2}\n",
            "r.yml:5: not_null: max_failure_ratio must be",
        ),
        ("      - not_null: {column: a, weight: -1}\n", "r.yml:5: not_null: weight must be >= 0"),
        ("      - row_count: {min: 1, max_failures: 0}\n", "r.yml:5: row_count: unknown key `max_failures`"),
        (
            "      - duplicates: {columns: [a], max_ratio: 0.1, max_failure_ratio: 0.1}\n",
            "give `max_ratio` or",
        ),
        (
            "      - accepted_values: {column: s, values: [a, null]}\n",
            "r.yml:5: accepted_values: null is not a value",
        ),
        ("      - accepted_values: {column: s, values: []}\n", "`values` must be a non-empty list"),
        ("      - not_null: {column: a, columns: [b]}\n", "give exactly one of `column` or `columns`"),
        ("      - not_null: []\n", "not_null: the column list is empty"),
        ("      - {not_null: a, unique: a}\n", "one check per list item"),
        (
            "      - relationships: {column: a, to: parent}\n",
            "needs the dbt manifest; without one name the table",
        ),
        ("      - not_null: {columns: [a, b], name: x}\n", "`name` needs a single column"),
        ("      - not_null: a\n        colour: red\n", "r.yml:6: not_null: unknown key `colour`"),
    ],
)
def test_each_error_kind_names_file_and_line(check: str, message: str) -> None:
    lines = errors_of(HEAD + check)
    assert any(line.startswith(message) or message in line for line in lines), lines


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("version: 2\ntables: []\n", "r.yml:1: unsupported rule file version `2` (expected 1)"),
        ("version: true\ntables: []\n", "r.yml:1: unsupported rule file version `True`"),
        ("tables: []\n", "r.yml:1: rule file: missing key `version`"),
        ("version: 1\ntables: []\nextra: 1\n", "r.yml:3: rule file: unknown key `extra`"),
        ("", "r.yml:1: empty rule file"),
        ("- a\n", "r.yml:1: a rule file is a mapping"),
        ("version: 1\ntables:\n  - relation: t\n    checks: [\n", "r.yml:5: YAML syntax error"),
        ("version: 1\nversion: 1\n", "r.yml:2: duplicate key `version`"),
        ("version: 1\ntables:\n  - checks: [{not_null: a}]\n", "r.yml:3: a table entry needs exactly one of"),
        (
            "version: 1\ntables:\n  - {model: a, relation: b, checks: [{not_null: a}]}\n",
            "needs exactly one of",
        ),
        (
            "version: 1\ntables:\n  - relation: t\n    checks: []\n",
            "r.yml:4: `checks` must be a non-empty list",
        ),
        (
            "version: 1\ntables:\n  - relation: t\n    where: 'x;'\n    checks: [{not_null: a}]\n",
            "r.yml:4: `where`",
        ),
        (
            "version: 1\ntables:\n  - relation: t\n    where: 'x + 1'\n    checks: [{not_null: a}]\n",
            "boolean",
        ),
        ("version: 1\ntables:\n  - relation: 'a..b'\n    checks: [{not_null: a}]\n", "r.yml:3: bad relation"),
        (
            "version: 1\ntables:\n  - model: orders\n    checks: [{not_null: a}]\n",
            "r.yml:3: `model: orders` needs",
        ),
    ],
)
def test_document_level_errors(doc: str, message: str) -> None:
    lines = errors_of(doc)
    assert any(line.startswith(message) or message in line for line in lines), lines


def test_manifest_errors() -> None:
    lines = errors_of(
        """
        version: 1
        tables:
          - model: ordres
            checks: [{not_null: a}]
          - source: raw.nothing
            checks: [{not_null: a}]
          - source: payments
            checks: [{not_null: a}]
          - model: eph
            checks: [{not_null: a}]
          - model: orders
            checks:
              - relationships: {column: a, to: custmers}
        """,
        nodes=NODES,
    )
    assert lines == [
        "r.yml:3: unknown model `ordres` (not in the manifest)",
        "r.yml:5: unknown source `raw.nothing` (not in the manifest)",
        "r.yml:7: `source: payments` must be `source_name.table_name`",
        "r.yml:9: `eph` is an ephemeral model: there is no table to check",
        "r.yml:13: relationships: `to`: unknown model `custmers` (not in the manifest)",
    ]


def test_all_errors_are_listed_at_once_in_file_order() -> None:
    lines = errors_of(
        """
        version: 3
        tables:
          - relation: main.t
            where: "a = 1; drop table t"
            checks:
              - not_nul: a
              - range: {column: a, min: 9, max: 1}
              - matches: {column: b, pattern: '[z-a]'}
              - freshness: {column: c, max_age: soon}
              - expression: "a"
              - unique: a
              - unique: a
        """
    )
    assert [line.split(":")[1] for line in lines] == ["1", "4", "6", "7", "8", "9", "10", "12"]
    assert (
        lines[-1]
        == "r.yml:12: check `main.t::unique(a)` is already defined at r.yml:11; give one of them a `name`"
    )
    assert all(line.startswith("r.yml:") for line in lines)


def test_dialect_specific_regex_refusals() -> None:
    text = HEAD + "      - matches: {column: a, pattern: '^(?!x)a'}\n"
    assert "lookaround" in errors_of(text, dialect="duckdb")[0]
    assert "lookaround" in errors_of(text, dialect="snowflake")[0]
    parse_rules(rules(text), dialect="postgres")  # Postgres AREs support lookahead
    backref = HEAD + "      - matches: {column: a, pattern: '(a)\\1'}\n"
    assert "backreference" in errors_of(backref, dialect="bigquery")[0]


def test_where_and_expression_are_parsed_in_the_target_dialect() -> None:
    text = HEAD.replace("    checks:\n", '    where: "`a b` = 1"\n    checks:\n') + "      - not_null: a\n"
    parse_rules(rules(text), dialect="bigquery")
    assert errors_of(text, dialect="postgres")


def test_sql_checked_for_one_dialect_and_planned_for_another_is_a_config_error() -> None:
    text = HEAD.replace("    checks:\n", '    where: "`a b` = 1"\n    checks:\n') + "      - not_null: a\n"
    rs = parse_rules(rules(text), source="r.yml", dialect="bigquery")
    with pytest.raises(
        ConfigError, match=r"^r.yml:3: `where` is not a single SQL expression.*\(in postgres SQL\)"
    ):
        plan(rs, "postgres")


def test_files_and_folders(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(HEAD + "      - not_null: a\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text(HEAD.replace("main.t", "main.u") + "      - not_null: a\n")
    (tmp_path / "notes.txt").write_text("ignored")
    rs = load_rules(tmp_path)
    assert [t.target.relation for t in rs.tables] == ["main.t", "main.u"]
    assert rs.files == [str(tmp_path / "a.yml"), str(tmp_path / "sub" / "b.yaml")]
    assert len(load_rules(tmp_path / "a.yml").tables) == 1


def test_errors_across_files_are_collected(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(HEAD + "      - not_nul: a\n")
    (tmp_path / "b.yml").write_text("version: 9\ntables: []\n")
    with pytest.raises(ConfigError) as info:
        load_rules(tmp_path)
    assert str(info.value).splitlines() == [
        f"{tmp_path / 'a.yml'}:5: unknown check type `not_nul` (did you mean `not_null`?) (known: "
        "not_null, unique, accepted_values, range, matches, relationships, row_count, freshness, duplicates, expression)",
        f"{tmp_path / 'b.yml'}:1: unsupported rule file version `9` (expected 1)",
    ]


def test_missing_paths_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such rule file"):
        load_rules(tmp_path / "nope.yml")
    with pytest.raises(ConfigError, match="no rule files"):
        load_rules(tmp_path)


def test_unknown_dialect_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown SQL dialect"):
        parse_rules(HEAD + "      - not_null: a\n", dialect="klingon")


def test_every_check_class_is_declared_once_and_has_a_builder_and_a_compiler() -> None:
    from pipewatch.rules.compiler import compile_check
    from pipewatch.rules.rule_checks import BUILDERS
    from pipewatch.rules.spec import ALL_CHECK_TYPES, CHECK_TYPES

    assert set(BUILDERS) == set(CHECK_TYPES.values())
    for cls in ALL_CHECK_TYPES.values():
        assert compile_check.dispatch(cls) is not compile_check.dispatch(object), cls.type
    assert "not_null_proportion" in ALL_CHECK_TYPES and "not_null_proportion" not in CHECK_TYPES
