"""The live view: terminal block, CI lines, NDJSON, and text made safe for a terminal."""

from __future__ import annotations

import json

from pipewatch.live.eta import EtaTracker
from pipewatch.live.events import read_events
from pipewatch.live.state import BuildState
from pipewatch.live.view import (
    alert_record,
    clean,
    event_line,
    finished_record,
    progress_record,
    redraw,
    render_block,
)
from tests.test_live_support import DURATIONS, OTHER, STG, line, small_log, small_manifest

HOSTILE = "boom\x1b[2J\x1b]0;pwned\x07 in \x1b[31mred\x1b[0m\r\nnext\x00line\x9b"


def test_clean_strips_escape_sequences_and_control_characters() -> None:
    assert clean(HOSTILE) == "boom in red nextline"
    assert clean("x" * 400, limit=10) == "x" * 9 + "…"


def _state_with_error() -> tuple[BuildState, EtaTracker]:
    state = BuildState.from_manifest(small_manifest())
    tracker = EtaTracker(state, DURATIONS)
    for event in read_events(small_log(statuses={STG: "error"}, skipped=())[:-2]):
        state.apply(event)
    return state, tracker


def test_block_shows_progress_running_eta_and_failures() -> None:
    lines = [
        line("ConcurrencyLine", 0.0, num_threads=2, node_count=5),
        line("LogStartLine", 0.0, node_info={"unique_id": OTHER}, index=1, total=5),
        line("LogStartLine", 0.0, node_info={"unique_id": STG}, index=2, total=5),
        line("LogModelResult", 3.0, node_info={"unique_id": STG, "node_status": "error"}),
        line("RunResultError", 3.0, node_info={"unique_id": STG}, msg=HOSTILE),
    ]
    state = BuildState.from_manifest(small_manifest())
    tracker = EtaTracker(state, DURATIONS)
    for event in read_events(lines):
        state.apply(event)
    eta = tracker.update(4.0)
    block = render_block(state, eta, 4.0)
    assert (
        block[0] == "1/5 done (error 1) · 1 running · ETA 2.0s"
    )  # other needs 1 s more, raw 2 s on the free thread
    assert block[1] == "  running other 4.0s"
    assert block[2] == "  ERROR stg: boom in red nextline"
    assert block[3] == "  dbt will skip 2 nodes downstream of failures"
    assert all("\x1b" not in row for row in block)
    assert redraw(block, 3).startswith("\x1b[3F\x1b[2K1/5 done")


def test_event_lines_and_ndjson() -> None:
    state = BuildState.from_manifest(small_manifest())
    tracker = EtaTracker(state, DURATIONS)
    printed: list[str] = []
    records: list[dict[str, object]] = []
    for event in read_events(
        small_log(statuses={STG: "error"}, skipped=("test.shop.not_null_stg_id.abc123", "model.shop.fct"))
    ):
        changes = state.apply(event)
        eta = tracker.update(event.ts or 0.0)
        for change in changes:
            text = event_line(change, state, eta)
            if text:
                printed.append(text)
            if change.kind == "finished":
                records.append(json.loads(finished_record(change, state)))
    assert "[1/5] SUCCESS raw in 2.0s · ETA 8.0s" in printed
    assert any(
        p.startswith("FAILED model.shop.stg (error); dbt will skip 2; exposures at risk: dash")
        for p in printed
    )
    assert printed[-1] == "dbt finished: 5/5 done (error 1, skipped 2, success 2) · 0 running · complete"
    assert records[0] == {
        "event": "node_finished",
        "node": "seed.shop.raw",
        "status": "success",
        "execution_time": 2.0,
        "done": 1,
        "total": 5,
    }
    progress = json.loads(progress_record(state, tracker.update(100.0), 100.0))
    assert progress["event"] == "progress" and progress["complete"] is True and progress["eta_s"] == 0.0


def test_alert_ndjson_carries_the_planned_record() -> None:
    record = json.loads(alert_record({"kind": "live_failure", "node": STG, "title": "stg error", "at": 3.0}))
    assert record == {"event": "alert", "kind": "live_failure", "node": STG, "title": "stg error", "at": 3.0}
