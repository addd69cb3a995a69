"""One straight pass over a loaded run: lineage, triage, critical path, gate -> an `Outcome`.

`analyze` is what `pipewatch after-run` does between loading artifacts and rendering them; the
`Outcome` it returns is the single object every output format (text, JSON, Markdown, ...) reads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipewatch.artifacts.decoding import gc_paused
from pipewatch.artifacts.model import FAILED_STATUSES, OK_STATUSES, Node, NodeResult, Run, SourceFreshness
from pipewatch.artifacts.sources import FRESHNESS_WINDOW_S
from pipewatch.artifacts.stubs import stub_node
from pipewatch.config import Config
from pipewatch.history.anomaly import Anomaly
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
from pipewatch.lineage.graph import UnknownNodeError
from pipewatch.live.simulate import WhatIf, run_what_if
from pipewatch.owners import owner_of
from pipewatch.rules.results import QualityReport
from pipewatch.rules.scoring import gate as quality_gate
from pipewatch.schema_changes.model import ColumnChange
from pipewatch.schema_changes.tracking import SchemaTracking
from pipewatch.schema_changes.walk import ColumnHop
from pipewatch.triage import Classification, classify_result, escalation_target


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
    schema_changes: list[ColumnChange] = field(default_factory=list)  # changes this failure read

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
    # The thread what-if costs a few tenths of a second on a 30,000-node build: computed on first
    # use (the text and JSON views), not for every caller of `analyze`.
    _what_if: list[WhatIf | None] = field(default_factory=list, init=False, repr=False)

    @property
    def what_if(self) -> WhatIf | None:
        """The build re-planned at half, double and four times its threads (`live.simulate`)."""
        if not self._what_if:
            self._what_if.append(run_what_if(self.run, self.graph, self.utilization.threads))
        return self._what_if[0]

    schema_changes: list[ColumnChange] = field(default_factory=list)

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

    def unexplained_skips(self) -> tuple[str, ...]:
        """`root_cause_groups()[None]` without grouping every skip: the skipped ids, sorted, that no
        failure of this run explains."""
        return tuple(sorted(s.unique_id for s in self.skipped if not s.root_causes))


def relevant_freshness(run: Run) -> tuple[list[SourceFreshness], list[str]]:
    """Freshness results that belong with this run (not a sources.json left over from days ago), and why not."""
    if not run.freshness:
        return [], []
    checked = [f.snapshotted_at for f in run.freshness if f.snapshotted_at is not None]
    if run.generated_at is not None and checked:
        age = run.generated_at - max(checked)
        if age > FRESHNESS_WINDOW_S:
            return [], [
                f"sources.json was written {age / 3600:.0f}h before run_results.json; "
                "its freshness results are ignored as not part of this run"
            ]
    return list(run.freshness), []


# The analysis of a large run builds tens of thousands of short-lived objects and no cycles; a
# collection in the middle would walk every node of the run for nothing.
@gc_paused()
def analyze(
    run: Run,
    config: Config | None = None,
    quality: QualityReport | None = None,
    *,
    anomalies: Sequence[Anomaly] = (),
    warnings: Sequence[str] = (),
    schema: SchemaTracking | None = None,
) -> Outcome:
    """Analyse a loaded run: classify failures, explain skips, find the critical path, decide the gate.

    `anomalies` (judged by the history module) and extra `warnings` (from steps around the analysis)
    go into the Outcome as they are: it is built once, complete. `schema` (the run's compared column
    snapshot) is traced here, on the run's graph, and pinned on the failures it explains.
    """
    config = config or Config()
    graph = Graph.from_run(run)
    results = run.result_by_id()
    skips = analyze_skips(run, graph)
    impacts = {impact.unique_id: impact for impact in analyze_failures(run, graph, skips)}

    failures: list[Failure] = []
    for uid, impact in impacts.items():
        node = run.nodes.get(uid) or stub_node(uid)
        result = results.get(uid)
        classification = classify_result(result, run.adapter_type) if result else None
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
    freshness, stale_news = relevant_freshness(run)
    path = critical_path(run, graph)
    utilization = thread_utilization(run)
    gate = decide_gate(run, skips, freshness, quality, config.min_score)
    changes = _schema_changes(schema, run, graph, config, failures, gate)
    return Outcome(
        run=run,
        graph=graph,
        by_status=dict(sorted(Counter(r.status for r in results.values()).items())),
        failures=failures,
        skipped=skips,
        critical_path=path,
        bottlenecks=bottlenecks(run, graph, path, utilization=utilization),
        utilization=utilization,
        freshness=freshness,
        quality=quality,
        anomalies=list(anomalies),
        gate=gate,
        warnings=[*run.warnings, *stale_news, *warnings],
        schema_changes=changes,
    )


def _schema_changes(
    schema: SchemaTracking | None, run: Run, graph: Graph, config: Config, failures: list[Failure], gate: Gate
) -> list[ColumnChange]:
    """Trace the schema changes, pin each on the failures it explains, and apply `schema.fail_on`."""
    settings = config.schema
    fail_on = settings.fail_on if settings is not None else []
    if schema is None or schema.snapshot is None:
        if fail_on and (settings is None or settings.enabled):
            # Fail closed: a gate asked to judge schema changes that pipewatch could not see.
            gate.reasons.append("schema.fail_on is set, but no column snapshot of this build could be taken")
            gate.passed = False
        return []
    if not schema.compared and fail_on:
        gate.reasons.append("schema.fail_on is set, but there is no history store to compare columns with")
        gate.passed = False
    schema.trace(run, graph, config.owners)
    from pipewatch.schema_changes.impact import explains, schema_gate

    for failure in failures:
        failure.schema_changes = [
            c
            for c in schema.changes
            if explains(c, failure.unique_id, failure.message, failure.classification.category)
        ]
    reasons = schema_gate(schema.changes, fail_on)
    if reasons:
        gate.reasons.extend(reasons)
        gate.passed = False
    return schema.changes


def decide_gate(
    run: Run,
    skips: Sequence[SkipExplanation],
    freshness: Sequence[SourceFreshness],
    quality: QualityReport | None = None,
    min_score: float | None = None,
) -> Gate:
    """The CI gate: fails where dbt's own verdict on the run would, and on stale sources and checks.

    Like dbt-core's `interpret_results`, a result that errored, failed, ended in `partial success`, or
    was skipped fails the run; every result counts, so a node that errored and then ran again is
    still an error. What pipewatch does not understand (an unknown or missing status, a run_results
    with no results) fails too, with a reason saying what: a gate must fail closed. Quality checks
    are judged by `rules.scoring.gate`, the one rule for `check` and `after-run`.
    """
    reasons: list[str] = []
    by_status: dict[str, set[str]] = {}
    for result in run.results:
        by_status.setdefault(result.status, set()).add(result.unique_id)
    for status, template in _FAILING.items():
        if by_status.get(status):
            reasons.append(template.format(n=len(by_status[status])))
    unexplained = [s.unique_id for s in skips if not s.root_causes and not _is_exposure(run, s.unique_id)]
    if unexplained:
        reasons.append(
            f"{len(unexplained)} node(s) skipped with no failure upstream to explain it "
            f"({_examples(unexplained)}); dbt counts a skip as a failure"
        )
    unknown = sorted(status for status in by_status if status not in _UNDERSTOOD)
    if unknown:
        count = sum(len(by_status[status]) for status in unknown)
        reasons.append(
            f"{count} node result(s) with a status pipewatch does not know ({', '.join(unknown)}); "
            "failing closed"
        )
    if "run_results" in run.schema_versions and not run.results:
        reasons.append("run_results.json lists no node results: nothing ran")
    stale = [f for f in freshness if f.status in FAILED_STATUSES]
    if stale:
        reasons.append(f"{len(stale)} source(s) stale beyond error_after or failed their freshness check")
    reasons.extend(quality_gate(quality, min_score, per_check=False)[1])
    return Gate(passed=not reasons, reasons=reasons)


#: Statuses dbt's `interpret_results` counts as a failed run, and how the gate says so.
_FAILING = {
    "error": "{n} node(s) errored",
    "fail": "{n} error-severity test(s) failed",
    "partial success": "{n} node(s) ended in partial success (dbt counts it as a failure)",
}
#: Every status the gate knows what to make of; a skip is judged with its explanation.
_UNDERSTOOD = OK_STATUSES | _FAILING.keys() | {"skipped"}


def _is_exposure(run: Run, unique_id: str) -> bool:
    # dbt does not count a skipped exposure against the run.
    node = run.nodes.get(unique_id)
    return (node.resource_type if node else unique_id.split(".", 1)[0]) == "exposure"


def _examples(ids: Sequence[str], limit: int = 3) -> str:
    return ", ".join(ids[:limit]) + (", ..." if len(ids) > limit else "")


def node_lineage(
    project_dir: Path, name_or_id: str, depth: int | None = None, *, target_path: str | None = None
) -> NodeLineage:
    """One node's upstream and downstream with last-run statuses (`pipewatch lineage NODE`).

    Reads the artifacts of the project's target dir (`target_path` as `--target-path` would give it).
    """
    from pipewatch.artifacts import load_run
    from pipewatch.config import load_config, resolve_target_dir

    config = load_config(project_dir)
    run = load_run(resolve_target_dir(project_dir, target_path, config.target_path))
    return upstream_downstream(Graph.from_run(run), name_or_id, depth, run)


@dataclass(frozen=True, slots=True)
class ColumnLineage:
    """One column's upstream and downstream columns (`pipewatch lineage NODE.COLUMN`)."""

    unique_id: str
    column: str
    upstream: list[ColumnHop]
    downstream: list[ColumnHop]
    precision: str  # `column`, or `table` when SQL below could not be parsed
    schema_source: str  # where the relations' columns came from: catalog, history, or none


def split_column_spec(graph: Graph, spec: str) -> tuple[str, str | None]:
    """`orders` -> (its id, None); `orders.amount` -> (its id, `amount`) when `orders.amount` is no node."""
    try:
        return graph.resolve(spec), None
    except UnknownNodeError:
        node, dot, column = spec.rpartition(".")
        if not dot or not node or not column:
            raise
        return graph.resolve(node), column


def column_lineage(
    target: Path, run: Run, graph: Graph, unique_id: str, column: str, history: Path | None
) -> ColumnLineage:
    """Where `unique_id.column` comes from and which columns downstream read it, parsed from compiled SQL.

    Relations' columns (to expand `select *`) come from the target dir's catalog.json, else the latest
    snapshots in the history store, else none (stars then carry columns on by name).
    """
    from pipewatch.artifacts.catalog import CATALOG_FILE, load_catalog
    from pipewatch.errors import ArtifactError
    from pipewatch.schema_changes.impact import SqlColumns
    from pipewatch.schema_changes.tracking import code_source
    from pipewatch.schema_changes.walk import downstream_columns, upstream_columns
    from pipewatch.warehouse.dialects import ADAPTER_DIALECTS

    tables, source = {}, "none"
    try:
        tables, source = load_catalog(target / CATALOG_FILE).tables, "catalog"
    except ArtifactError:
        if history is not None and history.is_file():
            from pipewatch.history.columns import latest_columns
            from pipewatch.history.store import HistoryStore

            with HistoryStore(history).connect(create=False) as con:
                tables, source = latest_columns(con), "history"
    columns = {uid: list(t.columns) for uid, t in tables.items()}
    dialect = ADAPTER_DIALECTS.get((run.adapter_type or "").lower())
    notes: list[str] = []
    sql = SqlColumns(run, graph, columns, code_source(run, target, notes), dialect)
    reach = downstream_columns(graph, sql, unique_id, column)
    return ColumnLineage(
        unique_id,
        column,
        upstream_columns(graph, sql, unique_id, column),
        reach.hops,
        "table" if reach.table_level else "column",
        source,
    )
