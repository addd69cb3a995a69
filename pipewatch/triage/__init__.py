"""Triage: classify every dbt failure (transient, resource, permission, data, code, dependency, quality,
unknown), say what it calls for (retry, escalate, nothing) and who must act.

Signatures live in data files, one per adapter plus a generic one, under `signatures/`; see `library`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipewatch.facade import lazy_names

# Resolved lazily (PEP 562): naming `triage.unwrap` (the views' first-line helper) must not
# load the classifier and its signature library.
if TYPE_CHECKING:
    from pipewatch.triage.classify import Classification, Evidence, classify, classify_result
    from pipewatch.triage.library import CATEGORIES, Category, known_adapters
    from pipewatch.triage.routing import POLICY, Action, Team, escalation_target

_HOMES = {
    "Classification": "classify",
    "Evidence": "classify",
    "classify": "classify",
    "classify_result": "classify",
    "CATEGORIES": "library",
    "Category": "library",
    "known_adapters": "library",
    "POLICY": "routing",
    "Action": "routing",
    "Team": "routing",
    "escalation_target": "routing",
}

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

__getattr__ = lazy_names(__name__, _HOMES, globals())
