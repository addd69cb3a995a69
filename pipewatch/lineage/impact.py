"""Failure propagation: what each failure reaches downstream, and why each skipped node was skipped.

Semantics follow dbt-core's runner (`RunnableTask._handle_result` / `BuildTask`):

* A node *fails* when its status is `error`, `fail` (a test past its error threshold; a test
  with `severity: warn` reports `warn` instead, which is not a failure) or `partial success`
  (a microbatch model with failed batches: dbt skips its descendants exactly as for an error).
* dbt skips every descendant of a failed node, and in `dbt build` also every descendant of a
  skipped node. In `dbt build` a failed data test T skips the nodes T gates (see `gates`): the
  non-test nodes downstream of *all* of T's parents, never the tested model itself and never
  the tested model's other tests, which are T's siblings and still run. A failed unit test
  skips the model it tests. A unit test itself waits only on its model's parents (it runs just
  before the model), so a skipped unit test is explained by what is above its model.

`downstream` of a failure:

* a non-test node: every descendant in the manifest graph (the JSON contract's definition),
  its own tests and unit tests included;
* a data test: the non-test nodes below *all* of the test's parents (the tested model(s)) and
  everything below those; never the tested models themselves, nor tests that hang only off
  them. Exposures, metrics, semantic models and saved queries directly on a tested model count
  too: dbt does not gate them behind the test, but they consume the data it found bad. So
  `downstream` is a superset of what the failure can make dbt skip. (The manifest has no edge
  out of a test, so the contract's "descendants" read literally would always be empty here.);
* a unit test: the tested model and its descendants, minus the model's other unit tests.

A skipped node's `root_causes` are the nearest failed nodes with a path to it (in the build
graph: manifest edges plus test gates) whose inner nodes all were skipped or have no result
(ephemeral models, sources, unselected nodes). The walk stops at nodes that succeeded, so a
skip with no failure behind it (`--fail-fast`, a failure in an earlier invocation) gets
`root_causes == ()`. A failure's `skipped_downstream` is exactly the skipped nodes whose
`root_causes` name it, so the two views always agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipewatch.artifacts.decoding import gc_paused
from pipewatch.artifacts.model import NodeResult, Run
from pipewatch.lineage.gates import gated_by, unit_test_target
from pipewatch.lineage.graph import TEST_TYPES, Graph

#: Statuses after which dbt skips a node's descendants (besides `skipped` itself, in build).
CAUSE_STATUSES = frozenset({"error", "fail", "partial success"})
SKIPPED = "skipped"
#: Resource types that consume models without being built by dbt.
CONSUMER_TYPES = frozenset({"exposure", "metric", "semantic_model", "saved_query"})


@dataclass(frozen=True, slots=True)
class FailureImpact:
    """One failed node and what it reaches: the `failures[]` entry of the JSON outcome, minus triage."""

    unique_id: str
    resource_type: str
    status: str
    message: str | None
    owner: str | None  # the node's owner; for a test, the tested model's owner when it has none
    tested: tuple[str, ...]  # for tests: the nodes the test depends on; else ()
    downstream: tuple[str, ...]  # sorted unique ids, see the module docstring
    skipped_downstream: tuple[str, ...]  # sorted: the skipped nodes this failure explains
    exposures: tuple[str, ...]  # sorted exposure ids among `downstream`
    owners: tuple[str, ...]  # `owner` first (if any), then the other owners in `downstream`, sorted


@dataclass(frozen=True, slots=True)
class SkipExplanation:
    """One skipped node and the nearest failures that explain it (`skipped[]` in the JSON outcome)."""

    unique_id: str
    root_causes: tuple[str, ...]  # sorted; () when no failure in this run explains the skip


def is_failure(result: NodeResult) -> bool:
    """True when dbt would skip the node's descendants because of this result."""
    return result.status in CAUSE_STATUSES


def analyze_skips(run: Run, graph: Graph) -> list[SkipExplanation]:
    """Explain every skipped result of the run, sorted by unique id."""
    results = run.result_by_id()
    skipped = sorted(graph.index[u] for u, r in results.items() if r.status == SKIPPED and u in graph)
    if not skipped:
        return []
    with gc_paused():
        causes = _root_causes(graph, results, skipped)
    ids = graph.ids
    # Skips below one failure share one root-cause set; each set becomes its id tuple once.
    named: dict[frozenset[int], tuple[str, ...]] = {}
    out: list[SkipExplanation] = []
    for s in skipped:
        found = causes.get(s, _NONE)
        names = named.get(found)
        if names is None:
            names = named[found] = tuple([ids[c] for c in sorted(found)])
        out.append(SkipExplanation(ids[s], names))
    return out


_NONE: frozenset[int] = frozenset()


def analyze_failures(
    run: Run, graph: Graph, skips: Sequence[SkipExplanation] | None = None
) -> list[FailureImpact]:
    """Describe every failed node of the run, sorted by unique id.

    Pass the result of `analyze_skips` as `skips` to avoid computing root causes twice.
    """
    results = run.result_by_id()
    failed = sorted(graph.index[u] for u, r in results.items() if is_failure(r) and u in graph)
    if not failed:
        return []
    if skips is None:
        skips = analyze_skips(run, graph)
    explained: dict[str, list[str]] = {}
    for skip in skips:
        for cause in skip.root_causes:
            explained.setdefault(cause, []).append(skip.unique_id)
    ids = graph.ids
    kinds = graph.kinds
    out: list[FailureImpact] = []
    desc_cache: dict[int, set[int]] = {}
    for f in failed:
        uid = ids[f]
        result = results[uid]
        down = sorted(downstream_idx(graph, f, desc_cache))
        owner = owner_of(graph, f)
        others = sorted({o for d in down if (o := owner_of(graph, d, inherit=False)) and o != owner})
        out.append(
            FailureImpact(
                unique_id=uid,
                resource_type=kinds[f],
                status=result.status,
                message=result.message,
                owner=owner,
                tested=tuple(ids[p] for p in graph.parent_idx[f]) if kinds[f] in TEST_TYPES else (),
                downstream=tuple(ids[d] for d in down),
                skipped_downstream=tuple(sorted(explained.get(uid, ()))),
                exposures=tuple(ids[d] for d in down if kinds[d] == "exposure"),
                owners=((owner,) if owner else ()) + tuple(others),
            )
        )
    return out


def group_by_root_cause(skips: Iterable[SkipExplanation]) -> dict[str | None, tuple[str, ...]]:
    """Root cause id -> the skipped ids it explains, for display.

    Keys are sorted, with `None` (skips no failure of this run explains) last; a skip with two
    root causes is listed under both.
    """
    groups: dict[str | None, list[str]] = {}
    for skip in skips:
        for cause in skip.root_causes or (None,):
            groups.setdefault(cause, []).append(skip.unique_id)
    keys = sorted(k for k in groups if k is not None) + ([None] if None in groups else [])
    return {k: tuple(sorted(groups[k])) for k in keys}


def downstream_idx(graph: Graph, i: int, cache: dict[int, set[int]] | None = None) -> set[int]:
    """The vertices a failure of vertex `i` reaches (see the module docstring for tests)."""
    kind = graph.kinds[i]
    if kind == "test":
        return _test_downstream(graph, i, cache if cache is not None else {})
    if kind == "unit_test":
        model = unit_test_target(graph, i)
        if model is None:
            return set(graph.descendants_idx(i))
        own_units = {c for c in graph.child_idx[model] if graph.kinds[c] == "unit_test"}
        down = set(graph.descendants_idx(model))
        down.add(model)
        return down - own_units
    return set(graph.descendants_idx(i))


def _test_downstream(graph: Graph, t: int, cache: dict[int, set[int]]) -> set[int]:
    """Nodes below all of test `t`'s parents (non-tests), plus everything below those, plus any
    manifest descendants of the test itself."""
    deps = graph.parent_idx[t]
    out: set[int] = set(graph.descendants_idx(t))
    if not deps:
        return out
    common: set[int] | None = None
    for d in deps:
        desc = cache.get(d)
        if desc is None:
            desc = cache[d] = set(graph.descendants_idx(d))
        common = set(desc) if common is None else common & desc
    kinds = graph.kinds
    assert common is not None
    gated = [v for v in common if kinds[v] not in TEST_TYPES and v not in deps]
    out.update(gated)
    out.update(graph.descendants_idx(gated))
    out.discard(t)
    return out


def owner_of(graph: Graph, i: int, *, inherit: bool = True) -> str | None:
    """A vertex's owner; with `inherit`, a test without one borrows the owner of what it tests."""
    node = graph.nodes.get(graph.ids[i])
    if node is not None and node.owner:
        return node.owner
    if not inherit or graph.kinds[i] not in TEST_TYPES:
        return None
    attached = node.test.attached_node if node is not None and node.test is not None else None
    candidates = [attached] if attached else []
    candidates += [graph.ids[p] for p in graph.parent_idx[i]]
    for uid in candidates:
        parent = graph.nodes.get(uid)
        if parent is not None and parent.owner:
            return parent.owner
    return None


def _root_causes(
    graph: Graph, results: dict[str, NodeResult], wanted: list[int]
) -> dict[int, frozenset[int]]:
    """Root causes for the `wanted` skipped vertices, by one pass in topological order.

    rc(v) for a vertex that was skipped or has no result = the failed tests and unit tests that
    gate v, plus, over v's parents: the parent itself if it failed, rc(parent) if the parent was
    skipped or has no result, nothing if it succeeded. Sets are shared, not copied, where a
    vertex inherits from a single parent.
    """
    ids = graph.ids
    n = len(ids)
    # 0 = no result, 1 = skipped, 2 = failed, 3 = ran without failing
    state = bytearray(n)
    failed_tests: list[int] = []
    failed_units: list[int] = []
    kinds = graph.kinds
    index = graph.index
    for uid, r in results.items():
        i = index.get(uid)
        if i is None:
            continue
        if r.status == SKIPPED:
            state[i] = 1
        elif r.status in CAUSE_STATUSES:
            state[i] = 2
            if kinds[i] == "test":
                failed_tests.append(i)
            elif kinds[i] == "unit_test":
                failed_units.append(i)
        else:
            state[i] = 3
    gates = gated_by(graph, failed_tests)
    for u in failed_units:
        model = unit_test_target(graph, u)
        if model is not None:
            gates.setdefault(model, []).append(u)
    # Only vertices upstream of a wanted skip can matter; restricting the pass keeps a
    # `dbt build -s one_model` on a huge manifest cheap.
    relevant = bytearray(n)
    for w in wanted:
        relevant[w] = 1
    for a in graph.ancestors_idx(wanted):
        relevant[a] = 1
    empty: frozenset[int] = frozenset()
    rc: dict[int, frozenset[int]] = {}
    pos = graph.position()
    parents = graph.parent_idx
    for v in graph.order_idx():
        if not relevant[v] or state[v] > 1:
            continue
        acc: frozenset[int] = frozenset(gates[v]) if v in gates else empty
        ups = parents[v]
        pv = pos[v]
        if kinds[v] == "unit_test":
            # A unit test runs just before its model, so it waits on the model's parents,
            # not on the model its manifest entry depends on.
            model = unit_test_target(graph, v)
            if model is not None:
                ups = parents[model]
                pv = pos[model]
        for p in ups:
            if pos[p] >= pv:
                continue  # an edge dropped to break a cycle
            sp = state[p]
            if sp == 2:
                add: frozenset[int] = frozenset((p,))
            elif sp <= 1:
                add = rc.get(p, empty)
            else:
                continue
            if add and add is not acc:
                acc = add if not acc else acc | add
        if acc:
            rc[v] = acc
    return {w: rc.get(w, empty) for w in wanted}
