"""Hostile input to the rules and warehouse area (issue 13): each test is one try at breaking it.

Every refusal is one line naming the file (and line for YAML) with exit code 2; nothing reaches a
file, a URL or an extension download, and nothing blows up in time or memory.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pipewatch.commands.check import check_command
from pipewatch.errors import ConfigError
from pipewatch.rules import parse_rules, plan
from pipewatch.rules.dbt_tests import dbt_test_rules
from pipewatch.rules.spec import NotNull, TableRef, TableSpec
from pipewatch.warehouse.base import QueryError
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
