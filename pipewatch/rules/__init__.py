"""Declarative quality rules: spec loading, compilation to sqlglot, fused planning, the engine, the gate.

The names below are the package's public façade, resolved lazily (PEP 562): importing a light module
of this package (`rules.results`, `rules.located`, `rules.scoring`) must not pull in sqlglot and
duckdb, which the planner and the engine need and which cost most of a command's start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipewatch.facade import lazy_names

if TYPE_CHECKING:
    from pipewatch.rules.api import check_dataframe
    from pipewatch.rules.engine import run_checks
    from pipewatch.rules.loader import load_rules, parse_rules
    from pipewatch.rules.planner import Plan, Statement, plan
    from pipewatch.rules.results import CheckResult, QualityReport, TableResult
    from pipewatch.rules.rule_checks import parse_duration
    from pipewatch.rules.scoring import gate
    from pipewatch.rules.spec import RuleSet, TableRef, TableSpec

#: Each public name and the module that defines it.
_HOMES = {
    "check_dataframe": "api",
    "run_checks": "engine",
    "load_rules": "loader",
    "parse_rules": "loader",
    "Plan": "planner",
    "Statement": "planner",
    "plan": "planner",
    "CheckResult": "results",
    "QualityReport": "results",
    "TableResult": "results",
    "parse_duration": "rule_checks",
    "gate": "scoring",
    "RuleSet": "spec",
    "TableRef": "spec",
    "TableSpec": "spec",
}

__all__ = [
    "CheckResult",
    "Plan",
    "QualityReport",
    "RuleSet",
    "Statement",
    "TableRef",
    "TableResult",
    "TableSpec",
    "check_dataframe",
    "gate",
    "load_rules",
    "parse_duration",
    "parse_rules",
    "plan",
    "run_checks",
]


__getattr__ = lazy_names(__name__, _HOMES, globals())
