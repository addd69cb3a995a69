"""A small hand-made project for the live tests that need no dbt, and checks of the log synthesizer.

The DAG (dbt build order): seed raw -> stg -> fct -> exposure dash; raw -> other; stg has a
not_null test. Owners: stg and fct belong to analytics, the exposure to finance.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pipewatch.artifacts import Manifest
from pipewatch.lineage.graph import Graph
from pipewatch.live.events import read_events
from pipewatch.live.state import BuildState
from pipewatch.live.synthetic import log_line, synthesize_log
from tests.factories import make_node, make_test_info

INV = "inv-live-1"
RAW = "seed.shop.raw"
STG = "model.shop.stg"
FCT = "model.shop.fct"
OTHER = "model.shop.other"
TEST = "test.shop.not_null_stg_id.abc123"
DASH = "exposure.shop.dash"
#: True seconds of each node the build runs.
DURATIONS = {RAW: 2.0, STG: 3.0, TEST: 1.0, FCT: 4.0, OTHER: 5.0}


def graph_of(parents: Mapping[str, Iterable[str]]) -> Graph:
    """A graph from `{unique_id: [parent ids]}` alone, for simulator tests that need no manifest."""
    ids = sorted({*parents, *(p for ps in parents.values() for p in ps)})
    index = {uid: i for i, uid in enumerate(ids)}
    return Graph(ids, [sorted(index[p] for p in parents.get(uid, ())) for uid in ids], index=index)


def small_manifest() -> Manifest:
    """The small project's manifest."""
    nodes = [
        make_node(RAW, materialization="seed"),
        make_node(STG, depends_on=(RAW,), owner="analytics@shop.example"),
        make_node(FCT, depends_on=(STG,), owner="analytics@shop.example"),
        make_node(OTHER, depends_on=(RAW,)),
        make_node(
            TEST,
            depends_on=(STG,),
            materialization="test",
            test=make_test_info("not_null", attached_node=STG),
        ),
        make_node(DASH, depends_on=(FCT,), owner="finance@shop.example", materialization=None),
    ]
    return Manifest(
        path="<small>",
        schema_version=12,
        dbt_version="1.11.0",
        invocation_id=None,
        generated_at=None,
        adapter_type="duckdb",
        project_name="shop",
        nodes={n.unique_id: n for n in nodes},
        disabled=frozenset(),
        parent_map=None,
        child_map=None,
        groups={},
    )


def small_log(
    *, statuses: dict[str, str] | None = None, skipped: tuple[str, ...] = (), threads: int = 2
) -> list[bytes]:
    """The synthesized log of a build of the small project."""
    state = BuildState.from_manifest(small_manifest())
    assert state.graph is not None
    return synthesize_log(
        state.graph, DURATIONS, threads=threads, invocation_id=INV, statuses=statuses, skipped=skipped
    )


def line(name: str, ts: float, invocation: str = INV, **data: object) -> bytes:
    """One hand-written dbt log line."""
    return log_line(name, invocation, ts, data)


def test_synthesized_log_reads_back_as_a_complete_build() -> None:
    lines = small_log()
    events = read_events(lines)
    assert events[0].name == "MainReportVersion" and events[-1].name == "CommandCompleted"
    state = BuildState.from_manifest(small_manifest())
    for e in events:
        state.apply(e)
    assert state.complete and state.success
    assert state.counts() == {"pass": 1, "success": 4}
    assert state.durations == DURATIONS


def test_synthesized_log_respects_dependencies_and_threads() -> None:
    events = [e for e in read_events(small_log(threads=1)) if e.kind == "node_start"]
    order = [e.unique_id for e in events]
    assert order.index(RAW) < order.index(STG) < order.index(FCT)
    assert order.index(STG) < order.index(TEST)
    # In `dbt build` the test on stg gates fct.
    assert order.index(TEST) < order.index(FCT)
