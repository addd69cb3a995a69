"""Which alerts a run sends: what is new or changed, what was already announced, what is resolved.

The outbox (`pipewatch.history.alerts`) keeps a marker per announced item: kind `failure`, `check` or
`anomaly` and the node's id, with a fingerprint of what was said. `read_prior_alerts` reads the latest
marker per item; `plan_alerts` holds back an item whose latest marker is still open, has the same
fingerprint and is younger than the suppression window, and resolves an open failure or check that
passes in this run. What counts as "changed": a failure's category, or its message with digits ignored
(a test that finds 5 bad rows instead of 3 is the same failure; a different error is a new one).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipewatch.analysis import Failure, Outcome
from pipewatch.history.anomaly import Anomaly
from pipewatch.outputs.slack_message import alerted_checks
from pipewatch.outputs.wording import first_line
from pipewatch.rules.results import CheckResult

if TYPE_CHECKING:
    from pipewatch.history.store import HistoryStore

#: Outbox kinds of the per-item markers that suppression reads, and of their resolutions.
FAILURE, CHECK, ANOMALY = "failure", "check", "anomaly"
RESOLVED_KIND = {FAILURE: "failure_resolved", CHECK: "check_resolved"}
#: A message that failed this many deliveries is given up (the outbox stops offering it).
MAX_ATTEMPTS = 5
#: Node statuses that mean an alerted failure is fixed (a `warn` no longer fails the gate).
PASSING_NODE = frozenset({"success", "pass", "warn"})
PASSING_CHECK = frozenset({"pass", "warn"})
_DIGITS = re.compile(r"\d+")
_COUNTED_PLURAL = re.compile(r"(#\s+\w+?)s\b")  # "# results" -> "# result": 1 and 3 read alike


def fingerprint(*parts: object) -> str:
    """A short stable digest of what makes an alert "the same" (numbers, and the plural after one, ignored)."""
    text = "\x1f".join(
        _COUNTED_PLURAL.sub(r"\1", _DIGITS.sub("#", str(p if p is not None else ""))) for p in parts
    )
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


def failure_fingerprint(category: object, message: str | None) -> str:
    """What makes a node's failure "the same" as one announced before: its category and first line."""
    return fingerprint(category, first_line(message, width=500))


@dataclass(frozen=True, slots=True)
class AlertItem:
    """One thing a message announces: a failure, a failing check or an anomaly (or its resolution)."""

    kind: str  # failure | check | anomaly | failure_resolved | check_resolved
    node: str  # unique id, check id, or `<unique id>|<metric>` for anomalies
    fingerprint: str


@dataclass(frozen=True, slots=True)
class PriorAlert:
    """The latest outbox marker for one (kind, node): delivered, or queued and still being tried."""

    kind: str
    node: str
    fingerprint: str | None
    at: float  # when it was sent, or queued if not sent yet (POSIX seconds)
    delivered: bool


@dataclass(slots=True)
class AlertPlan:
    """What this run announces, what it holds back as already announced, and what it resolves."""

    failures: list[Failure] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    items: list[AlertItem] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    resolved: list[AlertItem] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when there is nothing new to announce (resolutions aside)."""
        return not self.items


def plan_alerts(
    outcome: Outcome,
    prior: Mapping[tuple[str, str], PriorAlert],
    *,
    suppression_s: float,
    now: float,
) -> AlertPlan:
    """Decide what to announce given the latest marker per (kind, node) in the outbox.

    An item is held back when its latest marker is still open (no resolution after it), has the same
    fingerprint, and is younger than `suppression_s`. An open failure or check whose node passes in
    this run is resolved.
    """
    plan = AlertPlan()

    def held_back(kind: str, node: str, fp: str) -> bool:
        """Whether this item was announced unchanged within the window and not resolved since."""
        last = prior.get((kind, node))
        if last is None or last.fingerprint != fp:
            return False
        resolution = RESOLVED_KIND.get(kind)
        fixed = prior.get((resolution, node)) if resolution else None
        if fixed is not None and fixed.at >= last.at:
            return False
        return now - last.at < suppression_s

    for f in outcome.failures:
        fp = failure_fingerprint(f.classification.category, f.message)
        if held_back(FAILURE, f.unique_id, fp):
            plan.suppressed.append(f.unique_id)
        else:
            plan.failures.append(f)
            plan.items.append(AlertItem(FAILURE, f.unique_id, fp))
    for c in alerted_checks(outcome):
        fp = fingerprint(c.status, c.type, first_line(c.message, width=500))
        if held_back(CHECK, c.check_id, fp):
            plan.suppressed.append(c.check_id)
        else:
            plan.checks.append(c)
            plan.items.append(AlertItem(CHECK, c.check_id, fp))
    for a in outcome.anomalies:
        node = f"{a.unique_id}|{a.metric}"
        fp = fingerprint(a.direction)
        if held_back(ANOMALY, node, fp):
            plan.suppressed.append(a.unique_id)
        else:
            plan.anomalies.append(a)
            plan.items.append(AlertItem(ANOMALY, node, fp))

    results = outcome.run.result_by_id()
    checks = {c.check_id: c for c in outcome.quality.checks} if outcome.quality else {}
    failing = {f.unique_id for f in outcome.failures}
    for (kind, node), last in sorted(prior.items()):
        resolution = RESOLVED_KIND.get(kind)
        if resolution is None:
            continue
        fixed = prior.get((resolution, node))
        if fixed is not None and fixed.at >= last.at:
            continue  # already resolved (or its resolution is queued)
        if kind == FAILURE:
            result = results.get(node)
            passing = result is not None and result.status in PASSING_NODE and node not in failing
        else:
            check = checks.get(node)
            passing = check is not None and check.status in PASSING_CHECK
        if passing:
            plan.resolved.append(AlertItem(resolution, node, last.fingerprint or ""))
    return plan


def read_prior_alerts(
    store: HistoryStore, *, max_attempts: int = MAX_ATTEMPTS
) -> dict[tuple[str, str], PriorAlert]:
    """The latest marker per (kind, node) that was delivered or is still being tried, in one query.

    Read in bulk (`AlertOutbox.latest_per_node`, one store open) because resolutions must look at
    every alerted node; the outbox's `last_alert_for` answers one node at a time.
    """
    kinds = [FAILURE, CHECK, ANOMALY, *RESOLVED_KIND.values()]
    latest = store.alerts.latest_per_node(kinds, max_attempts=max_attempts)
    prior: dict[tuple[str, str], PriorAlert] = {}
    for (kind, node), alert in latest.items():
        fp = alert.payload.get("fingerprint")
        prior[(kind, node)] = PriorAlert(
            kind, node, fp if isinstance(fp, str) else None, alert.at, alert.status == "sent"
        )
    return prior
