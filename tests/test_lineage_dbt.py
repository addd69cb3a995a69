"""Lineage on a real `dbt build` of the example project (planted error, failed test, warning).

The expected root causes are the table in `dbt_example_project/README.md`; downstream sets are
checked against the manifest's own `child_map` read with plain json; the critical path against
the timings dbt recorded (each node on it started after the previous one ended).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest

from pipewatch.artifacts import load_run
from pipewatch.lineage import (
    Graph,
    analyze_failures,
    analyze_skips,
    bottlenecks,
    critical_path,
    thread_utilization,
    upstream_downstream,
)
from tests.conftest import BuiltProject

pytestmark = pytest.mark.dbt

ERROR = "model.shop.stg_payments"
FAILED_TEST = "test.shop.unique_stg_customers_customer_id.c7614daada"
WARN_TEST = (
    "test.shop.accepted_values_stg_orders_status__placed__shipped__completed__returned__cancelled.cb8754312d"
)
BOTH = (ERROR, FAILED_TEST)
EXPECTED_ROOT_CAUSES = {
    "model.shop.int_order_payments": (ERROR,),
    "model.shop.fct_orders": (ERROR,),
    "model.shop.fct_daily_revenue": (ERROR,),
    "model.shop.dim_customers": (FAILED_TEST,),
    "model.shop.rpt_customer_lifetime_value": BOTH,
    "exposure.shop.executive_revenue_dashboard": BOTH,
    "test.shop.accepted_values_stg_payments_payment_method__credit_card__paypal__gift_card__"
    "bank_transfer.17d1d8941f": (ERROR,),
    "test.shop.not_null_stg_payments_amount_cents.f29155186b": (ERROR,),
    "test.shop.not_null_stg_payments_payment_id.c19cc50075": (ERROR,),
    "test.shop.relationships_stg_payments_order_id__order_id__ref_stg_orders_.8426a3f3d3": (ERROR,),
    "test.shop.unique_stg_payments_payment_id.3744510712": (ERROR,),
    "test.shop.unique_int_order_payments_order_id.804c2d5021": (ERROR,),
    "test.shop.not_null_fct_orders_order_id.4e687af8d0": (ERROR,),
    "test.shop.not_null_fct_orders_status.1455048989": (ERROR,),
    "test.shop.unique_fct_orders_order_id.523ddb6ce5": (ERROR,),
    "test.shop.assert_paid_orders_have_payment_date": (ERROR,),
    "test.shop.not_null_fct_daily_revenue_order_date.b774bf86f4": (ERROR,),
    "test.shop.unique_fct_daily_revenue_order_date.8ba2134790": (ERROR,),
    "test.shop.not_null_dim_customers_customer_id.dd91cd1c8d": (FAILED_TEST,),
    "test.shop.not_null_dim_customers_region.f63d03500c": (FAILED_TEST,),
    "test.shop.unique_dim_customers_customer_id.15c9f1e2fd": (FAILED_TEST,),
    "test.shop.not_null_rpt_customer_lifetime_value_customer_id.bf4d313000": BOTH,
    "test.shop.unique_rpt_customer_lifetime_value_customer_id.1517cd2290": BOTH,
}


def descendants_from_child_map(manifest: dict[str, Any], start: str) -> set[str]:
    """Descendants straight from the manifest json, independent of pipewatch's graph."""
    seen: set[str] = set()
    queue = deque([start])
    while queue:
        for child in manifest["child_map"].get(queue.popleft(), []):
            if child not in seen:
                seen.add(child)
                queue.append(child)
    return seen


def test_root_causes_of_every_skip_in_a_real_build(faulty_build: BuiltProject) -> None:
    run = load_run(faulty_build.target)
    graph = Graph.from_run(run)
    skips = analyze_skips(run, graph)
    assert {s.unique_id: s.root_causes for s in skips} == EXPECTED_ROOT_CAUSES


def test_failures_and_their_impact_in_a_real_build(faulty_build: BuiltProject) -> None:
    run = load_run(faulty_build.target)
    graph = Graph.from_run(run)
    skips = analyze_skips(run, graph)
    failures = {f.unique_id: f for f in analyze_failures(run, graph, skips)}
    assert set(failures) == {ERROR, FAILED_TEST}  # the warn test is no failure
    assert WARN_TEST not in failures
    manifest = faulty_build.artifact("manifest.json")

    error = failures[ERROR]
    assert error.status == "error"
    assert set(error.downstream) == descendants_from_child_map(manifest, ERROR)
    assert error.exposures == ("exposure.shop.executive_revenue_dashboard",)
    assert error.owner == "finance-data@shop.example"

    test = failures[FAILED_TEST]
    assert test.status == "fail"
    assert test.tested == ("model.shop.stg_customers",)
    assert test.owner == "analytics-eng@shop.example"  # the tested model's owner
    assert "model.shop.dim_customers" in test.downstream
    assert "model.shop.stg_customers" not in test.downstream
    assert set(test.downstream) <= descendants_from_child_map(manifest, "model.shop.stg_customers")
    siblings = {c for c in manifest["child_map"]["model.shop.stg_customers"] if c.startswith("test.")}
    assert not siblings & set(test.downstream)
    assert "exposure.shop.executive_revenue_dashboard" in test.exposures

    for f in failures.values():
        explained = {s.unique_id for s in skips if f.unique_id in s.root_causes}
        assert set(f.skipped_downstream) == explained
        assert explained <= set(f.downstream)


def test_critical_path_follows_what_dbt_really_waited_for(faulty_build: BuiltProject) -> None:
    run = load_run(faulty_build.target)
    graph = Graph.from_run(run)
    path = critical_path(run, graph)
    results = run.result_by_id()
    assert "model.shop.fct_inventory_snapshots" in path.nodes
    assert "model.shop.rpt_inventory_forecast" in path.nodes
    assert path.total_s == pytest.approx(sum(results[u].execution_time for u in path.nodes))
    for up, down in zip(path.nodes, path.nodes[1:], strict=False):
        ended, started = results[up].completed, results[down].started
        assert ended is not None and started is not None
        assert ended <= started + 1e-3, (up, down)
    slow = bottlenecks(run, graph, path)
    assert slow and slow[0].on_critical_path
    util = thread_utilization(run)
    assert util.utilization is not None and 0 < util.utilization <= 1
    assert 1 <= util.threads <= 4  # profiles.yml runs 4 threads


def test_lineage_of_a_tested_model_with_statuses(faulty_build: BuiltProject) -> None:
    run = load_run(faulty_build.target)
    view = upstream_downstream(Graph.from_run(run), "stg_customers", depth=1, run=run)
    assert view.unique_id == "model.shop.stg_customers" and view.status == "success"
    down = {e.unique_id: e.status for e in view.downstream}
    assert down[FAILED_TEST] == "fail"
    assert down["model.shop.dim_customers"] == "skipped"


def test_a_clean_build_has_nothing_to_explain(clean_build: BuiltProject) -> None:
    run = load_run(clean_build.target)
    graph = Graph.from_run(run)
    assert analyze_skips(run, graph) == []
    assert analyze_failures(run, graph) == []
    assert critical_path(run, graph).nodes
