"""Build state from events: progress, running nodes, failures with what they put at risk, strays."""

from __future__ import annotations

from pathlib import Path

from pipewatch.live.events import read_events
from pipewatch.live.state import BuildState
from tests.test_live_support import DASH, FCT, INV, OTHER, RAW, STG, TEST, line, small_log, small_manifest

RECORDED = Path(__file__).parent / "data" / "live" / "example_build.ndjson"


def _fold(lines: list[bytes], state: BuildState | None = None) -> BuildState:
    state = state or BuildState.from_manifest(small_manifest())
    for event in read_events(lines):
        state.apply(event)
    return state


def test_running_nodes_and_elapsed() -> None:
    lines = [
        line("ConcurrencyLine", 100.0, num_threads=2, node_count=5),
        line("LogStartLine", 100.0, node_info={"unique_id": RAW, "node_status": "started"}, index=1, total=5),
        line(
            "LogStartLine", 101.0, node_info={"unique_id": OTHER, "node_status": "started"}, index=2, total=5
        ),
    ]
    state = _fold(lines)
    assert state.threads == 2 and state.expected_total() == 5 and state.done == 0
    assert state.running_now(104.0) == [(RAW, 4.0), (OTHER, 3.0)]


def test_failure_names_skips_exposures_and_owners() -> None:
    state = _fold(small_log(statuses={STG: "error"}, skipped=(TEST, FCT)))
    (failure,) = state.failures
    assert failure.unique_id == STG and failure.status == "error"
    assert set(failure.will_skip) == {TEST, FCT}
    assert failure.exposures == (DASH,)
    assert failure.owners == ("analytics@shop.example", "finance@shop.example")
    assert state.exposures_at_risk == {DASH}
    assert state.complete and state.success is False
    assert state.counts() == {"error": 1, "skipped": 2, "success": 2}
    assert state.will_skip == set()  # all reported by now


def test_predicted_skips_shrink_as_dbt_reports_them() -> None:
    lines = small_log(statuses={STG: "error"}, skipped=(TEST, FCT))
    state = BuildState.from_manifest(small_manifest())
    seen = []
    for event in read_events(lines):
        for change in state.apply(event):
            if change.kind == "failed":
                seen.append(set(state.will_skip))
    assert seen == [{TEST, FCT}]


def test_failed_test_skips_what_it_gates() -> None:
    state = _fold(small_log(statuses={TEST: "fail"}, skipped=(FCT,)))
    (failure,) = state.failures
    assert failure.unique_id == TEST and failure.will_skip == (FCT,)
    assert failure.owner == "analytics@shop.example"  # borrowed from the tested model


def test_nodes_the_manifest_lacks_are_counted_not_fatal() -> None:
    lines = [
        line("LogStartLine", 1.0, node_info={"unique_id": "model.elsewhere.x"}, index=1, total=2),
        line("LogModelResult", 2.0, node_info={"unique_id": "model.elsewhere.x", "node_status": "error"}),
        line("LogStartLine", 1.0, node_info={"unique_id": RAW}, index=2, total=2),
    ]
    state = _fold(lines)
    assert state.unknown_nodes == {"model.elsewhere.x"}
    assert state.unknown_events == 2
    (failure,) = state.failures
    assert failure.in_manifest is False and failure.will_skip == ()


def test_a_log_of_another_project_is_all_strays() -> None:
    state = _fold(RECORDED.read_bytes().splitlines())
    assert state.complete
    assert state.done == 71 and len(state.unknown_nodes) == 71
    assert all(not f.in_manifest for f in state.failures)


def test_a_new_invocation_starts_over_and_records_the_unfinished_one() -> None:
    second = small_log()
    other = [line("LogStartLine", 1.0, "killed-one", node_info={"unique_id": RAW}, index=1, total=5)]
    state = _fold(other + second)
    assert state.superseded == ["killed-one"]
    assert state.invocation_id == INV and state.complete and state.done == 5


def test_without_manifest_progress_still_counts() -> None:
    state = BuildState.from_manifest(None)
    _fold(small_log(), state)
    assert state.done == 5 and state.complete and state.graph is None
