"""Where a run's time went: the critical path, its bottlenecks, and how busy dbt's threads were.

The DAG of *this run* holds the nodes that executed (they have a result that is not `skipped`).
Edges pass through nodes that did not execute (ephemeral models, sources, unselected or
skipped nodes) as if those were contracted away, so a path stays connected across them. In
`dbt build` the run also waits on tests: a test gates the nodes below all of its parents and a
unit test runs right before its model, so those edges are part of a build's DAG (see `gates`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple, cast

from pipewatch.artifacts.decoding import gc_paused
from pipewatch.artifacts.model import NodeResult, Run
from pipewatch.lineage.gates import gated_by, unit_test_target
from pipewatch.lineage.graph import TEST_TYPES, Graph, kahn, positions
from pipewatch.lineage.impact import SKIPPED, downstream_idx


@dataclass(frozen=True, slots=True)
class CriticalPath:
    """The longest execution-time path through the run's DAG (`critical_path` in the JSON outcome)."""

    nodes: tuple[str, ...]  # unique ids, upstream first
    times: tuple[float, ...]  # execution_time of each node, aligned with `nodes`
    total_s: float  # sum of `times`


@dataclass(frozen=True, slots=True)
class Bottleneck:
    """A node that dominates the run's time: on the critical path, or long against the wall clock."""

    unique_id: str
    execution_time: float
    on_critical_path: bool
    path_share: float | None  # execution_time / critical path total, when on the path
    wall_share: float | None  # execution_time / the run's wall-clock span, when known
    waiting: int  # nodes of this run downstream of it (they could not start before it ended)


@dataclass(frozen=True, slots=True)
class ThreadBusy:
    """Busy seconds of one dbt thread (overlapping intervals on a thread are counted once)."""

    thread_id: str
    busy_s: float
    nodes: int


@dataclass(frozen=True, slots=True)
class Utilization:
    """How full dbt's threads were: busy time / (threads x wall span). None without timings."""

    utilization: float | None
    threads: int
    wall_s: float | None  # first start to last end over the timed results
    busy_s: float
    per_thread: tuple[ThreadBusy, ...]  # by thread id, numbers in natural order (Thread-2 < Thread-10)


def _natural(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that puts `Thread-2` before `Thread-10`."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text))


def _weight(result: NodeResult) -> float:
    t = result.execution_time
    return t if isinstance(t, (int, float)) and math.isfinite(t) and t > 0 else 0.0


def _executed(run: Run, graph: Graph) -> dict[int, float]:
    """Vertex -> execution time, for results that executed (not skipped)."""
    index = graph.index
    return {
        index[uid]: _weight(r)
        for uid, r in run.result_by_id().items()
        if r.status != SKIPPED and uid in index
    }


def uses_test_gates(run: Run, graph: Graph, executed: dict[int, float]) -> bool:
    """Whether the run waited on tests: `dbt build`, or an unknown command (or `dbt retry`) that
    ran tests alongside buildable nodes."""
    if run.command and run.command != "retry":  # `dbt retry` repeats whatever ran before
        return run.command == "build"
    kinds = graph.kinds
    ran_tests = any(kinds[i] in TEST_TYPES for i in executed)
    ran_other = any(kinds[i] not in TEST_TYPES for i in executed)
    return ran_tests and ran_other


def critical_path(run: Run, graph: Graph, *, test_gates: bool | None = None) -> CriticalPath:
    """The longest path by execution time through the DAG of this run.

    `test_gates` forces the build-style test edges on or off; None decides from the run
    (`uses_test_gates`). Ties go to the smaller unique id, so the answer is deterministic.
    """
    weights = _executed(run, graph)
    if not weights:
        return CriticalPath((), (), 0.0)
    gating = uses_test_gates(run, graph, weights) if test_gates is None else test_gates
    with gc_paused():
        parents, _, order, pos, _ = run_edges(graph, weights, gating)
    n = len(graph.ids)
    # best[v]: the longest finish time reaching v (v's own weight included if it executed);
    # via[v]: the executed vertex that finish time ends at (v itself if executed), -1 if none.
    best = [0.0] * n
    via = [-1] * n
    pred = [-1] * n
    for v in order:
        top = 0.0
        src = -1
        pv = pos[v]
        for p in parents[v]:
            if pos[p] >= pv:
                continue  # an edge dropped to break a cycle
            b = best[p]
            s = via[p]
            if s < 0:
                continue
            if b > top or (b == top and (src < 0 or s < src)):
                top, src = b, s
        w = weights.get(v)
        if w is None:
            best[v], via[v] = top, src
        else:
            best[v], via[v], pred[v] = top + w, v, src
    end = -1
    for v in weights:
        if end < 0 or best[v] > best[end] or (best[v] == best[end] and v < end):
            end = v
    path: list[int] = []
    v = end
    while v >= 0 and len(path) <= n:
        path.append(v)
        v = pred[v]
    path.reverse()
    ids = graph.ids
    times = tuple(weights[v] for v in path)
    return CriticalPath(tuple(ids[v] for v in path), times, sum(times))


class RunEdges(NamedTuple):
    """The edges a build waits on (manifest + `dbt build`'s test gates), in both directions, with a
    topological order and each vertex's place in it (`position[v]`); `broken` lists the (parent,
    child) edges dropped to break cycles, which go backwards in `order`."""

    parents: list[list[int]]
    children: list[list[int]]
    order: list[int]
    position: list[int]
    broken: list[tuple[int, int]]


def run_edges(graph: Graph, weights: Mapping[int, float], gating: bool) -> RunEdges:
    """The edges the executed vertices of `weights` wait on: the manifest's, plus (when `gating`)
    the tests that gate the models below them and unit tests placed before their model. The graph's
    own lists are returned, not copied, when nothing is added."""
    kinds = graph.kinds
    tests = [i for i in weights if kinds[i] == "test"] if gating else []
    units = [i for i in weights if kinds[i] == "unit_test"] if gating else []
    key = ("run_edges", frozenset(tests), frozenset(units))
    edges = graph.memo.get(key)
    if edges is None:
        edges = graph.memo[key] = _run_edges(graph, tests, units)
    return cast(RunEdges, edges)


def _run_edges(graph: Graph, tests: list[int], units: list[int]) -> RunEdges:
    extra = gated_by(graph, tests) if tests else {}
    if not extra and not units:
        order = graph.order_idx()
        broken = [(graph.index[p], graph.index[c]) for p, c in graph.broken_edges]
        return RunEdges(graph.parent_idx, graph.child_idx, order, graph.position(), broken)
    base_parents, base_children = graph.parent_idx, graph.child_idx
    parents = list(base_parents)
    children = list(base_children)

    def own(lists: list[list[int]], base: list[list[int]], i: int) -> list[int]:
        # Copy an adjacency list before its first change; the graph's lists stay untouched.
        if lists[i] is base[i]:
            lists[i] = list(base[i])
        return lists[i]

    for v, ts in extra.items():
        for t in ts:
            own(parents, base_parents, v).append(t)
            own(children, base_children, t).append(v)
    for u in units:
        model = unit_test_target(graph, u)
        if model is None or model == u:
            continue
        # A unit test starts when its model is ready to start, and the model waits for it.
        for p in own(parents, base_parents, u):
            own(children, base_children, p).remove(u)
        parents[u] = []
        for p in base_parents[model]:
            if p != u:
                parents[u].append(p)
                own(children, base_children, p).append(u)
        own(parents, base_parents, model).append(u)
        own(children, base_children, u).append(model)
    order, broken = kahn(parents, children)
    return RunEdges(parents, children, order, positions(order), broken)


def bottlenecks(
    run: Run,
    graph: Graph,
    path: CriticalPath,
    *,
    min_path_share: float = 0.10,
    min_wall_share: float = 0.10,
    limit: int = 10,
    utilization: Utilization | None = None,
) -> list[Bottleneck]:
    """The nodes that dominate the run's time, longest first (ties by unique id).

    A node qualifies when it takes at least `min_path_share` of the critical path (and is on
    it), or when its own time is at least `min_wall_share` of the run's wall-clock span (timed
    intervals, else the run's elapsed time). At most `limit` are returned. Pass the run's
    `thread_utilization` as `utilization` when it is at hand.
    """
    weights = _executed(run, graph)
    if not weights:
        return []
    util = utilization if utilization is not None else thread_utilization(run)
    wall = util.wall_s if util.wall_s else run.elapsed_time
    wall = wall if wall and wall > 0 else None
    on_path = set(path.nodes)
    total = path.total_s
    ids = graph.ids
    picked: list[tuple[int, bool, float | None, float | None]] = []
    for v, t in weights.items():
        uid = ids[v]
        ps = t / total if uid in on_path and total > 0 else None
        ws = t / wall if wall else None
        if (ps is not None and ps >= min_path_share) or (ws is not None and ws >= min_wall_share):
            picked.append((v, uid in on_path, ps, ws))
    picked.sort(key=lambda item: (-weights[item[0]], ids[item[0]]))
    out: list[Bottleneck] = []
    for v, on, ps, ws in picked[: max(limit, 0)]:
        waiting = sum(1 for d in downstream_idx(graph, v) if d in weights)
        out.append(Bottleneck(ids[v], weights[v], on, ps, ws, waiting))
    return out


def thread_utilization(run: Run, *, threads: int | None = None) -> Utilization:
    """Busy time over (threads x wall span) from the results' timing intervals.

    An interval is compile start (else execute start) to execute end (else compile end).
    `threads` defaults to the number of distinct thread ids seen. Results without timings
    (artifacts older than dbt 0.19, skipped nodes) are left out; with none timed at all the
    utilization is None.
    """
    by_thread: dict[str, list[tuple[float, float]]] = {}
    for r in run.results:
        start, end = r.started, r.completed
        if start is None or end is None or not (math.isfinite(start) and math.isfinite(end)) or end < start:
            continue
        by_thread.setdefault(r.thread_id or "unknown", []).append((start, end))
    if not by_thread:
        return Utilization(None, threads or 0, None, 0.0, ())
    per: list[ThreadBusy] = []
    lo = math.inf
    hi = -math.inf
    for tid in sorted(by_thread, key=_natural):
        spans = sorted(by_thread[tid])
        busy = 0.0
        cur_s, cur_e = spans[0]
        for s, e in spans[1:]:
            if s > cur_e:
                busy += cur_e - cur_s
                cur_s, cur_e = s, e
            elif e > cur_e:
                cur_e = e
        busy += cur_e - cur_s
        lo = min(lo, spans[0][0])
        hi = max(hi, max(e for _, e in spans))
        per.append(ThreadBusy(tid, busy, len(spans)))
    count = threads if threads else len(per)
    wall = hi - lo
    total = sum(t.busy_s for t in per)
    ratio = total / (count * wall) if wall > 0 and count > 0 else None
    return Utilization(ratio, count, wall, total, tuple(per))
