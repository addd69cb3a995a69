"""`check_dataframe`: rules as a path, YAML text, a dict or a RuleSet, on pandas frames."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipewatch.errors import ConfigError
from pipewatch.rules import check_dataframe, parse_rules

ORDERS = pd.DataFrame(
    {
        "order_id": [1, 2, 2, 3, None],
        "customer_id": [10, 11, 12, 99, 10],
        "status": ["placed", "shipped", "lost", "placed", None],
    }
)
CUSTOMERS = pd.DataFrame({"customer_id": [10, 11, 12]})

YAML = """
version: 1
tables:
  - relation: df
    checks:
      - not_null: order_id
      - unique: order_id
      - accepted_values: {column: status, values: [placed, shipped]}
      - relationships: {column: customer_id, to: {relation: customers}}
"""
EXPECTED = {
    "not_null(order_id)": 1,
    "unique(order_id)": 1,
    "accepted_values(status)": 1,
    "relationships(customer_id -> customers.customer_id)": 1,
}


def failing(report: object) -> dict[str, int | None]:
    return {c.name: c.failing_rows for c in report.checks}  # type: ignore[attr-defined]


def test_yaml_text() -> None:
    rep = check_dataframe(ORDERS, YAML, tables={"customers": CUSTOMERS})
    assert failing(rep) == EXPECTED
    assert rep.tables[0].relation == "df"
    assert 0 < rep.score < 1


def test_path_and_folder(tmp_path: Path) -> None:
    (tmp_path / "orders.yml").write_text(YAML)
    assert (
        failing(check_dataframe(ORDERS, tmp_path / "orders.yml", tables={"customers": CUSTOMERS})) == EXPECTED
    )
    assert failing(check_dataframe(ORDERS, str(tmp_path), tables={"customers": CUSTOMERS})) == EXPECTED


def test_dict_with_only_checks_applies_to_the_frame_under_any_name() -> None:
    rules = {"checks": [{"not_null": "order_id"}, {"row_count": {"min": 10}}], "where": "status IS NOT NULL"}
    rep = check_dataframe(ORDERS, rules, name='orders "2026"')
    assert rep.tables[0].relation == 'orders "2026"'
    got = {c.name: (c.status, c.total_rows) for c in rep.checks}
    assert got == {"not_null(order_id)": ("pass", 4), "row_count": ("fail", 4)}


def test_ruleset_and_samples() -> None:
    rules = parse_rules(YAML)
    rep = check_dataframe(ORDERS, rules, tables={"customers": CUSTOMERS}, samples=0)
    assert failing(rep) == EXPECTED and all(not c.samples for c in rep.checks)
    rep = check_dataframe(ORDERS, rules, tables={"customers": CUSTOMERS}, samples=1)
    samples = {c.name: c.samples for c in rep.checks}
    assert samples["unique(order_id)"] == [{"order_id": 2.0, "n": 2}]
    assert samples["accepted_values(status)"] == [{"status": "lost", "n": 1}]
    assert samples["relationships(customer_id -> customers.customer_id)"][0]["customer_id"] == 99


def test_bad_rules_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="<rules dict>:"):
        check_dataframe(ORDERS, {"version": 1, "tables": [{"relation": "df", "checks": [{"nope": "x"}]}]})
    with pytest.raises(ConfigError, match="no such rule file"):
        check_dataframe(ORDERS, "rules/missing.yml")
    with pytest.raises(ConfigError, match="YAML syntax error"):
        check_dataframe(ORDERS, "version: 1\ntables: [\n")
    with pytest.raises(ConfigError, match="rules must be"):
        check_dataframe(ORDERS, 42)  # type: ignore[arg-type]
