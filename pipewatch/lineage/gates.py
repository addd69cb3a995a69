"""The edges `dbt build` adds from tests to the nodes that wait for them ("test gates").

In `dbt build` a node does not start until the tests of its ancestors have passed: dbt adds an
edge from a test T to every non-test manifest node N whose ancestors include *all* of T's parents
(`Linker.add_test_edges` in dbt-core). A failing error-severity test therefore skips those nodes,
and their descendants, although T is not their ancestor in the manifest graph. Unit tests go the
other way: they run just before the model they test, and a failing one skips that model.

Only the minimal gated nodes are returned (like dbt's fast variant): every other gated node
descends from one of them, so walks and longest paths see the same reachability.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipewatch.lineage.graph import TEST_TYPES, Graph

#: Resource types dbt never gates behind tests: they are not manifest `nodes` (sources, exposures,
#: metrics, semantic models, saved queries, functions) or they are tests themselves.
UNGATED_TYPES = TEST_TYPES | {"source", "exposure", "metric", "semantic_model", "saved_query", "function"}


def gated_by(graph: Graph, tests: Iterable[int]) -> dict[int, list[int]]:
    """Map each vertex to the given data tests that gate it (`test -> vertex` build edges).

    Like dbt, only manifest nodes that are not tests (models, seeds, snapshots, analyses...) are
    gated; exposures and the like are reached through the models they depend on.

    `tests` are vertex indices of data tests (unit tests are ignored here; see `unit_test_target`).
    A single-parent test gates the non-test children of its parent; a test with several parents
    gates the first non-test nodes below all of them, found with one forward pass in topological
    order that tracks only the ancestors that matter.
    """
    kinds = graph.kinds
    parents = graph.parent_idx
    children = graph.child_idx
    gates: dict[int, list[int]] = {}
    multi: list[int] = []
    for t in tests:
        if kinds[t] != "test":
            continue
        deps = parents[t]
        if len(deps) == 1:
            for c in children[deps[0]]:
                if kinds[c] not in UNGATED_TYPES:
                    gates.setdefault(c, []).append(t)
        elif len(deps) > 1:
            multi.append(t)
    if multi:
        _gate_multi(graph, multi, gates)
    for lst in gates.values():
        lst.sort()
    return gates


def _gate_multi(graph: Graph, multi: list[int], gates: dict[int, list[int]]) -> None:
    """Gates of tests with several parents (relationships tests, multi-ref singular tests).

    One pass in topological order keeps, per vertex, a bitmask of its ancestors among the
    tests' parents. Test T gates vertex v when v's mask covers T's parents and no parent of v's
    mask does (otherwise that parent, or one above it, is gated already). Only tests with a
    parent in the bits v adds over its "fullest" parent can newly be covered at v, so each
    vertex checks a handful of tests rather than every pending one.
    """
    kinds = graph.kinds
    parents = graph.parent_idx
    pos = graph.position()
    bit: dict[int, int] = {}  # tracked vertex -> its bit
    by_bit: list[list[int]] = []  # bit number -> the multi tests depending on that vertex
    need: dict[int, int] = {}  # multi test -> mask of its parents
    for t in multi:
        m = 0
        for d in parents[t]:
            b = bit.get(d)
            if b is None:
                b = bit[d] = len(by_bit)
                by_bit.append([])
            by_bit[b].append(t)
            m |= 1 << b
        need[t] = m
    children = graph.child_idx
    anc: list[int] = [0] * len(parents)
    for v in graph.order_idx():
        ups = parents[v]
        if not ups:
            continue
        is_test = kinds[v] in TEST_TYPES
        if is_test and not children[v]:
            continue  # tests are leaves: nothing below them needs their mask
        pv = pos[v]
        covering: list[int] = []  # masks of parents that dbt can gate: if one covers a test, it
        mine = 0  # (or a node above it) is gated already and v is reached through it
        for p in ups:
            if pos[p] >= pv:
                continue  # an edge dropped to break a cycle
            a = anc[p]
            b = bit.get(p)
            mine |= a | (1 << b) if b is not None else a
            if kinds[p] not in UNGATED_TYPES:
                covering.append(a)
        if not mine:
            continue
        anc[v] = mine
        if kinds[v] in UNGATED_TYPES:
            continue
        # A test newly covered at v has a parent in what v adds over every covering parent;
        # scan the smallest such difference.
        fresh = min((mine & ~a for a in covering), key=int.bit_count) if covering else mine
        checked: set[int] = set()
        while fresh:
            low = fresh & -fresh
            fresh ^= low
            for t in by_bit[low.bit_length() - 1]:
                if t in checked:
                    continue
                checked.add(t)
                m = need[t]
                if mine & m == m and not any(a & m == m for a in covering):
                    gates.setdefault(v, []).append(t)


def unit_test_target(graph: Graph, u: int) -> int | None:
    """The model a unit test tests (its first dependency), or None if it names none."""
    node = graph.nodes.get(graph.ids[u])
    if node is not None and node.depends_on:
        first = graph.index.get(node.depends_on[0])
        if first is not None:
            return first
    deps = graph.parent_idx[u]
    return deps[0] if deps else None
