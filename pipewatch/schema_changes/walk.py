"""Walking column lineage across nodes: every column downstream that reads one column, and every column
upstream it comes from, each with its distance in edges.

Both walks parse a node's SQL only when they reach it (`impact.SqlColumns` keeps each parse). Going
down, a node whose SQL cannot be parsed is taken as reading the column, with all it feeds (`table`
precision); going up, such a node ends the walk there.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipewatch.lineage.graph import Graph

if TYPE_CHECKING:
    from pipewatch.schema_changes.impact import SqlColumns

#: Nodes that consume a relation without SQL pipewatch can read.
CONSUMERS = frozenset({"exposure", "metric", "semantic_model", "saved_query"})


@dataclass(frozen=True, slots=True)
class ColumnHop:
    """A node reached by a column walk: its id, the column there (None: a table-level hop), its distance."""

    unique_id: str
    column: str | None
    distance: int


@dataclass(slots=True)
class Reach:
    """What a downstream walk reached: readers and the columns they carry it into, consumers, table-level nodes."""

    hops: list[ColumnHop] = field(default_factory=list)
    readers: dict[str, list[str]] = field(default_factory=dict)  # node -> its columns from the start column
    consumers: set[str] = field(default_factory=set)  # exposures and the like on a reading node
    table_level: set[str] = field(default_factory=set)  # nodes below an unparsed one (and it)


def downstream_columns(graph: Graph, sql: SqlColumns, unique_id: str, column: str) -> Reach:
    """Every node and column downstream of `unique_id.column` whose SQL reads it, nearest first."""
    reach = Reach()
    kinds = graph.kinds
    start = (unique_id, column.lower())
    queue = deque([(start, 0)])
    seen = {start}
    unparsed: list[tuple[int, int]] = []
    while queue:
        (node, col), distance = queue.popleft()
        for child in graph.child_idx[graph.index[node]]:
            child_id = graph.ids[child]
            if kinds[child] in CONSUMERS:
                reach.consumers.add(child_id)
                continue
            if not sql.may_read(child_id, col):
                continue
            parsed = sql.of(child_id)
            if parsed is None:
                unparsed.append((child, distance + 1))
                continue
            if not parsed.reads_column(node, col):
                continue
            outputs = reach.readers.setdefault(child_id, [])
            found = parsed.outputs_from(node, col)
            if not found:
                reach.hops.append(ColumnHop(child_id, None, distance + 1))
            for out in found:
                if out not in outputs:
                    outputs.append(out)
                if (child_id, out) not in seen:
                    seen.add((child_id, out))
                    reach.hops.append(ColumnHop(child_id, out, distance + 1))
                    queue.append(((child_id, out), distance + 1))
    _below_unparsed(graph, unparsed, reach)
    return reach


def _below_unparsed(graph: Graph, unparsed: list[tuple[int, int]], reach: Reach) -> None:
    """Add every unparsed node and all below it at table level, in one walk: nearest first, and a node
    already reached from another unparsed one is not walked again (thousands of unparsed nodes below
    one root share their descendants; a walk per node would be quadratic)."""
    kinds = graph.kinds
    visited: set[int] = set()
    for index, distance in sorted(unparsed, key=lambda hop: hop[1]):
        stack = [index]
        while stack:
            below = stack.pop()
            if below in visited:
                continue
            visited.add(below)
            below_id = graph.ids[below]
            if kinds[below] in CONSUMERS:
                reach.consumers.add(below_id)
            elif below_id not in reach.table_level:
                reach.table_level.add(below_id)
                reach.hops.append(ColumnHop(below_id, None, distance))
            stack.extend(graph.child_idx[below])


def upstream_columns(graph: Graph, sql: SqlColumns, unique_id: str, column: str) -> list[ColumnHop]:
    """Every parent column `unique_id.column` is computed from, and theirs, nearest first."""
    hops: list[ColumnHop] = []
    start = (unique_id, column.lower())
    queue = deque([(start, 0)])
    seen = {start}
    while queue:
        (node, col), distance = queue.popleft()
        parsed = sql.of(node) if graph.kinds[graph.index[node]] not in ("source", "seed") else None
        if parsed is None:
            continue
        sources = parsed.derives.get(col) or parsed.derives.get("*", set())
        for parent, parent_column in sorted(sources):
            name = col if parent_column == "*" else parent_column
            if (parent, name) not in seen:
                seen.add((parent, name))
                hops.append(ColumnHop(parent, name, distance + 1))
                queue.append(((parent, name), distance + 1))
    return hops
