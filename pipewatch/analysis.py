"""One straight pass over a loaded run: lineage, triage, critical path, gate -> an `Outcome`.

`analyze` is what `pipewatch after-run` does between loading artifacts and rendering them; the
`Outcome` it returns is the single object every output format (text, JSON, Markdown, ...) reads.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from pipewatch.artifacts.model import FAILED_STATUSES, Node, NodeResult, Run, SourceFreshness
from pipewatch.artifacts.stubs import stub_node
from pipewatch.config import Config
from pipewatch.lineage import (
    Bottleneck,
    CriticalPath,
    Graph,
    NodeLineage,
    SkipExplanation,
    Utilization,
    analyze_failures,
    analyze_skips,
    bottlenecks,
    critical_path,
    group_by_root_cause,
    thread_utilization,
    upstream_downstream,
)
from pipewatch.owners import owner_of
from pipewatch.rules.results import QualityReport
from pipewatch.rules.scoring import fails_gate
from pipewatch.triage import Classification, classify_result, escalation_target

#: sources.json older than this before the run's results is stale news, not this run's freshness.
FRESHNESS_WINDOW_S = 24 * 3600.0


@dataclass(slots=True)
class Failure:
    """A failed or errored node, why (triage), who must act, and what it hit downstream."""

    node: Node
    result: NodeResult | None
    status: str
    message: str | None
    classification: Classification
    owner: str | None
    escalate_to: str | None
    downstream: list[str]
    skipped_downstream: list[str]
    exposures: list[str]
    downstream_owners: list[str]

    @property
    def unique_id(self) -> str:
        """The failed node's unique id."""
        return self.node.unique_id


@dataclass(slots=True)
class Gate:
    """The CI verdict: passed, or the reasons it did not."""

    passed: bool
    reasons: list[str]


@dataclass(slots=True)
class Anomaly:
    """A metric whose latest value departs from its history (filled by the history module)."""

    unique_id: str
    metric: str
    value: float
    expected_low: float
    expected_high: float
    direction: str
    points: int


@dataclass(slots=True)
class Outcome:
    """Everything one after-run found; outputs render it, history stores it."""

    run: Run
    graph: Graph
    by_status: dict[str, int]
    failures: list[Failure]
    skipped: list[SkipExplanation]
    critical_path: CriticalPath
    bottlenecks: list[Bottleneck]
    utilization: Utilization
    freshness: list[SourceFreshness]
    quality: QualityReport | None = None
    anomalies: list[Anomaly] = field(default_factory=list)
    gate: Gate = field(default_factory=lambda: Gate(True, []))
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """How many node results the run has."""
        return sum(self.by_status.values())

    def failures_by_actor(self) -> dict[str, list[Failure]]:
        """Failures grouped by who must act: an owner, the platform team, or retry (no one yet)."""
        groups: dict[str, list[Failure]] = {}
        for failure in self.failures:
            if failure.classification.action == "retry":
                who = "retry (transient)"
            else:
                who = failure.escalate_to or f"unowned ({failure.classification.escalate_to or 'nobody'})"
            groups.setdefault(who, []).append(failure)
        return dict(sorted(groups.items()))

    def root_cause_groups(self) -> dict[str | None, tuple[str, ...]]:
        """Skipped node ids grouped under each root cause (None: skips nothing in this run explains)."""
        return group_by_root_cause(self.skipped)


def _relevant_freshness(run: Run, warnings: list[str]) -> list[SourceFreshness]:
    """Freshness results that belong with this run: not a sources.json left over from days ago."""
    if not run.freshness:
        return []
    checked = [f.snapshotted_at for f in run.freshness if f.snapshotted_at is not None]
    if run.generated_at is not None and checked:
        age = run.generated_at - max(checked)
        if age > FRESHNESS_WINDOW_S:
            warnings.append(
                f"sources.json was written {age / 3600:.0f}h before run_results.json; "
                "its freshness results are ignored as not part of this run"
            )
            return []
    return list(run.freshness)


def analyze(run: Run, config: Config | None = None, quality: QualityReport | None = None) -> Outcome:
    """Analyse a loaded run: classify failures, explain skips, find the critical path, decide the gate."""
    config = config or Config()
    graph = Graph.from_run(run)
    results = run.result_by_id()
    warnings = list(run.warnings)
    skips = analyze_skips(run, graph)
    impacts = {impact.unique_id: impact for impact in analyze_failures(run, graph, skips)}

    failures: list[Failure] = []
    for uid, impact in impacts.items():
        node = run.nodes.get(uid) or stub_node(uid)
        result = results.get(uid)
        classification = classify_result(result, node, run.adapter_type) if result else None
        if classification is None:  # pragma: no cover - analyze_failures only returns nodes with results
            continue
        owner = impact.owner or owner_of(node, config.owners)
        failures.append(
            Failure(
                node=node,
                result=result,
                status=result.status if result else "error",
                message=result.message if result else None,
                classification=classification,
                owner=owner,
                escalate_to=escalation_target(classification, owner, config.platform_owner),
                downstream=list(impact.downstream),
                skipped_downstream=list(impact.skipped_downstream),
                exposures=list(impact.exposures),
                downstream_owners=[o for o in impact.owners if o != owner],
            )
        )
    freshness = _relevant_freshness(run, warnings)
    path = critical_path(run, graph)
    outcome = Outcome(
        run=run,
        graph=graph,
        by_status=dict(sorted(Counter(r.status for r in results.values()).items())),
        failures=failures,
        skipped=skips,
        critical_path=path,
        bottlenecks=bottlenecks(run, graph, path),
        utilization=thread_utilization(run),
        freshness=freshness,
        quality=quality,
        warnings=warnings,
    )
    outcome.gate = decide_gate(outcome, config.min_score)
    return outcome


def decide_gate(outcome: Outcome, min_score: float | None = None) -> Gate:
    """The CI gate: fails on errored nodes, failed error-severity tests, stale sources, checks, low score."""
    reasons: list[str] = []
    errored = [f for f in outcome.failures if f.status == "error"]
    failed_tests = [f for f in outcome.failures if f.status == "fail"]
    if errored:
        reasons.append(f"{len(errored)} node(s) errored")
    if failed_tests:
        reasons.append(f"{len(failed_tests)} error-severity test(s) failed")
    stale = [f for f in outcome.freshness if f.status in FAILED_STATUSES]
    if stale:
        reasons.append(f"{len(stale)} source(s) stale beyond error_after or failed their freshness check")
    if outcome.quality is not None:
        failed_checks = [c for c in outcome.quality.checks if fails_gate(c)]
        if failed_checks:
            reasons.append(f"{len(failed_checks)} error-severity check(s) failed")
        if min_score is not None and outcome.quality.score < min_score:
            reasons.append(f"quality score {outcome.quality.score:.3f} is below the minimum {min_score:.3f}")
    return Gate(passed=not reasons, reasons=reasons)


def node_lineage(run: Run, name_or_id: str, depth: int | None = None) -> NodeLineage:
    """One node's upstream and downstream with last-run statuses (`pipewatch lineage NODE`)."""
    return upstream_downstream(Graph.from_run(run), name_or_id, depth, run)
