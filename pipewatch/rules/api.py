"""Check pandas DataFrames from Python: `check_dataframe(df, rules)` runs rules on in-memory DuckDB."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from pipewatch.errors import ConfigError
from pipewatch.rules.engine import run_checks
from pipewatch.rules.loader import RULE_FILE_SUFFIXES, load_rules, parse_rules
from pipewatch.rules.results import QualityReport
from pipewatch.rules.spec import RuleSet
from pipewatch.warehouse.duckdb import DuckDBWarehouse

RulesInput = str | Path | Mapping[str, Any] | RuleSet


def check_dataframe(
    df: Any,
    rules: RulesInput,
    *,
    name: str = "df",
    tables: Mapping[str, Any] | None = None,
    samples: int = 5,
    now: datetime | None = None,
) -> QualityReport:
    """Run quality rules on a pandas DataFrame and return the report.

    `rules` is a rule file or folder path, rule-file YAML text, a dict of the same shape, or a loaded
    `RuleSet`. The frame is the relation `name` (rules say `relation: df`); a rules mapping with only a
    `checks:` list applies those checks to it. `tables` registers more frames (e.g. the parents of
    `relationships` checks) under their own names.
    """
    ruleset = _ruleset(rules, name)
    with DuckDBWarehouse() as wh:
        wh.register(name, df)
        for other, frame in (tables or {}).items():
            wh.register(other, frame)
        return run_checks(ruleset, wh, samples=samples, now=now)


def _ruleset(rules: RulesInput, name: str) -> RuleSet:
    if isinstance(rules, RuleSet):
        return rules
    if isinstance(rules, Path) or (
        isinstance(rules, str)
        and "\n" not in rules
        and (rules.endswith(RULE_FILE_SUFFIXES) or Path(rules).is_dir())
    ):
        return load_rules(rules)
    if isinstance(rules, str):
        try:
            data = yaml.safe_load(rules)
        except yaml.YAMLError:
            return parse_rules(rules)  # the loader reports the syntax error with its line
        if isinstance(data, Mapping) and "tables" not in data and "checks" in data:
            return parse_rules(_dump(_wrap(data, name)), source="<rules>")
        return parse_rules(rules)
    if isinstance(rules, Mapping):
        data = _wrap(rules, name) if "tables" not in rules and "checks" in rules else dict(rules)
        return parse_rules(_dump(data), source="<rules dict>")
    raise ConfigError(f"rules must be a path, YAML text or a dict (got {type(rules).__name__})")


def _wrap(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    """`{checks: [...]}` as a full rule file for the one relation `name`."""
    table = {"relation": _quoted(name), **{k: v for k, v in data.items() if k != "version"}}
    return {"version": data.get("version", 1), "tables": [table]}


def _quoted(name: str) -> str:
    """A registered name as a `relation:` string (quoted, so any name round-trips)."""
    return '"' + name.replace('"', '""') + '"'


def _dump(data: Mapping[str, Any]) -> str:
    try:
        return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True)
    except yaml.YAMLError as exc:
        raise ConfigError(f"<rules dict>: cannot be read as a rule file: {exc}") from None
