"""Lineage: the run's DAG, failure propagation and root causes, impact, and the critical path.

Typical use, once per run::

    graph = Graph.from_run(run)
    skips = analyze_skips(run, graph)
    failures = analyze_failures(run, graph, skips)
    path = critical_path(run, graph)
    slow = bottlenecks(run, graph, path)
    util = thread_utilization(run)
"""

from __future__ import annotations

from pipewatch.lineage.critical_path import (
    Bottleneck,
    CriticalPath,
    ThreadBusy,
    Utilization,
    bottlenecks,
    critical_path,
    thread_utilization,
)
from pipewatch.lineage.graph import TEST_TYPES, Graph, UnknownNodeError
from pipewatch.lineage.impact import (
    CAUSE_STATUSES,
    FailureImpact,
    SkipExplanation,
    analyze_failures,
    analyze_skips,
    group_by_root_cause,
    is_failure,
)
from pipewatch.lineage.node_lineage import LineageEntry, NodeLineage, upstream_downstream

__all__ = [
    "CAUSE_STATUSES",
    "TEST_TYPES",
    "Bottleneck",
    "CriticalPath",
    "FailureImpact",
    "Graph",
    "LineageEntry",
    "NodeLineage",
    "SkipExplanation",
    "ThreadBusy",
    "UnknownNodeError",
    "Utilization",
    "analyze_failures",
    "analyze_skips",
    "bottlenecks",
    "critical_path",
    "group_by_root_cause",
    "is_failure",
    "thread_utilization",
    "upstream_downstream",
]
