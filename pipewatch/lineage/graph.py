"""The manifest DAG over unique ids, integer-indexed so walks over 30,000+ nodes stay cheap.

Every unique id the run mentions becomes a vertex: manifest nodes, sources, exposures, metrics,
unit tests, ids that only appear as someone's parent (disabled nodes, nodes of another project)
and ids that only appear in run_results. Vertices are numbered in sorted unique-id order, so
sorting indices sorts ids and every walk is deterministic.
"""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

from pipewatch.artifacts.decoding import gc_paused
from pipewatch.artifacts.model import Node, Run
from pipewatch.errors import UsageError

#: Resource types that test other nodes instead of building something.
TEST_TYPES = frozenset({"test", "unit_test"})


class UnknownNodeError(UsageError):
    """A unique id or node name that the run's graph does not hold."""


def resource_type_of(unique_id: str) -> str:
    """The resource type spelled by a unique id's first segment (`model.pkg.x` -> `model`)."""
    head, sep, _ = unique_id.partition(".")
    return head if sep else "unknown"


class Graph:
    """The dependency DAG of one run's manifest, with parent/child lists of vertex indices.

    Built once (`Graph.from_run`) and then only read. Public methods take and return unique ids;
    the `*_idx` methods and the `parent_idx`/`child_idx` lists are for callers that walk the graph
    in bulk. Cycles (which dbt forbids, but corrupt input may hold) never make a walk hang: walks
    mark what they visited, and `topological_order` breaks cycles, recording the edges it dropped.
    """

    __slots__ = (
        "_order",
        "_position",
        "broken_edges",
        "child_idx",
        "ids",
        "index",
        "kinds",
        "memo",
        "nodes",
        "parent_idx",
    )

    def __init__(
        self,
        ids: Sequence[str],
        parent_idx: list[list[int]],
        nodes: Mapping[str, Node] | None = None,
        index: dict[str, int] | None = None,
    ) -> None:
        """Wrap prepared adjacency: `ids` sorted and unique, `parent_idx[i]` sorted indices."""
        self.ids: tuple[str, ...] = tuple(ids)
        self.index: dict[str, int] = index if index is not None else {u: i for i, u in enumerate(self.ids)}
        self.parent_idx: list[list[int]] = parent_idx
        self.nodes: Mapping[str, Node] = nodes if nodes is not None else {}
        children: list[list[int]] = [[] for _ in self.ids]
        # Visiting children in increasing index order yields already-sorted child lists.
        for child, parents in enumerate(parent_idx):
            for parent in parents:
                children[parent].append(child)
        self.child_idx: list[list[int]] = children
        get = self.nodes.get
        self.kinds: list[str] = [
            n.resource_type if (n := get(uid)) is not None else resource_type_of(uid) for uid in self.ids
        ]
        self._order: list[int] | None = None
        self._position: list[int] | None = None
        #: Edges (parent, child) that `topological_order` ignored to break cycles.
        self.broken_edges: tuple[tuple[str, str], ...] = ()
        #: Structures derived from the graph by other rooms, computed once per key (the build's
        #: run edges are asked for by the critical path and again by the what-if simulator).
        self.memo: dict[Hashable, Any] = {}

    # ----------------------------------------------------------------- building

    @classmethod
    def from_run(cls, run: Run) -> Graph:
        """Build the graph of a run: `parent_map`/`child_map` when the manifest has them, else
        each node's `depends_on`. Nodes the maps leave out fall back to their own `depends_on`;
        ids referenced but absent from the manifest become bare vertices; self-loops are dropped.
        """
        parent_map, child_map = run.parent_map, run.child_map
        extra_children: Mapping[str, Iterable[str]] = {}
        if child_map is not None:
            if parent_map is None:
                extra_children = child_map
            else:
                # The maps mirror each other in a sound manifest; read the child map only for
                # ids the parent map lacks, instead of paying for every edge twice.
                extra_children = {u: cs for u, cs in child_map.items() if u not in parent_map}
        mapped = parent_map if parent_map is not None else child_map if child_map is not None else {}
        fallback = {
            uid: node.depends_on for uid, node in run.nodes.items() if node.depends_on and uid not in mapped
        }
        parents_of: Mapping[str, Iterable[str]] = parent_map or {}
        if fallback:
            parents_of = {**parents_of, **fallback}
        extra_ids = [r.unique_id for r in run.results]
        with gc_paused():
            return cls._build(parents_of, extra_children, run.nodes, extra_ids)

    @classmethod
    def _build(
        cls,
        parents_of: Mapping[str, Iterable[str]],
        children_of: Mapping[str, Iterable[str]],
        nodes: Mapping[str, Node],
        extra_ids: Iterable[str],
    ) -> Graph:
        seen: set[str] = set(nodes)
        seen.update(extra_ids)
        seen.update(parents_of)
        seen.update(chain.from_iterable(parents_of.values()))
        seen.update(children_of)
        seen.update(chain.from_iterable(children_of.values()))
        ids = sorted(seen)
        index = {uid: i for i, uid in enumerate(ids)}
        at = index.__getitem__
        empty: list[int] = []
        parent_idx: list[list[int]] = [empty] * len(ids)
        for uid, ps in parents_of.items():
            if ps:
                parent_idx[at(uid)] = list(map(at, ps))
        for uid, cs in children_of.items():
            p = at(uid)
            for c in cs:
                i = at(c)
                lst = parent_idx[i]
                if lst is empty:
                    parent_idx[i] = [p]
                else:
                    lst.append(p)
        for i, lst in enumerate(parent_idx):
            if len(lst) == 1:
                if lst[0] == i:
                    parent_idx[i] = []
            elif lst:
                # Deduplicate (maps may repeat ids, or agree with each other) and drop self-loops.
                uniq = sorted(set(lst))
                if i in lst:
                    uniq.remove(i)
                parent_idx[i] = uniq
            else:
                parent_idx[i] = []  # a list of its own, never the shared empty one
        return cls(ids, parent_idx, nodes, index)

    # ------------------------------------------------------------------ lookups

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, uid: object) -> bool:
        return uid in self.index

    def idx(self, uid: str) -> int:
        """The vertex index of a unique id; `UnknownNodeError` if the graph does not hold it."""
        try:
            return self.index[uid]
        except KeyError:
            raise UnknownNodeError(f"unknown node {uid!r}: not in the manifest or run results") from None

    def resolve(self, name: str) -> str:
        """Turn what a user typed (a unique id, or a node name like `orders`) into a unique id.

        A bare name must match exactly one node's `name` (or an id's last segment); otherwise
        `UnknownNodeError` says whether it was unknown or ambiguous and lists candidates.
        """
        if name in self.index:
            return name
        matches = [
            uid
            for uid in self.ids
            if (self.nodes[uid].name if uid in self.nodes else uid.rpartition(".")[2]) == name
        ]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            # Prefer the buildable node over tests and the like sharing its name.
            primary = [m for m in matches if self.kinds[self.index[m]] not in TEST_TYPES]
            if len(primary) == 1:
                return primary[0]
            shown = ", ".join(matches[:8])
            raise UnknownNodeError(f"node name {name!r} is ambiguous: {shown}; pass a unique id")
        names = {uid.rpartition(".")[2] for uid in self.ids}
        close = difflib.get_close_matches(name, sorted(names), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UnknownNodeError(f"unknown node {name!r}: not in the manifest{hint}")

    def node(self, uid: str) -> Node | None:
        """The manifest node for an id, or None for a bare id (disabled, foreign, results-only)."""
        return self.nodes.get(uid)

    def resource_type(self, uid: str) -> str:
        """The node's resource type (from the manifest, else guessed from the id's prefix)."""
        return self.kinds[self.idx(uid)]

    def _names(self, idxs: Iterable[int]) -> tuple[str, ...]:
        ids = self.ids
        return tuple(ids[i] for i in sorted(idxs))

    def parents(self, uid: str) -> tuple[str, ...]:
        """Direct parents (sorted unique ids)."""
        return self._names(self.parent_idx[self.idx(uid)])

    def children(self, uid: str) -> tuple[str, ...]:
        """Direct children (sorted unique ids)."""
        return self._names(self.child_idx[self.idx(uid)])

    def descendants(self, uid: str) -> tuple[str, ...]:
        """Every node downstream of `uid`, not including itself (sorted unique ids)."""
        return self._names(self.descendants_idx(self.idx(uid)))

    def ancestors(self, uid: str) -> tuple[str, ...]:
        """Every node upstream of `uid`, not including itself (sorted unique ids)."""
        return self._names(self.ancestors_idx(self.idx(uid)))

    # -------------------------------------------------------------- bulk walks

    def descendants_idx(self, start: int | Iterable[int]) -> list[int]:
        """Indices downstream of `start` (one index or several), excluding the start(s); unsorted."""
        return _reach(self.child_idx, start, len(self.ids))

    def ancestors_idx(self, start: int | Iterable[int]) -> list[int]:
        """Indices upstream of `start` (one index or several), excluding the start(s); unsorted."""
        return _reach(self.parent_idx, start, len(self.ids))

    def within(self, start: int, depth: int | None, *, upstream: bool) -> list[tuple[int, int]]:
        """(index, distance) pairs reachable from `start` within `depth` steps (None: no limit)."""
        adj = self.parent_idx if upstream else self.child_idx
        dist = {start: 0}
        frontier = [start]
        step = 0
        while frontier and (depth is None or step < depth):
            step += 1
            nxt: list[int] = []
            for v in frontier:
                for w in adj[v]:
                    if w not in dist:
                        dist[w] = step
                        nxt.append(w)
            frontier = nxt
        del dist[start]
        return sorted(dist.items(), key=lambda kv: (kv[1], kv[0]))

    # ------------------------------------------------------------ topological order

    def topological_order(self) -> tuple[str, ...]:
        """All unique ids, parents before children (Kahn's algorithm, deterministic).

        On a cycle the smallest-index vertex still waiting is released early; the edges into it
        from vertices not yet placed are recorded in `broken_edges` and treated as absent.
        """
        ids = self.ids
        return tuple(ids[i] for i in self.order_idx())

    def order_idx(self) -> list[int]:
        """`topological_order` as vertex indices (computed once, then cached)."""
        if self._order is None:
            order, broken = kahn(self.parent_idx, self.child_idx)
            self._order = order
            self.broken_edges = tuple((self.ids[p], self.ids[c]) for p, c in broken)
        return self._order

    def position(self) -> list[int]:
        """`position()[i]` is vertex i's place in `order_idx()`; an edge p->c with
        `position[p] >= position[c]` is one that breaking a cycle discarded."""
        if self._position is None:
            self._position = positions(self.order_idx())
        return self._position


def positions(order: Sequence[int]) -> list[int]:
    """The inverse of a topological order of vertices 0..n-1: `positions(order)[v]` is v's place in it."""
    pos = [0] * len(order)
    for k, v in enumerate(order):
        pos[v] = k
    return pos


def _reach(adj: list[list[int]], start: int | Iterable[int], n: int) -> list[int]:
    """Breadth-first walk over `adj` from the start vertex or vertices; the starts are not reported.

    Level by level with plain lists: the same order a FIFO queue gives, without a call per vertex.
    """
    seen = bytearray(n)
    frontier = [start] if isinstance(start, int) else list(start)
    for s in frontier:
        seen[s] = 1
    out: list[int] = []
    while frontier:
        level: list[int] = []
        add = level.append
        for v in frontier:
            for w in adj[v]:
                if not seen[w]:
                    seen[w] = 1
                    add(w)
        out += level
        frontier = level
    return out


def kahn(
    parents: Sequence[Sequence[int]], children: Sequence[Sequence[int]]
) -> tuple[list[int], list[tuple[int, int]]]:
    """Topological order of vertices 0..n-1 plus the (parent, child) edges dropped to break cycles.

    Deterministic: ready vertices leave in FIFO order, seeded in index order; when nothing is
    ready but vertices remain, the smallest-index remaining vertex is released (its pending
    in-edges are the broken ones). Runs in O(V + E) plus the cycle scan.
    """
    n = len(parents)
    indeg = [len(p) for p in parents]
    placed = bytearray(n)
    order: list[int] = []
    # Level by level with plain lists: the order a FIFO queue gives, without a call per vertex.
    frontier = [i for i in range(n) if indeg[i] == 0]
    broken: list[tuple[int, int]] = []
    scan = 0
    while len(order) < n:
        if not frontier:
            while placed[scan] or indeg[scan] == 0:
                scan += 1
            v = scan
            broken.extend((p, v) for p in parents[v] if not placed[p])
            indeg[v] = 0
            frontier = [v]
        while frontier:
            level: list[int] = []
            add = level.append
            for v in frontier:
                if placed[v]:
                    continue
                placed[v] = 1
                order.append(v)
                for c in children[v]:
                    if not placed[c]:
                        indeg[c] -= 1
                        if indeg[c] == 0:
                            add(c)
            frontier = level
    return order, broken
