"""Declarative quality rules: spec loading, compilation to sqlglot, fused planning, the engine, the gate."""

from __future__ import annotations

from pipewatch.rules.api import check_dataframe
from pipewatch.rules.engine import run_checks
from pipewatch.rules.loader import load_rules, parse_rules
from pipewatch.rules.planner import Plan, Statement, plan
from pipewatch.rules.results import CheckResult, QualityReport, TableResult
from pipewatch.rules.rule_checks import parse_duration
from pipewatch.rules.scoring import gate
from pipewatch.rules.spec import RuleSet, TableRef, TableSpec

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
