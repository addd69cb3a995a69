"""One node's upstream and downstream, with statuses from the last run (`pipewatch lineage NODE`)."""

from __future__ import annotations

from dataclasses import dataclass

from pipewatch.artifacts.model import Run
from pipewatch.errors import UsageError
from pipewatch.lineage.graph import Graph


@dataclass(frozen=True, slots=True)
class LineageEntry:
    """A node seen from the focus node: how many edges away it is and how it fared in the run."""

    unique_id: str
    resource_type: str
    distance: int  # 1 = direct parent/child
    status: str | None  # None when the run has no result for it


@dataclass(frozen=True, slots=True)
class NodeLineage:
    """The focus node with its ancestors and descendants, each ordered by (distance, unique id)."""

    unique_id: str
    resource_type: str
    status: str | None
    upstream: tuple[LineageEntry, ...]
    downstream: tuple[LineageEntry, ...]


def upstream_downstream(
    graph: Graph, uid: str, depth: int | None = None, run: Run | None = None
) -> NodeLineage:
    """Ancestors and descendants of `uid` up to `depth` edges away (None: all of them).

    `uid` may be a unique id or a node name (see `Graph.resolve`); statuses come from `run`
    when given. Raises `UnknownNodeError` for a node the graph lacks and `UsageError` for a
    negative depth.
    """
    if depth is not None and depth < 0:
        raise UsageError(f"lineage depth must be 0 or more, got {depth}")
    uid = graph.resolve(uid)
    statuses = {r.unique_id: r.status for r in run.results} if run is not None else {}
    start = graph.index[uid]
    ids = graph.ids
    kinds = graph.kinds

    def entries(upstream: bool) -> tuple[LineageEntry, ...]:
        return tuple(
            LineageEntry(ids[i], kinds[i], d, statuses.get(ids[i]))
            for i, d in graph.within(start, depth, upstream=upstream)
        )

    return NodeLineage(uid, kinds[start], statuses.get(uid), entries(True), entries(False))
