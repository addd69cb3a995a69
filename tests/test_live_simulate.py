"""The list-scheduling simulator: makespan, running nodes, what-if, critical path; and durations."""

from __future__ import annotations

import heapq
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from pipewatch.lineage.graph import Graph
from pipewatch.live.eta import EtaTracker, eta_errors
from pipewatch.live.events import read_events
from pipewatch.live.simulate import DEFAULT_DURATION_S, Simulator, expected_durations
from pipewatch.live.state import BuildState
from pipewatch.live.synthetic import synthesize_log
from tests.test_live_support import DURATIONS, FCT, OTHER, RAW, STG, TEST, graph_of, small_log, small_manifest


def _chain_and_fan() -> Graph:
    # a -> b -> c, and a -> d, a -> e
    return graph_of(
        {
            "model.p.b": ["model.p.a"],
            "model.p.c": ["model.p.b"],
            "model.p.d": ["model.p.a"],
            "model.p.e": ["model.p.a"],
        }
    )


DUR = {"model.p.a": 2.0, "model.p.b": 3.0, "model.p.c": 1.0, "model.p.d": 4.0, "model.p.e": 4.0}


def test_makespan_on_one_and_many_threads() -> None:
    sim = Simulator(_chain_and_fan(), DUR, test_gates=False)
    assert sim.makespan(1) == sum(DUR.values())
    assert sim.makespan(3) == 2.0 + 4.0  # a, then b|d|e in parallel, c after b (2+3+1=6)
    assert sim.critical_path_s() == 6.0


def test_running_nodes_count_their_elapsed_time() -> None:
    sim = Simulator(_chain_and_fan(), DUR, test_gates=False)
    finished = {"model.p.a", "model.p.d", "model.p.e"}
    assert sim.makespan(2, finished, {"model.p.b": 1.0}) == 2.0 + 1.0
    # A node past its expected time is expected to end now, never in the past.
    assert sim.makespan(2, finished, {"model.p.b": 10.0}) == 1.0


def test_what_if_table_and_floor() -> None:
    sim = Simulator(_chain_and_fan(), DUR, test_gates=False)
    what = sim.what_if(2)
    assert [t for t, _ in what.by_threads] == [1, 2, 4, 8]
    assert dict(what.by_threads)[1] == 14.0
    assert what.predicted_s == dict(what.by_threads)[2]
    assert all(s >= what.critical_path_s for _, s in what.by_threads)


def test_expected_durations_fall_back_to_type_median_then_default() -> None:
    state = BuildState.from_manifest(small_manifest())
    assert state.graph is not None
    got = expected_durations(state.graph, [RAW, STG, FCT, TEST], {STG: 3.0, OTHER: 5.0})
    assert got == {RAW: DEFAULT_DURATION_S, STG: 3.0, FCT: 4.0, TEST: DEFAULT_DURATION_S}


def test_build_edges_make_the_gated_model_wait_for_the_test() -> None:
    state = BuildState.from_manifest(small_manifest())
    assert state.graph is not None
    sim = Simulator(state.graph, DURATIONS)
    # raw 2, stg 3, test 1, fct 4 in a chain: other (5) runs beside them.
    assert sim.critical_path_s() == 10.0
    assert sim.makespan(4) == 10.0


def _replay_errors(state: BuildState, tracker: EtaTracker, lines: list[bytes]) -> dict[float, float | None]:
    """Replay a log into the state, forecasting at each node result; the ETA's errors at 25/50/75%."""
    etas = []
    events = read_events(lines)
    for event in events:
        if any(c.kind == "finished" for c in state.apply(event)) and event.ts is not None:
            eta = tracker.update(event.ts)
            assert eta is not None and eta.remaining_s >= 0
            etas.append(eta)
    end = events[-1].ts
    assert end is not None
    return eta_errors(etas, end)


def test_eta_with_exact_history_is_exact_at_every_result() -> None:
    state = BuildState.from_manifest(small_manifest())
    tracker = EtaTracker(state, DURATIONS, every_fraction=0.0)
    errors = _replay_errors(state, tracker, small_log(threads=2))
    assert all(e is not None and e < 1e-6 for e in errors.values()), errors


@st.composite
def dags(draw: st.DrawFn) -> tuple[Graph, dict[str, float]]:
    n = draw(st.integers(1, 12))
    parents: dict[str, list[str]] = {}
    for i in range(n):
        picks = draw(st.lists(st.integers(0, max(i - 1, 0)), max_size=3)) if i else []
        parents[f"model.p.n{i:02d}"] = [f"model.p.n{j:02d}" for j in set(picks)]
    durations = {u: draw(st.floats(0.0, 100.0)) for u in parents}
    return graph_of(parents), durations


@settings(max_examples=60, deadline=None)
@given(dags(), st.integers(1, 6), st.data())
def test_simulator_properties(dag: tuple[Graph, dict[str, float]], threads: int, data: st.DataObject) -> None:
    graph, durations = dag
    sim = Simulator(graph, durations, test_gates=False)
    total = sum(durations.values())
    assert abs(sim.makespan(1) - total) <= 1e-6 * max(total, 1.0)
    span = sim.makespan(threads)
    assert span >= sim.critical_path_s() - 1e-6
    assert span <= total + 1e-6
    ids = sorted(durations)
    done = set(data.draw(st.lists(st.sampled_from(ids), max_size=len(ids))))
    running = {
        u: data.draw(st.floats(0.0, 200.0)) for u in data.draw(st.lists(st.sampled_from(ids), max_size=3))
    }
    assert sim.makespan(threads, done, running) >= 0.0
    assert sim.critical_path_s(done, running) >= 0.0


def test_noisy_history_on_a_wide_build_stays_within_15_percent_at_half_way() -> None:
    rng = random.Random(3)
    parents = {f"model.p.m{i:03d}": [f"model.p.m{rng.randrange(i):03d}"] if i else [] for i in range(300)}
    graph = graph_of(parents)
    truth = {u: rng.lognormvariate(0.0, 0.8) for u in parents}
    history = {u: s * rng.lognormvariate(0.0, 0.3) for u, s in truth.items()}
    lines = synthesize_log(graph, truth, threads=4)
    state = BuildState.from_manifest(None)
    state.graph, state.selected = graph, set(truth)
    tracker = EtaTracker(state, history)
    errors = _replay_errors(state, tracker, lines)
    assert errors[0.5] is not None and errors[0.5] <= 0.15, errors


def test_a_uniformly_slower_warehouse_is_learned_from_finished_nodes() -> None:
    rng = random.Random(4)
    parents = {f"model.p.m{i:03d}": [f"model.p.m{rng.randrange(i):03d}"] if i else [] for i in range(300)}
    graph = graph_of(parents)
    history = {u: rng.lognormvariate(0.0, 0.8) for u in parents}
    slow = {u: 1.5 * s for u, s in history.items()}  # today every node takes 50% longer
    state = BuildState.from_manifest(None)
    state.graph, state.selected = graph, set(slow)
    tracker = EtaTracker(state, history)
    errors = _replay_errors(state, tracker, synthesize_log(graph, slow, threads=4))
    assert abs(tracker.pace() - 1.5) < 1e-9
    assert errors[0.5] is not None and errors[0.5] <= 0.05, errors


def _reference_makespan(graph: Graph, durations: dict[str, float], threads: int) -> float:
    """The plain list scheduler, spelled out: every vertex queues for a thread in topological
    order; one without a duration holds it for no time."""
    order = graph.order_idx()
    pos = graph.position()
    weight = {graph.index[u]: s for u, s in durations.items()}
    waiting = [len(ps) for ps in graph.parent_idx]
    ready = [pos[v] for v in order if not waiting[v]]
    busy: list[tuple[float, int]] = []
    now = end = 0.0
    while ready or busy:
        while ready and len(busy) < threads:
            v = order[heapq.heappop(ready)]
            heapq.heappush(busy, (now + weight.get(v, 0.0), v))
        now, v = heapq.heappop(busy)
        if v in weight:
            end = max(end, now)
        for c in graph.child_idx[v]:
            waiting[c] -= 1
            if not waiting[c]:
                heapq.heappush(ready, pos[c])
    return end


@settings(max_examples=100, deadline=None)
@given(dags(), st.integers(1, 4), st.data())
def test_nodes_that_take_no_thread_do_not_change_the_schedule(
    dag: tuple[Graph, dict[str, float]], threads: int, data: st.DataObject
) -> None:
    # Skipped and unselected nodes are passed at once instead of queueing for a thread (the
    # shortcut that keeps a mostly-skipped build cheap): the makespan is the plain scheduler's.
    graph, durations = dag
    kept = {u: s for u, s in durations.items() if data.draw(st.booleans())}
    got = Simulator(graph, kept, test_gates=False).makespan(threads)
    assert abs(got - _reference_makespan(graph, kept, threads)) <= 1e-9


@settings(max_examples=60, deadline=None)
@given(dags(), st.integers(1, 5))
def test_what_if_rows_are_the_makespans_of_fresh_simulations(
    dag: tuple[Graph, dict[str, float]], threads: int
) -> None:
    # what_if reuses its start state between thread counts and, once no node waited for a thread,
    # copies the last row instead of simulating: each row must still be what a fresh replay gives.
    graph, durations = dag
    got = Simulator(graph, durations).what_if(threads)
    for t, seconds in got.by_threads:
        assert seconds == Simulator(graph, durations).makespan(t)
