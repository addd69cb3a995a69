"""One list-scheduling simulator for the ETA and the thread what-if.

dbt runs a build as a list scheduler: a node is queued once all its parents (and, in `dbt build`,
the tests gating it) are done, and each of dbt's `threads` workers takes the next queued node.
`Simulator.makespan` replays the rest of the DAG that way with each node's expected duration, so
the same code answers "when will this build end?" (the threads dbt has, running nodes counted
with the time they still need) and "what if it had half, double or four times the threads?".

Expected durations come from the caller (`expected_durations`): a node's median from history,
else the median of its resource type in history, else `DEFAULT_DURATION_S`.
"""

from __future__ import annotations

import heapq
import statistics
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from pipewatch.artifacts.decoding import gc_paused
from pipewatch.artifacts.model import Run
from pipewatch.lineage.critical_path import run_edges
from pipewatch.lineage.graph import Graph
from pipewatch.lineage.impact import SKIPPED

#: Expected seconds for a node when history knows neither it nor any node of its type: the
#: order of a small warehouse query (the example project's models take 0.1-0.4 s, a typical
#: production model a few seconds). It only matters until the first nodes finish.
DEFAULT_DURATION_S = 1.0
#: Thread multipliers of the what-if.
WHAT_IF_FACTORS = (0.5, 2.0, 4.0)


def expected_durations(
    graph: Graph,
    selected: Collection[str],
    history: Mapping[str, float] | None,
    *,
    default_s: float = DEFAULT_DURATION_S,
) -> dict[str, float]:
    """unique id -> expected seconds for every selected node, from per-node history medians.

    Nodes without history get the median of their resource type's medians; a type with no
    history at all gets `default_s`.
    """
    history = history or {}
    by_type: dict[str, list[float]] = {}
    for uid, seconds in history.items():
        i = graph.index.get(uid)
        if i is not None and seconds >= 0:
            by_type.setdefault(graph.kinds[i], []).append(seconds)
    type_median = {kind: statistics.median(values) for kind, values in by_type.items()}
    out: dict[str, float] = {}
    for uid in selected:
        known = history.get(uid)
        if known is not None and known >= 0:
            out[uid] = known
            continue
        i = graph.index.get(uid)
        out[uid] = type_median.get(graph.kinds[i], default_s) if i is not None else default_s
    return out


@dataclass(frozen=True, slots=True)
class WhatIf:
    """Predicted wall time of the rest of the build at other thread counts, and its floor."""

    threads: int
    predicted_s: float  # at the build's own thread count
    by_threads: tuple[tuple[int, float], ...]  # (threads, predicted seconds), by thread count
    critical_path_s: float  # no thread count can beat this (the longest chain still to run)


class Simulator:
    """Replays the remaining DAG of one build; build once per build, call per forecast."""

    def __init__(self, graph: Graph, durations: Mapping[str, float], *, test_gates: bool = True) -> None:
        """`durations` holds every node the build runs (the selection) with its expected seconds;
        other graph vertices (sources, ephemeral models, unselected nodes) take no time and no thread.
        `test_gates` adds `dbt build`'s edges from tests to the nodes waiting for them.
        """
        index = graph.index
        self.graph = graph
        self.weight: dict[int, float] = {
            index[u]: max(float(s), 0.0) for u, s in durations.items() if u in index
        }
        parents, children, order, pos, broken = run_edges(graph, self.weight, test_gates)
        # The weights by vertex, -1.0 for a vertex that takes no thread: a list index is what keeps
        # the replay loop cheap (it runs once per vertex and thread count).
        self._cost = [-1.0] * len(pos)
        for v, w in self.weight.items():
            self._cost[v] = w
        if broken:
            # Keep only edges that go forward in the order (a cycle's dropped edges go back).
            parents = [[p for p in ps if pos[p] < pos[v]] for v, ps in enumerate(parents)]
            children = [[c for c in cs if pos[c] > pos[v]] for v, cs in enumerate(children)]
        self.parents, self.children, self.pos = parents, children, pos
        self.order = order
        self._alive: list[tuple[int, int]] | None = None  # (position, vertex) not yet finished
        #: Whether the last `makespan` ever kept a ready node waiting for a thread. When it did not,
        #: the schedule is the one of unlimited threads: any larger thread count gives the same.
        self.thread_bound = False
        self._whole: tuple[list[int], list[tuple[int, int]]] | None = None  # see `makespan`

    def _indices(self, ids: Collection[str]) -> set[int]:
        index = self.graph.index
        return {index[u] for u in ids if u in index}

    def makespan(
        self,
        threads: int,
        finished: Collection[str] = (),
        running: Mapping[str, float] | None = None,
        trace: list[tuple[str, float, float]] | None = None,
        prune: bool = False,
    ) -> float:
        """Seconds until the last selected node ends, from now.

        `finished`: nodes done (or that dbt will skip: they take no time); `running`: unique id ->
        seconds it has run so far (it needs max(expected - elapsed, 0) more and holds a thread).
        `trace`, when given, receives (unique id, start, end) of every selected node scheduled.
        `prune=True` promises `finished` only grows from call to call (a live build): vertices
        finished at this call are not visited again, so a forecast costs O(what is left).
        """
        threads = max(int(threads), 1)
        index = self.graph.index
        weight = self.weight
        parents, children, pos, order = self.parents, self.children, self.pos, self.order
        # 1: finished, 2: running; bytearray lookups are what keep a 30,000-node replay cheap.
        mark = bytearray(len(pos))
        for uid in finished:
            if (v := index.get(uid)) is not None:
                mark[v] = 1
        busy: list[tuple[float, int]] = []
        for uid, elapsed in (running or {}).items():
            v = index.get(uid)
            if v is not None and not mark[v]:
                busy.append((max(weight.get(v, 0.0) - elapsed, 0.0), v))
                mark[v] = 2
        heapq.heapify(busy)
        # Vertices without a weight (sources, unselected or skipped nodes) take no thread and no
        # time: they are passed the moment their parents are done instead of queueing for a thread,
        # which gives the same schedule (their children come later in `order` either way) and keeps
        # a build that skipped most of its DAG from paying heap operations for every skip.
        free: list[int] = []
        ready: list[int] = []  # positions in `order`: the smallest is the next dbt would take
        if not finished and not running and not prune:
            # A whole build from the start (after-run's what-if): every parent is still to run. The
            # same at every thread count, so worked out once per simulator.
            if self._whole is None:
                counts = [len(ps) for ps in parents]
                self._whole = (counts, [(k, v) for k, v in enumerate(order) if not counts[v]])
            waiting, starts = self._whole[0].copy(), self._whole[1]
        else:
            waiting = [0] * len(pos)
            starts = []
            alive = self._alive if prune and self._alive is not None else list(enumerate(order))
            if prune:
                self._alive = [kv for kv in alive if mark[kv[1]] != 1]
            for k, v in alive:
                if mark[v]:
                    continue
                count = 0
                for p in parents[v]:
                    if mark[p] != 1:
                        count += 1
                waiting[v] = count
                if not count:
                    starts.append((k, v))
        cost = self._cost
        for k, v in starts:
            if cost[v] >= 0.0:
                ready.append(k)
            else:
                free.append(v)
        heapq.heapify(ready)
        push, pop = heapq.heappush, heapq.heappop
        now = 0.0
        bound = False
        while True:
            while free:  # vertices done (or passed): their children may now be ready
                for c in children[free.pop()]:
                    waiting[c] -= 1
                    if not waiting[c]:
                        if cost[c] >= 0.0:
                            push(ready, pos[c])
                        else:
                            free.append(c)
            while ready and len(busy) < threads:
                v = order[pop(ready)]
                w = cost[v]
                if trace is not None:
                    trace.append((self.graph.ids[v], now, now + w))
                push(busy, (now + w, v))
            if ready:
                bound = True
            if not busy:
                break
            # Events leave the heap in time order: the last one popped is when the build ends.
            now, v = pop(busy)
            free.append(v)  # done: its children are released at the top of the loop
        self.thread_bound = bound
        return now

    def critical_path_s(
        self, finished: Collection[str] = (), running: Mapping[str, float] | None = None
    ) -> float:
        """The longest chain of expected seconds still to run: a floor for any thread count."""
        index = self.graph.index
        # Seconds each vertex still needs: its weight, what a running one has left, 0 when done.
        need = [max(w, 0.0) for w in self._cost]
        for uid, elapsed in (running or {}).items():
            if (v := index.get(uid)) is not None:
                need[v] = max(self.weight.get(v, 0.0) - elapsed, 0.0)
        for v in self._indices(finished):
            need[v] = -1.0
        best = [0.0] * len(self.pos)
        parents = self.parents
        for v in self.order:
            w = need[v]
            if w < 0.0:
                continue  # finished: its chain ends here (best stays 0)
            here = 0.0
            for p in parents[v]:
                if best[p] > here:
                    here = best[p]
            best[v] = here + w
        return max(best, default=0.0)

    def what_if(
        self,
        threads: int,
        finished: Collection[str] = (),
        running: Mapping[str, float] | None = None,
        factors: tuple[float, ...] = WHAT_IF_FACTORS,
    ) -> WhatIf:
        """Predicted remaining wall time at `threads` and at each factor times it, with the floor."""
        threads = max(int(threads), 1)
        counts = sorted({threads, *(max(int(threads * f), 1) for f in factors)})
        rows: list[tuple[int, float]] = []
        for t in counts:
            # When no node waited for a thread at the last count, more threads change nothing.
            if rows and not self.thread_bound:
                rows.append((t, rows[-1][1]))
            else:
                rows.append((t, self.makespan(t, finished, running)))
        table = tuple(rows)
        own = dict(table)[threads]
        return WhatIf(threads, own, table, self.critical_path_s(finished, running))


def run_what_if(run: Run, graph: Graph, threads: int) -> WhatIf | None:
    """The finished build re-planned at half, double and four times its `threads`, with each node's
    recorded execution time; None when no result has a duration. For after-run's critical path."""
    # Skipped nodes ran nothing: they take no thread in the re-plan either, which spares a build
    # that skipped most of its DAG thousands of zero-length events per simulation.
    durations = {
        r.unique_id: max(float(r.execution_time), 0.0)
        for r in run.results
        if r.unique_id in graph.index and r.execution_time is not None and r.status != SKIPPED
    }
    if not durations:
        return None
    with gc_paused():  # tens of thousands of small lists, no cycles
        return Simulator(graph, durations).what_if(threads)
