"""Triage: classify every dbt failure (transient, resource, permission, data, code, dependency, quality,
unknown), say what it calls for (retry, escalate, nothing) and who must act.

Signatures live in data files, one per adapter plus a generic one, under `signatures/`; see `library`.
"""

from pipewatch.triage.classify import Classification, Evidence, classify, classify_result
from pipewatch.triage.library import CATEGORIES, Category, known_adapters
from pipewatch.triage.routing import POLICY, Action, Team, escalation_target

__all__ = [
    "CATEGORIES",
    "POLICY",
    "Action",
    "Category",
    "Classification",
    "Evidence",
    "Team",
    "classify",
    "classify_result",
    "escalation_target",
    "known_adapters",
]
