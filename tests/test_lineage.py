"""Lineage on hand-built runs: the DAG, root causes of skips, failure impact, critical path, threads.

Runs are built by hand from a few lines per node (`node`, `result`, `make_run`), so each test reads
as the dbt situation it pins down. A property test simulates `dbt build` on random DAGs and checks
the analysis against a brute-force oracle built with networkx.
"""

from __future__ import annotations

import math
import random

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipewatch.artifacts.model import Node, NodeResult, Run
from pipewatch.errors import UsageError
from pipewatch.lineage import (
    FailureImpact,
    Graph,
    UnknownNodeError,
    analyze_failures,
    analyze_skips,
    bottlenecks,
    critical_path,
    group_by_root_cause,
    thread_utilization,
    upstream_downstream,
)
from pipewatch.lineage.graph import resource_type_of
from tests.factories import make_node, make_result, make_run, make_test_info

# --------------------------------------------------------------------------- builders


def node(
    uid: str,
    *deps: str,
    owner: str | None = None,
    materialized: str | None = None,
    severity: str = "error",
    name: str | None = None,
) -> Node:
    """A manifest node; the resource type comes from the id's prefix, tests get a TestInfo."""
    kind = resource_type_of(uid)
    test = None
    if kind == "test":
        test = make_test_info(uid.split(".")[2], attached_node=deps[0] if deps else None, severity=severity)
    short = uid.split(".")[-1]
    return make_node(
        uid,
        resource_type=kind,
        name=name or short,
        package="pkg",
        path=f"models/{short}.sql",
        alias=short,
        materialization=materialized or ("table" if kind == "model" else None),
        owner=owner,
        depends_on=tuple(deps),
        test=test,
    )


def result(
    uid: str,
    status: str,
    time: float = 1.0,
    *,
    span: tuple[float, float] | None = None,
    thread: str | None = "Thread-1",
) -> NodeResult:
    """A run_results entry; `span` is (compile start, execute end) in seconds."""
    return make_result(
        uid, status, message=f"{status} in {uid}", execution_time=time, span=span, thread_id=thread
    )


def skips_of(run: Run) -> dict[str, tuple[str, ...]]:
    """skipped id -> root causes."""
    return {s.unique_id: s.root_causes for s in analyze_skips(run, Graph.from_run(run))}


def failures_of(run: Run) -> dict[str, FailureImpact]:
    """failed id -> FailureImpact."""
    return {f.unique_id: f for f in analyze_failures(run, Graph.from_run(run))}


A, B, C, D, E = (f"model.pkg.{x}" for x in "abcde")

# ------------------------------------------------------------------------------ graph


def test_chain_walks_and_order() -> None:
    run = make_run([node(A), node(B, A), node(C, B)])
    g = Graph.from_run(run)
    assert g.parents(C) == (B,)
    assert g.children(A) == (B,)
    assert g.descendants(A) == (B, C)
    assert g.ancestors(C) == (A, B)
    assert g.descendants(C) == ()
    assert g.topological_order() == (A, B, C)
    assert not g.broken_edges


def test_parent_map_wins_over_depends_on_and_child_map_alone_works() -> None:
    nodes = [node(A), node(B, A), node(C, A)]
    by_parent_map = Graph.from_run(make_run(nodes, parent_map={A: (), B: (), C: (B,)}))
    assert by_parent_map.parents(C) == (B,)
    assert by_parent_map.parents(B) == ()
    by_child_map = Graph.from_run(make_run(nodes, child_map={A: (C,), B: (), C: ()}))
    assert by_child_map.children(A) == (C,)
    assert by_child_map.parents(B) == ()


def test_nodes_missing_from_the_parent_map_fall_back_to_depends_on() -> None:
    late = "model.pkg.late"
    run = make_run([node(A), node(B, A), node(late, B)], parent_map={A: (), B: (A,)})
    g = Graph.from_run(run)
    assert g.parents(late) == (B,)
    assert g.descendants(A) == (B, late)


def test_graph_from_a_parent_map_alone() -> None:
    g = Graph.from_run(make_run(parent_map={B: (A,), T_M: (B,), "exposure.pkg.x": (B,)}))
    assert g.ids == tuple(sorted((A, B, T_M, "exposure.pkg.x")))
    assert g.children(B) == tuple(sorted((T_M, "exposure.pkg.x")))
    assert g.resource_type("exposure.pkg.x") == "exposure" and g.resource_type(T_M) == "test"
    assert g.node(A) is None


def test_absent_parents_are_bare_vertices() -> None:
    gone = "model.other_project.gone"
    run = make_run([node(B, A, gone), node(C, B)], [result(B, "skipped"), result(C, "skipped")])
    g = Graph.from_run(run)
    assert gone in g and A in g
    assert g.node(gone) is None
    assert g.resource_type(gone) == "model"
    assert g.ancestors(C) == tuple(sorted((A, B, gone)))
    # Nothing in this run failed, so the skips are unexplained, not blamed on the absent nodes.
    assert skips_of(run) == {B: (), C: ()}


def test_results_only_ids_become_vertices() -> None:
    orphan = "model.pkg.not_in_manifest"
    run = make_run([node(A)], [result(A, "success"), result(orphan, "error")])
    g = Graph.from_run(run)
    assert orphan in g
    assert failures_of(run)[orphan].downstream == ()


def test_unknown_node_is_a_usage_error_with_a_hint() -> None:
    g = Graph.from_run(make_run([node(A), node("model.pkg.orders", A)]))
    with pytest.raises(UnknownNodeError, match=r"unknown node 'model\.pkg\.nope'") as info:
        g.descendants("model.pkg.nope")
    assert isinstance(info.value, UsageError)
    with pytest.raises(UnknownNodeError, match="did you mean orders"):
        g.resolve("orderz")
    assert g.resolve("orders") == "model.pkg.orders"
    assert g.resolve(A) == A


def test_resolve_prefers_the_model_over_a_same_named_test_and_refuses_ambiguity() -> None:
    other = "model.other.a"
    g = Graph.from_run(make_run([node(A), node("test.pkg.a", A, name="a"), node(other)]))
    with pytest.raises(UnknownNodeError, match="ambiguous"):
        g.resolve("a")
    g2 = Graph.from_run(make_run([node(A), node("test.pkg.a", A, name="a")]))
    assert g2.resolve("a") == A


def test_cycles_are_broken_not_followed_forever() -> None:
    run = make_run(
        [node(A, C), node(B, A), node(C, B), node(D, C)],
        [result(A, "error"), result(B, "skipped"), result(C, "skipped"), result(D, "skipped")],
    )
    g = Graph.from_run(run)
    assert g.descendants(A) == (B, C, D)  # the start itself is not its own descendant
    order = g.topological_order()
    assert sorted(order) == [A, B, C, D]
    assert g.broken_edges
    assert order.index(D) > order.index(C)
    skips = skips_of(run)
    assert set(skips) == {B, C, D}
    assert all(causes == (A,) for causes in skips.values())
    path = critical_path(run, g)
    assert path.nodes == (A,)


def test_self_loops_and_duplicate_edges_are_dropped() -> None:
    g = Graph.from_run(make_run([node(A, A), node(B, A, A)], parent_map={A: (A,), B: (A, A)}))
    assert g.parents(A) == ()
    assert g.parents(B) == (A,)


# -------------------------------------------------------------------------- root causes


def diamond(statuses: dict[str, str]) -> Run:
    """a -> b, a -> c, (b, c) -> d, with the given statuses."""
    nodes = [node(A), node(B, A), node(C, A), node(D, B, C)]
    return make_run(nodes, [result(uid, st) for uid, st in statuses.items()])


def test_diamond_one_failure_skips_both_branches_and_the_join() -> None:
    run = diamond({A: "error", B: "skipped", C: "skipped", D: "skipped"})
    assert skips_of(run) == {B: (A,), C: (A,), D: (A,)}
    impact = failures_of(run)[A]
    assert impact.downstream == (B, C, D)
    assert impact.skipped_downstream == (B, C, D)


def test_diamond_two_failures_are_both_root_causes_of_the_join() -> None:
    run = diamond({A: "success", B: "error", C: "error", D: "skipped"})
    assert skips_of(run) == {D: (B, C)}
    failures = failures_of(run)
    assert failures[B].skipped_downstream == (D,)
    assert failures[C].skipped_downstream == (D,)
    groups = group_by_root_cause(analyze_skips(run, Graph.from_run(run)))
    assert groups == {B: (D,), C: (D,)}


def test_root_causes_are_the_nearest_failures_never_skipped_nodes() -> None:
    run = make_run(
        [node(A), node(B, A), node(C, B), node(D, C)],
        [result(A, "error"), result(B, "skipped"), result(C, "skipped"), result(D, "skipped")],
    )
    assert skips_of(run)[D] == (A,)


T_M = "test.pkg.not_null_m_id"
T_M2 = "test.pkg.unique_m_id"
M, CH, GC = "model.pkg.m", "model.pkg.child", "model.pkg.grandchild"
T_CH = "test.pkg.not_null_child_id"


def chain_with_tests(test_status: str, *, severity: str = "error", child: str = "skipped") -> Run:
    """m (with two tests) -> child (with a test) -> grandchild."""
    nodes = [
        node(M, owner="alice"),
        node(T_M, M, severity=severity),
        node(T_M2, M),
        node(CH, M, owner="bob"),
        node(T_CH, CH),
        node(GC, CH),
    ]
    downstream_status = child
    results = [
        result(M, "success"),
        result(T_M, test_status),
        result(T_M2, "pass"),
        result(CH, downstream_status),
        result(T_CH, downstream_status if downstream_status == "skipped" else "pass"),
        result(GC, downstream_status),
    ]
    return make_run(nodes, results)


def test_failed_error_test_is_the_root_cause_of_the_tested_models_children() -> None:
    run = chain_with_tests("fail")
    assert skips_of(run) == {CH: (T_M,), T_CH: (T_M,), GC: (T_M,)}
    impact = failures_of(run)[T_M]
    # The tested model and its sibling test are not downstream: dbt still runs them.
    assert impact.downstream == (CH, GC, T_CH)
    assert impact.skipped_downstream == (CH, GC, T_CH)
    assert impact.tested == (M,)
    # A test without an owner of its own is owned by what it tests.
    assert impact.owner == "alice"
    assert impact.owners == ("alice", "bob")


def test_warn_test_is_not_a_failure_and_explains_nothing() -> None:
    run = chain_with_tests("warn", severity="warn", child="success")
    assert failures_of(run) == {}
    assert skips_of(run) == {}
    # Even if the child was skipped for another reason (e.g. --fail-fast), the warning is no cause.
    odd = chain_with_tests("warn", severity="warn", child="skipped")
    assert skips_of(odd) == {CH: (), T_CH: (), GC: ()}
    assert group_by_root_cause(analyze_skips(odd, Graph.from_run(odd))) == {None: (CH, GC, T_CH)}


def test_failed_test_on_a_source_skips_the_staging_models() -> None:
    src = "source.pkg.raw.orders"
    t_src = "test.pkg.source_not_null_raw_orders_id"
    run = make_run(
        [node(src), node(t_src, src), node(A, src), node(B, A)],
        [result(t_src, "fail"), result(A, "skipped"), result(B, "skipped")],
    )
    assert skips_of(run) == {A: (t_src,), B: (t_src,)}


def test_ephemeral_model_in_the_middle_of_a_chain_propagates_lineage() -> None:
    eph = "model.pkg.eph"
    run = make_run(
        [node(A), node(eph, A, materialized="ephemeral"), node(C, eph)],
        [result(A, "error", 2.0), result(C, "skipped", 0.0)],
    )
    assert skips_of(run) == {C: (A,)}
    assert failures_of(run)[A].downstream == (C, eph)


def test_relationships_test_has_two_parents_and_gates_only_nodes_below_both() -> None:
    orders, customers = "model.pkg.orders", "model.pkg.customers"
    rel = "test.pkg.relationships_orders_customer_id__customer_id__ref_customers_"
    only_orders, both = "model.pkg.order_items", "model.pkg.customer_orders"
    run = make_run(
        [
            node(orders),
            node(customers),
            node(rel, orders, customers),
            node(only_orders, orders),
            node(both, orders, customers),
            node(E, both),
        ],
        [
            result(orders, "success"),
            result(customers, "success"),
            result(rel, "fail"),
            result(only_orders, "success"),
            result(both, "skipped"),
            result(E, "skipped"),
        ],
    )
    g = Graph.from_run(run)
    assert g.parents(rel) == (customers, orders)
    assert skips_of(run) == {both: (rel,), E: (rel,)}
    impact = failures_of(run)[rel]
    assert impact.downstream == (both, E)
    assert impact.tested == (customers, orders)


def test_unit_test_failure_skips_the_model_it_tests() -> None:
    unit = "unit_test.pkg.m.test_logic"
    unit2 = "unit_test.pkg.m.test_other"
    run = make_run(
        [node(A), node(M, A), node(unit, M), node(unit2, M), node(CH, M)],
        [
            result(A, "success"),
            result(unit, "fail"),
            result(unit2, "pass"),
            result(M, "skipped"),
            result(CH, "skipped"),
        ],
    )
    assert skips_of(run) == {M: (unit,), CH: (unit,)}
    assert failures_of(run)[unit].downstream == (CH, M)


def test_partial_success_skips_descendants_like_an_error() -> None:
    run = make_run([node(A), node(B, A)], [result(A, "partial success"), result(B, "skipped")])
    assert skips_of(run) == {B: (A,)}
    assert list(failures_of(run)) == [A]


def test_exposures_impacted_and_owners_collected() -> None:
    dash = "exposure.pkg.revenue_dashboard"
    metric = "metric.pkg.revenue"
    run = make_run(
        [
            node(A, owner="alice"),
            node(B, A, owner="bob"),
            node(C, A, owner="alice"),
            node(dash, B, owner="carol"),
            node(metric, C),
        ],
        [result(A, "error"), result(B, "skipped"), result(C, "skipped")],
    )
    impact = failures_of(run)[A]
    assert impact.exposures == (dash,)
    assert impact.downstream == (dash, metric, B, C)
    assert impact.owners == ("alice", "bob", "carol")
    assert impact.owner == "alice"


def test_exposure_on_a_model_with_a_failed_test_is_impacted() -> None:
    dash = "exposure.pkg.dash"
    run = make_run(
        [node(M), node(T_M, M), node(dash, M, owner="carol")],
        [result(M, "success"), result(T_M, "fail")],
    )
    impact = failures_of(run)[T_M]
    assert impact.exposures == (dash,)
    assert impact.skipped_downstream == ()


def test_skip_without_any_failure_has_no_root_cause() -> None:
    run = make_run([node(A), node(B, A)], [result(A, "success"), result(B, "skipped")])
    skips = analyze_skips(run, Graph.from_run(run))
    assert [(s.unique_id, s.root_causes) for s in skips] == [(B, ())]
    assert group_by_root_cause(skips) == {None: (B,)}


def test_group_by_root_cause_lists_unexplained_last() -> None:
    run = make_run(
        [node(A), node(B, A), node(C), node(D, C)],
        [result(A, "error"), result(B, "skipped"), result(C, "success"), result(D, "skipped")],
    )
    assert list(group_by_root_cause(analyze_skips(run, Graph.from_run(run))).items()) == [
        (A, (B,)),
        (None, (D,)),
    ]


# -------------------------------------------------------------------------- critical path


def test_critical_path_on_a_diamond_with_known_times() -> None:
    times = {A: 1.0, B: 5.0, C: 2.0, D: 1.5}
    run = make_run(
        [node(A), node(B, A), node(C, A), node(D, B, C)],
        [result(u, "success", t) for u, t in times.items()],
    )
    path = critical_path(run, Graph.from_run(run))
    assert path.nodes == (A, B, D)
    assert path.times == (1.0, 5.0, 1.5)
    assert path.total_s == pytest.approx(7.5)


def test_critical_path_is_contracted_through_ephemeral_and_skipped_nodes() -> None:
    eph = "model.pkg.eph"
    run = make_run(
        [node(A), node(eph, A, materialized="ephemeral"), node(B), node(C, eph, B)],
        [result(A, "success", 4.0), result(B, "success", 3.0), result(C, "success", 2.0)],
    )
    path = critical_path(run, Graph.from_run(run))
    assert path.nodes == (A, C)
    assert path.total_s == pytest.approx(6.0)


def test_build_waits_on_tests_so_they_sit_on_the_critical_path() -> None:
    nodes = [node(M), node(T_M, M), node(CH, M)]
    results = [result(M, "success", 3.0), result(T_M, "pass", 10.0), result(CH, "success", 1.0)]
    build = make_run(nodes, results, command="build")
    assert critical_path(build, Graph.from_run(build)).nodes == (M, T_M, CH)
    assert critical_path(build, Graph.from_run(build)).total_s == pytest.approx(14.0)
    plain = make_run(nodes, results, command="run")
    assert critical_path(plain, Graph.from_run(plain)).nodes == (M, T_M)
    # Without a known command, tests running next to models mean the run was a build.
    unknown = make_run(nodes, results, command=None)
    assert critical_path(unknown, Graph.from_run(unknown)).nodes == (M, T_M, CH)
    assert critical_path(unknown, Graph.from_run(unknown), test_gates=False).nodes == (M, T_M)


def test_unit_tests_run_before_their_model_on_the_critical_path() -> None:
    unit = "unit_test.pkg.m.test_logic"
    run = make_run(
        [node(A), node(M, A), node(unit, M)],
        [result(A, "success", 1.0), result(unit, "pass", 2.0), result(M, "success", 3.0)],
    )
    path = critical_path(run, Graph.from_run(run))
    assert path.nodes == (A, unit, M)
    assert path.total_s == pytest.approx(6.0)


def test_critical_path_of_an_empty_run() -> None:
    run = make_run([node(A)], [])
    path = critical_path(run, Graph.from_run(run))
    assert path.nodes == () and path.total_s == 0.0
    assert bottlenecks(run, Graph.from_run(run), path) == []


def test_bottlenecks_rank_path_nodes_and_count_waiting_descendants() -> None:
    times = {A: 1.0, B: 8.0, C: 0.5, D: 1.0, E: 6.0}
    run = make_run(
        [node(A), node(B, A), node(C, A), node(D, B, C), node(E)],
        [
            result(A, "success", 1.0, span=(0.0, 1.0)),
            result(B, "success", 8.0, span=(1.0, 9.0)),
            result(C, "success", 0.5, span=(1.0, 1.5), thread="Thread-2"),
            result(D, "success", 1.0, span=(9.0, 10.0)),
            result(E, "success", 6.0, span=(2.0, 8.0), thread="Thread-2"),
        ],
    )
    g = Graph.from_run(run)
    path = critical_path(run, g)
    assert path.nodes == (A, B, D)
    found = bottlenecks(run, g, path, min_path_share=0.2, min_wall_share=0.5)
    assert [(b.unique_id, b.on_critical_path, b.waiting) for b in found] == [(B, True, 1), (E, False, 0)]
    assert found[0].path_share == pytest.approx(0.8)
    assert found[0].wall_share == pytest.approx(0.8)
    assert found[1].path_share is None
    assert found[1].execution_time == times[E]


def test_thread_utilization_on_known_intervals() -> None:
    run = make_run(
        [node(A), node(B), node(C), node(D)],
        [
            result(A, "success", span=(100.0, 104.0), thread="Thread-1"),
            result(B, "success", span=(105.0, 110.0), thread="Thread-1"),
            result(C, "success", span=(100.0, 102.0), thread="Thread-2"),
            result(D, "success", span=(101.0, 103.0), thread="Thread-2"),  # overlaps C: counted once
            result(E, "skipped", 0.0),  # no timing: left out
        ],
    )
    util = thread_utilization(run)
    assert util.threads == 2
    assert util.wall_s == pytest.approx(10.0)
    assert [(t.thread_id, round(t.busy_s, 9), t.nodes) for t in util.per_thread] == [
        ("Thread-1", 9.0, 2),
        ("Thread-2", 3.0, 2),
    ]
    assert util.busy_s == pytest.approx(12.0)
    assert util.utilization == pytest.approx(0.6)
    assert thread_utilization(run, threads=4).utilization == pytest.approx(0.3)


def test_threads_are_listed_in_natural_order() -> None:
    threads = ["Thread-10 (worker)", "Thread-2 (worker)", "Thread-1 (worker)"]
    run = make_run(
        [node(A), node(B), node(C)],
        [result(u, "success", span=(0.0, 1.0), thread=t) for u, t in zip((A, B, C), threads, strict=True)],
    )
    assert [t.thread_id for t in thread_utilization(run).per_thread] == [
        "Thread-1 (worker)",
        "Thread-2 (worker)",
        "Thread-10 (worker)",
    ]


def test_thread_utilization_without_timings_is_none() -> None:
    run = make_run([node(A)], [result(A, "success", 3.0)])
    util = thread_utilization(run)
    assert util.utilization is None and util.wall_s is None and util.per_thread == ()


# ---------------------------------------------------------------------------- node lineage


def test_upstream_downstream_with_depth_and_statuses() -> None:
    run = make_run(
        [node(A), node(B, A), node(C, B), node(D, C)],
        [result(A, "success"), result(B, "error"), result(C, "skipped")],
    )
    g = Graph.from_run(run)
    full = upstream_downstream(g, "b", run=run)
    assert full.unique_id == B and full.status == "error"
    assert [(e.unique_id, e.distance, e.status) for e in full.upstream] == [(A, 1, "success")]
    assert [(e.unique_id, e.distance, e.status) for e in full.downstream] == [
        (C, 1, "skipped"),
        (D, 2, None),
    ]
    near = upstream_downstream(g, B, depth=1)
    assert [e.unique_id for e in near.downstream] == [C]
    assert upstream_downstream(g, B, depth=0).downstream == ()
    with pytest.raises(UsageError):
        upstream_downstream(g, B, depth=-1)
    with pytest.raises(UnknownNodeError):
        upstream_downstream(g, "model.pkg.nope")


# ---------------------------------------------------------------- property: simulated dbt build


def build_graph_oracle(run: Run) -> nx.DiGraph:
    """dbt build's execution graph, brute force: manifest edges, an edge from every data test to
    every non-test node whose ancestors hold all of the test's parents (dbt's add_test_edges_1),
    and unit tests running right before their model."""
    g = nx.DiGraph()
    g.add_nodes_from(run.nodes)
    for uid, n in run.nodes.items():
        if n.resource_type == "unit_test":
            continue
        g.add_edges_from((p, uid) for p in n.depends_on)
    manifest = g.copy()
    tests = [n for n in run.nodes.values() if n.resource_type == "test" and n.depends_on]
    for uid, n in run.nodes.items():
        if n.resource_type in ("test", "unit_test", "source", "exposure"):
            continue
        ancestors = nx.ancestors(manifest, uid)
        for t in tests:
            if set(t.depends_on) <= ancestors:
                g.add_edge(t.unique_id, uid)
    for uid, n in run.nodes.items():
        if n.resource_type == "unit_test":
            model = n.depends_on[0]
            g.add_edges_from((p, uid) for p in manifest.predecessors(model))
            g.add_edge(uid, model)
    return g


@st.composite
def simulated_builds(draw: st.DrawFn) -> tuple[Run, bool]:
    """A random project and what `dbt build` would make of it, and whether some skips were left
    unexplained on purpose (as `--fail-fast` or an earlier invocation would)."""
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    n_sources = draw(st.integers(0, 2))
    n_models = draw(st.integers(1, 12))
    nodes: list[Node] = []
    sources = [f"source.pkg.raw.s{i}" for i in range(n_sources)]
    nodes += [node(s) for s in sources]
    models: list[str] = []
    ephemeral: set[str] = set()
    for i in range(n_models):
        uid = f"model.pkg.m{i:02d}"
        pool = sources + models
        deps = rnd.sample(pool, rnd.randint(0, min(3, len(pool)))) if pool else []
        eph = bool(models) and rnd.random() < 0.15
        if eph:
            ephemeral.add(uid)
        nodes.append(node(uid, *deps, materialized="ephemeral" if eph else "table", owner=f"o{i % 3}"))
        models.append(uid)
    testable = sources + [m for m in models if m not in ephemeral]
    for i in range(draw(st.integers(0, 10))):
        k = 2 if len(testable) > 1 and rnd.random() < 0.3 else 1
        deps = rnd.sample(testable, k)
        nodes.append(node(f"test.pkg.t{i:02d}", *deps))
    for i in range(draw(st.integers(0, 2))):
        target = [m for m in models if m not in ephemeral]
        nodes.append(node(f"unit_test.pkg.u{i}", rnd.choice(target)))
    if models:
        nodes.append(node("exposure.pkg.dash", *rnd.sample(models, min(2, len(models)))))
    run = make_run(nodes, [])
    p_fail = draw(st.sampled_from([0.0, 0.2, 0.4]))
    p_unexplained = draw(st.sampled_from([0.0, 0.1]))
    build = build_graph_oracle(run)
    tainted: set[str] = set()
    results: list[NodeResult] = []
    for uid in nx.lexicographical_topological_sort(build):
        n = run.nodes[uid]
        runs = n.resource_type not in ("source", "exposure") and uid not in ephemeral
        blocked = any(p in tainted for p in build.predecessors(uid))
        if not runs:
            if blocked:
                tainted.add(uid)
            continue
        if blocked or rnd.random() < p_unexplained:
            status = "skipped"
        elif rnd.random() < p_fail:
            status = "fail" if n.resource_type in ("test", "unit_test") else "error"
        else:
            status = rnd.choice(["pass", "warn"]) if n.resource_type == "test" else "success"
        if status in ("skipped", "fail", "error"):
            tainted.add(uid)
        results.append(result(uid, status, round(rnd.uniform(0, 5), 2)))
    return make_run(nodes, results), p_unexplained > 0


def oracle_root_causes(run: Run, build: nx.DiGraph, skipped: str) -> set[str]:
    """Failed nodes with a build-graph path to `skipped` whose inner nodes were skipped or did not run."""
    status = {r.unique_id: r.status for r in run.results}
    causes: set[str] = set()
    seen = {skipped}
    stack = [skipped]
    while stack:
        v = stack.pop()
        for p in build.predecessors(v):
            if p in seen:
                continue
            seen.add(p)
            s = status.get(p)
            if s in ("error", "fail"):
                causes.add(p)
            elif s in (None, "skipped"):
                stack.append(p)
    return causes


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(simulated_builds())
def test_root_causes_match_the_dbt_build_oracle(case: tuple[Run, bool]) -> None:
    run, unexplained_allowed = case
    g = Graph.from_run(run)
    build = build_graph_oracle(run)
    manifest_ancestors = {uid: set(g.ancestors(uid)) for uid in g.ids}
    status = {r.unique_id: r.status for r in run.results}
    skips = analyze_skips(run, g)
    assert [s.unique_id for s in skips] == sorted(u for u, s in status.items() if s == "skipped")
    for skip in skips:
        causes = set(skip.root_causes)
        assert causes == oracle_root_causes(run, build, skip.unique_id), skip.unique_id
        for cause in causes:
            assert status[cause] in ("error", "fail")
            # An ancestor, or a test of an ancestor (or of the node itself, for unit tests).
            assert cause in manifest_ancestors[skip.unique_id] or set(g.parents(cause)) <= (
                manifest_ancestors[skip.unique_id] | {skip.unique_id}
            )
            # Nearest: no other root cause of this skip lies downstream of it in the build graph.
            assert not (causes - {cause}) & nx.descendants(build, cause)
    explained: dict[str, set[str]] = {}
    for skip in skips:
        for cause in skip.root_causes:
            explained.setdefault(cause, set()).add(skip.unique_id)
    failures = analyze_failures(run, g, skips)
    assert [f.unique_id for f in failures] == sorted(u for u, s in status.items() if s in ("error", "fail"))
    for f in failures:
        assert set(f.skipped_downstream) == explained.get(f.unique_id, set())
        assert set(f.skipped_downstream) <= set(f.downstream)
        assert set(f.skipped_downstream) <= nx.descendants(build, f.unique_id)
        assert f.exposures == tuple(d for d in f.downstream if d.startswith("exposure."))
        if f.resource_type not in ("test", "unit_test"):
            assert set(f.downstream) == manifest_descendants(g, f.unique_id)
    if not unexplained_allowed:
        assert all(s.root_causes for s in skips)


def manifest_descendants(g: Graph, uid: str) -> set[str]:
    """Descendants via networkx, independent of Graph's own walk."""
    dg = nx.DiGraph()
    dg.add_nodes_from(g.ids)
    dg.add_edges_from((g.ids[p], g.ids[c]) for c, ps in enumerate(g.parent_idx) for p in ps)
    return set(nx.descendants(dg, uid))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(simulated_builds())
def test_critical_path_is_the_longest_path_of_the_build(case: tuple[Run, bool]) -> None:
    run, _ = case
    g = Graph.from_run(run)
    path = critical_path(run, g)
    weights = {r.unique_id: r.execution_time for r in run.results if r.status != "skipped"}
    if not weights:
        assert path.nodes == ()
        return
    assert math.isclose(path.total_s, sum(weights[u] for u in path.nodes))
    assert path.times == tuple(weights[u] for u in path.nodes)
    assert path.total_s >= max(weights.values()) - 1e-9
    assert len(set(path.nodes)) == len(path.nodes)
    # Oracle: the longest node-weighted path over the build graph, passing through nodes that did
    # not execute at no cost.
    build = build_graph_oracle(run)
    best: dict[str, float] = {}
    for v in nx.topological_sort(build):
        incoming = max((best[p] for p in build.predecessors(v)), default=0.0)
        best[v] = incoming + weights.get(v, 0.0)
    assert math.isclose(path.total_s, max(best.values()), abs_tol=1e-9)
    for up, down in zip(path.nodes, path.nodes[1:], strict=False):
        assert nx.has_path(build, up, down)


# -------------------------------------------------------------------------------- scale


def synthetic_run(n_models: int, tests_per_model: int, seed: int = 7) -> Run:
    """A big layered project: models with 1-3 parents, tests on each, a few relationships tests,
    one failing model and one failing test somewhere in the middle."""
    rnd = random.Random(seed)
    nodes: list[Node] = []
    results: list[NodeResult] = []
    models = [f"model.big.m{i:05d}" for i in range(n_models)]
    for i, uid in enumerate(models):
        deps = rnd.sample(models[max(0, i - 500) : i], min(i, rnd.randint(1, 3))) if i else []
        nodes.append(node(uid, *deps, owner=f"team{i % 17}"))
        for k in range(tests_per_model):
            extra = (rnd.choice(models[:i]),) if i and k == 0 and rnd.random() < 0.1 else ()
            nodes.append(node(f"test.big.t{i:05d}_{k}", uid, *extra))
    run = make_run(nodes, [])
    g = Graph.from_run(run)
    tested = models[n_models // 4]
    bad_test = f"test.big.t{n_models // 4:05d}_1"
    gated = {c for c in g.children(tested) if not c.startswith("test.")}
    doomed: set[str] = set()
    for c in gated:
        doomed.add(c)
        doomed.update(g.descendants(c))
    bad_model = next(m for m in models[n_models // 3 :] if m not in doomed)
    doomed.update(g.descendants(bad_model))
    clock = 0.0
    for uid in g.topological_order():
        if uid in (bad_model, bad_test):
            status = "error" if uid == bad_model else "fail"
        elif uid in doomed:
            status = "skipped"
        else:
            status = "pass" if uid.startswith("test.") else "success"
        t = 0.0 if status == "skipped" else rnd.uniform(0.01, 2.0)
        span = (clock, clock + t) if status != "skipped" else None
        clock += t / 4
        results.append(result(uid, status, t, span=span, thread=f"Thread-{rnd.randint(1, 4)}"))
    return make_run(nodes, results)


def test_scale_30k_nodes_builds_and_analyzes() -> None:
    run = synthetic_run(10_000, 2)
    assert len(run.nodes) == 30_000
    g = Graph.from_run(run)
    assert len(g) == 30_000
    skips = analyze_skips(run, g)
    failures = analyze_failures(run, g, skips)
    path = critical_path(run, g)
    slow = bottlenecks(run, g, path)
    util = thread_utilization(run)
    assert {f.unique_id for f in failures} >= {"test.big.t02500_1"}
    assert len(failures) == 2
    assert skips and all(s.root_causes for s in skips)
    assert path.nodes and path.total_s > 0
    assert util.utilization is not None and 0 < util.utilization <= 1
    assert isinstance(slow, list)


def _fifo_kahn(
    parents: list[list[int]], children: list[list[int]]
) -> tuple[list[int], list[tuple[int, int]]]:
    """Kahn's algorithm with a FIFO queue, as the docstring of `graph.kahn` specifies it."""
    from collections import deque

    n = len(parents)
    indeg = [len(p) for p in parents]
    placed = [False] * n
    order: list[int] = []
    queue = deque(i for i in range(n) if indeg[i] == 0)
    broken: list[tuple[int, int]] = []
    while len(order) < n:
        if not queue:
            v = min(i for i in range(n) if not placed[i] and indeg[i] > 0)
            broken.extend((p, v) for p in parents[v] if not placed[p])
            indeg[v] = 0
            queue.append(v)
        while queue:
            v = queue.popleft()
            if placed[v]:
                continue
            placed[v] = True
            order.append(v)
            for c in children[v]:
                if not placed[c]:
                    indeg[c] -= 1
                    if indeg[c] == 0:
                        queue.append(c)
    return order, broken


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 12).flatmap(
        lambda n: st.tuples(
            st.just(n), st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=30)
        )
    )
)
def test_kahn_is_the_fifo_order_with_cycles_broken_at_the_smallest_vertex(
    graph: tuple[int, set[tuple[int, int]]],
) -> None:
    from pipewatch.lineage.graph import kahn

    n, edges = graph
    parents: list[list[int]] = [[] for _ in range(n)]
    children: list[list[int]] = [[] for _ in range(n)]
    for p, c in sorted(edges):
        if p != c:
            parents[c].append(p)
            children[p].append(c)
    assert kahn(parents, children) == _fifo_kahn(parents, children)
