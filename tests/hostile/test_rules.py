"""Hostile input to the rules and warehouse area (issue 13): each test is one try at breaking it.

Every refusal is one line naming the file (and line for YAML) with exit code 2; nothing reaches a
file, a URL or an extension download, and nothing blows up in time or memory.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlglot import exp

from pipewatch.commands.check import check_command
from pipewatch.errors import ConfigError
from pipewatch.rules import parse_rules, plan, run_checks
from pipewatch.rules.dbt_tests import dbt_test_rules
from pipewatch.rules.spec import NotNull, TableRef, TableSpec
from pipewatch.warehouse.base import QueryError, QueryResult
from pipewatch.warehouse.duckdb import DuckDBWarehouse
from tests.factories import make_node, make_test_info


@pytest.fixture()
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder (the current directory) with a DuckDB file and a secrets file beside it."""
    monkeypatch.chdir(tmp_path)
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    con.execute("CREATE TABLE orders AS SELECT 1 AS id")
    con.close()
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "creds.csv").write_text("password\nhunter2\n", encoding="utf-8")
    return tmp_path


def _check(project: Path, rules: str, *extra: str) -> tuple[int, str]:
    path = project / "rules.yml"
    path.write_text(rules, encoding="utf-8")
    args = ["--project-dir", str(project), "--duckdb", str(project / "wh.duckdb"), "--no-history"]
    got = CliRunner().invoke(check_command, [*args, "--rules", str(path), *extra])
    return got.exit_code, got.output


def _rules(relation: str) -> str:
    return f"version: 1\ntables:\n  - relation: {relation}\n    checks: [{{not_null: password}}]\n"


# --- 7: relations that name files, URLs or table functions ------------------------------------------


@pytest.mark.parametrize(
    ("relation", "what"),
    [
        ("'\"secrets/creds.csv\"'", "a file path"),
        ("'\"creds.csv\"'", "a file name"),
        ("'\"https://example.com/data.csv\"'", "a URL"),
        ("'\"read_csv(secrets)\"'", "a function call"),
        ("'main.\"..\\\\creds\"'", "a file path"),
    ],
)
def test_a_relation_naming_a_file_or_url_is_refused_with_its_line(
    shop: Path, relation: str, what: str
) -> None:
    code, output = _check(shop, _rules(relation))
    assert code == 2
    assert "hunter2" not in output and "Traceback" not in output
    assert "rules.yml:3: relation " in output and f"is {what}, not a table" in output
    assert len(output.strip().splitlines()) == 1


def test_the_duckdb_file_connection_cannot_read_files_or_change_that(shop: Path) -> None:
    with DuckDBWarehouse(shop / "wh.duckdb") as wh:
        assert wh.execute("SELECT id FROM orders").rows == [(1,)]
        for sql in (
            "SELECT * FROM 'secrets/creds.csv'",
            "SELECT * FROM read_csv('secrets/creds.csv')",
            "SET enable_external_access = true",
            "INSTALL httpfs",
        ):
            with pytest.raises(QueryError):
                wh.execute(sql)


def test_an_in_memory_warehouse_is_sealed_at_its_first_query(shop: Path) -> None:
    with DuckDBWarehouse() as wh:
        assert wh.execute("SELECT 1").rows == [(1,)]
        with pytest.raises(QueryError):
            wh.execute("SELECT * FROM 'secrets/creds.csv'")


def test_a_table_ref_built_by_the_api_is_refused_when_planned() -> None:
    ref = TableRef(parts=("secrets/creds.csv",), relation="secrets/creds.csv")
    spec = TableSpec(target=ref, checks=(NotNull(name="nn", column="password"),))
    with pytest.raises(ConfigError, match="is a file path, not a table"):
        plan([spec], "duckdb")


def test_a_manifest_model_aliased_as_a_file_is_refused_for_dbt_tests() -> None:
    model = make_node("model.shop.orders", alias="secrets/creds.csv")
    info = make_test_info("not_null", column_name="id", attached_node="model.shop.orders", generic=True)
    test = make_node("test.shop.not_null_orders_id.abc", path="models/schema.yml", test=info)
    with pytest.raises(ConfigError) as got:
        dbt_test_rules({n.unique_id: n for n in (model, test)})
    assert str(got.value).startswith("models/schema.yml: test `test.shop.not_null_orders_id.abc`: relation")
    assert "is a file path, not a table" in str(got.value)


def test_a_manifest_source_with_a_url_identifier_is_refused_in_rule_files() -> None:
    source = make_node("source.shop.raw.orders", alias="https://example.com/x.parquet")
    with pytest.raises(ConfigError) as got:
        parse_rules(
            "version: 1\ntables:\n  - source: raw.orders\n    checks: [{not_null: id}]\n",
            source="r.yml",
            nodes={source.unique_id: source},
        )
    assert str(got.value).startswith("r.yml:3: ") and "is a URL, not a table" in str(got.value)


# --- 8: YAML that expands without bound -------------------------------------------------------------


def _laughs(levels: int) -> str:
    """A billion-laughs rule file: each level lists the previous one nine times (9**levels leaves)."""
    lines = ["version: 1", "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    lines.append(f"tables: [{{relation: t, checks: *l{levels}}}]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_rule_file_is_refused_in_one_line(shop: Path) -> None:
    code, output = _check(shop, _laughs(9))  # 9**10 values once expanded
    assert code == 2 and "Traceback" not in output
    assert output.strip() == (
        f"pipewatch: error: {shop / 'rules.yml'}:1: YAML aliases expand to more than 1,000,000 values"
        " (refused, as a billion-laughs document would be)"
    )


def test_aliases_shared_between_tables_still_load_as_written() -> None:
    text = "version: 1\ntables:\n  - {relation: t0, checks: &c [{not_null: a}, {unique: a}]}\n" + "".join(
        f"  - {{relation: t{i}, checks: *c}}\n" for i in range(1, 5)
    )
    rules = parse_rules(text, source="r.yml")
    assert [(t.target.relation, len(t.checks)) for t in rules.tables] == [(f"t{i}", 2) for i in range(5)]


def test_a_self_referencing_alias_is_refused_with_its_line() -> None:
    text = "version: 1\ntables:\n  - &t {relation: t, checks: [*t]}\n"
    with pytest.raises(ConfigError) as got:
        parse_rules(text, source="r.yml")
    assert str(got.value) == "r.yml:3: a YAML alias refers to a value that contains it"


def test_thousands_of_nested_brackets_are_refused_not_a_recursion_error() -> None:
    text = "version: 1\ntables: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(ConfigError) as got:
        parse_rules(text, source="r.yml")
    assert str(got.value) == "r.yml:1: YAML nested more than 100 levels deep"


# --- 9: samples, repeated errors, long value lists, the order of complaints -------------------------


class _Recording(DuckDBWarehouse):
    """The in-memory warehouse, remembering every row it returned (to see what left the database)."""

    def __init__(self) -> None:
        super().__init__()
        self.returned: list[tuple[object, ...]] = []

    def execute(self, statement: exp.Expr | str) -> QueryResult:
        got = super().execute(statement)
        self.returned.extend(got.rows)
        return got


def test_row_samples_are_capped_in_columns_and_value_length_at_the_source() -> None:
    wide = pd.DataFrame({f"c{i:02}": ["x" * 200_000 if i == 5 else "v"] for i in range(30)})
    wide["checked"] = [None]
    rules = parse_rules("version: 1\ntables:\n  - relation: wide\n    checks: [{not_null: checked}]\n")
    with _Recording() as wh:
        wh.register("wide", wide)
        (res,) = run_checks(rules, wh, samples=3).checks
        longest = max(len(str(v)) for row in wh.returned for v in row)
    assert res.status == "fail" and len(res.samples) == 1
    (sample,) = res.samples
    assert len(sample) == 20 and next(iter(sample)) == "checked"
    assert sample["c05"] == "x" * 200 + "…"
    assert longest <= 200


def test_a_column_listed_5000_times_is_one_error_with_a_count() -> None:
    text = (
        "version: 1\ntables:\n  - relation: t\n    checks:\n      - not_null: ["
        + ", ".join(["a"] * 5000)
        + "]\n"
    )
    with pytest.raises(ConfigError) as got:
        parse_rules(text, source="r.yml")
    assert str(got.value) == "r.yml:5: not_null: column `a` is listed 5000 times"


def test_the_same_check_defined_many_times_is_said_once() -> None:
    text = "version: 1\ntables:\n" + "  - {relation: t, checks: [{not_null: a}]}\n" * 50
    with pytest.raises(ConfigError) as got:
        parse_rules(text, source="r.yml")
    assert str(got.value) == (
        "r.yml:4: check `t::not_null(a)` is already defined at r.yml:3 (49 more definitions);"
        " give one of them a `name`"
    )


def _accepted(n: int) -> str:
    values = ", ".join(f"v{i}" for i in range(n))
    return f"version: 1\ntables:\n  - relation: t\n    checks: [{{accepted_values: {{column: s, values: [{values}]}}}}]\n"


def test_a_long_accepted_values_list_is_a_hash_lookup_not_a_comparison_per_value() -> None:
    # On DuckDB `s IN ('v0', ..., 'v199999')` compares every row with every value (rows x values);
    # the list must reach the engine as a set it hashes once, and the plan must grow linearly.
    sizes = {}
    for n in (2_000, 8_000):
        (st,) = plan(parse_rules(_accepted(n)), "duckdb").statements
        (member,) = list(st.expression.find_all(exp.In))
        assert member.args.get("query") is not None and not member.expressions
        sizes[n] = sum(1 for _ in st.expression.walk())
    assert 3.5 < sizes[8_000] / sizes[2_000] < 4.5


def test_a_long_accepted_values_list_still_counts_as_dbt_does() -> None:
    frame = pd.DataFrame({"s": ["v1", "v2", "bad", "bad", "worse", None]})
    with DuckDBWarehouse() as wh:
        wh.register("t", frame)
        (res,) = run_checks(parse_rules(_accepted(500)), wh, samples=5).checks
    assert (res.failing_rows, res.affected_rows) == (2, 3)
    assert res.samples == [{"s": "bad", "n": 2}, {"s": "worse", "n": 1}]


def test_a_missing_rules_path_is_reported_before_the_dbt_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path))  # no profiles.yml there either
    got = CliRunner().invoke(
        check_command,
        ["--project-dir", str(tmp_path), "--rules", str(tmp_path / "nonexistent"), "--no-history"],
    )
    assert got.exit_code == 2
    assert got.output.strip() == f"pipewatch: error: {tmp_path / 'nonexistent'}: no such rule file or folder"
