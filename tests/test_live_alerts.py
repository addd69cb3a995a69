"""Alert planning: first failure per node, grouping, rate limit, running long, the end summary."""

from __future__ import annotations

from typing import Any

from pipewatch.live.alerts import AlertConfig, AlertPlanner
from pipewatch.live.events import read_events
from pipewatch.live.history import DurationStats
from pipewatch.live.state import BuildState
from tests.test_live_support import DASH, FCT, OTHER, RAW, STG, TEST, line, small_manifest


def _run(
    lines: list[bytes], planner_kw: dict[str, Any] | None = None
) -> tuple[AlertPlanner, list[dict[str, Any]]]:
    state = BuildState.from_manifest(small_manifest())
    planner = AlertPlanner(state, **(planner_kw or {}))
    out: list[dict[str, Any]] = []
    last = 0.0
    for event in read_events(lines):
        last = event.ts or last
        out += planner.on_changes(state.apply(event), last)
    out += planner.finish(last)
    return planner, out


def _result(uid: str, status: str, ts: float, name: str = "LogModelResult") -> bytes:
    return line(name, ts, node_info={"unique_id": uid, "node_status": status}, status=status, num_failures=2)


def test_failures_close_together_share_one_message_and_each_node_is_alerted_once() -> None:
    lines = [
        line("LogStartLine", 0.0, node_info={"unique_id": STG}, index=1, total=5),
        _result(STG, "error", 1.0),
        _result(OTHER, "error", 1.5),
        _result(STG, "error", 1.6),  # the file log repeats results: never a second alert
        line("LogStartLine", 9.0, node_info={"unique_id": RAW}, index=3, total=5),
        line("StatsLine", 10.0),
    ]
    planner, alerts = _run(lines)
    kinds = [a["kind"] for a in alerts]
    assert kinds == ["live_failure", "live_summary"]
    failure = alerts[0]
    assert failure["node_ids"] == [STG, OTHER]
    assert failure["title"] == "2 nodes failed: stg, other"
    assert failure["at"] == 9.0  # the window closed at the next event after 2 s
    stg = failure["nodes"][0]
    assert stg["owner"] == "analytics@shop.example"
    assert set(stg["will_skip"]) == {TEST, FCT}
    assert stg["exposures"] == [DASH]
    assert stg["category"] == "unknown"  # dbt prints the message only at the end
    assert failure["exposures_at_risk"] == [DASH]
    assert planner.alerted_nodes == {STG, OTHER}


def test_summary_refers_to_the_alerts_already_sent_and_triages_late_messages() -> None:
    lines = [
        _result(STG, "error", 1.0),
        line("LogStartLine", 5.0, node_info={"unique_id": RAW}, index=3, total=5),
        line(
            "RunResultError",
            6.0,
            node_info={"unique_id": STG},
            msg="Runtime Error in model stg\n  Conversion Error: Could not convert string 'N/A' to INT32",
        ),
        line("StatsLine", 6.0),
    ]
    _, alerts = _run(lines)
    first, summary = alerts
    assert summary["kind"] == "live_summary" and summary["title"] == "build finished with 1 failure"
    assert summary["already_alerted"] == {STG: first["dedup_key"]}
    assert summary["previous_alerts"] == [first["dedup_key"]]
    assert summary["not_alerted"] == []
    (described,) = summary["failures"]
    assert described["message"].startswith("Runtime Error in model stg")
    assert described["category"] == "data"


def test_messages_leave_at_most_one_per_interval() -> None:
    cfg = AlertConfig(window_s=0.0, min_interval_s=1.0)
    lines = [
        _result(STG, "error", 1.0),
        _result(OTHER, "error", 1.1),
        _result(RAW, "error", 1.2),
        line("LogStartLine", 1.3, node_info={"unique_id": FCT}, index=4, total=5),
        line("LogStartLine", 2.5, node_info={"unique_id": TEST}, index=5, total=5),
    ]
    state = BuildState.from_manifest(small_manifest())
    planner = AlertPlanner(state, config=cfg)
    times = []
    for event in read_events(lines):
        for alert in planner.on_changes(state.apply(event), event.ts or 0.0):
            times.append(alert["sent_at"])
    assert times == [1.0, 2.5]


def test_warn_is_optional() -> None:
    lines = [_result(TEST, "warn", 1.0, "LogTestResult"), line("StatsLine", 5.0)]
    _, alerts = _run(lines)
    assert [a["kind"] for a in alerts] == ["live_summary"]
    _, alerts = _run(lines, {"config": AlertConfig(include_warn=True)})
    assert [a["kind"] for a in alerts] == ["live_failure", "live_summary"]
    assert alerts[0]["nodes"][0]["category"] == "quality"


def test_running_long_needs_enough_history_and_fires_once() -> None:
    lines = [
        line("LogStartLine", 0.0, node_info={"unique_id": STG}, index=1, total=5),
        line("LogStartLine", 0.0, node_info={"unique_id": OTHER}, index=2, total=5),
        line("LogStartLine", 25.0, node_info={"unique_id": RAW}, index=3, total=5),
        line("LogStartLine", 30.0, node_info={"unique_id": FCT}, index=4, total=5),
    ]
    stats = {STG: DurationStats(5.0, 10.0, 7), OTHER: DurationStats(1.0, 2.0, 6)}
    _, alerts = _run(lines, {"stats": stats})
    long = [a for a in alerts if a["kind"] == "live_running_long"]
    assert len(long) == 1
    assert long[0]["node"] == STG and long[0]["elapsed_s"] == 25.0
    assert long[0]["title"] == "stg running long: 25s (p95 10s)"
    summary = alerts[-1]
    assert summary["title"] == "dbt stopped before the build completed (killed?)"
    assert summary["running_long"] == [STG]
