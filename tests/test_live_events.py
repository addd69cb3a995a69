"""The event reader: recorded dbt 1.11 output, lines of older dbt, and lines that are not events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipewatch.live.events import EventReader, read_events

RECORDED = Path(__file__).parent / "data" / "live" / "example_build.ndjson"


def test_recorded_build_reads_every_line_as_an_event() -> None:
    reader = EventReader()
    events = read_events(RECORDED.read_bytes().splitlines(), reader)
    assert reader.stats.lines == reader.stats.events == len(events) == 145
    assert reader.stats.plain_text == reader.stats.broken == 0
    kinds = {e.kind for e in events}
    assert {"invocation_start", "concurrency", "node_start", "node_result", "command_done"} <= kinds
    concurrency = next(e for e in events if e.kind == "concurrency")
    assert (concurrency.threads, concurrency.total) == (4, 71)
    assert len({e.invocation_id for e in events}) == 1


def test_result_statuses_are_normalized() -> None:
    events = read_events(RECORDED.read_bytes().splitlines())
    by_name = {(e.name, e.status) for e in events if e.kind == "node_result"}
    assert ("LogModelResult", "success") in by_name  # dbt prints "OK"
    assert ("LogModelResult", "error") in by_name
    assert ("LogTestResult", "fail") in by_name
    assert ("SkippingDetails", "skipped") in by_name
    assert ("LogNodeNoOpResult", "no-op") in by_name
    failed = next(e for e in events if e.status == "fail")
    assert failed.message == "Got 1 result"
    error_text = next(e for e in events if e.name == "RunResultError")
    assert error_text.unique_id == "model.shop.stg_payments"
    assert error_text.message and "Conversion Error" in error_text.message


def test_plain_text_and_broken_lines_are_counted_and_skipped() -> None:
    good = RECORDED.read_bytes().splitlines()[0]
    lines = [
        b"",
        b"============================== 20:50:16.487538 | b48bec92 ==============",
        good[: len(good) // 2],  # cut off mid-line by a crash
        good,
        b'{"info": 3}',  # JSON, but not an event
        b"17:00:01  Running with dbt=1.5.0",
    ]
    reader = EventReader()
    events = read_events(lines, reader)
    assert len(events) == 1
    assert (reader.stats.plain_text, reader.stats.broken, reader.stats.events) == (3, 2, 1)


def test_unknown_events_and_fields_pass() -> None:
    line = {
        "info": {
            "name": "SomethingNewInDbt2",
            "level": "info",
            "ts": "2026-01-01T00:00:00Z",
            "invocation_id": "i",
        },
        "data": {"brand_new": {"nested": [1, 2]}, "index": "not a number"},
        "extra_top_level": True,
    }
    (event,) = read_events([json.dumps(line)])
    assert event.kind == "other" and event.index is None
    assert event.ts == 1767225600.0


def _raw(name: str, ts: str, level: str = "info", **data: Any) -> dict[str, Any]:
    """A log line as dbt writes it, before encoding (so a test can vary it)."""
    return {"info": {"name": name, "level": level, "ts": ts, "invocation_id": "i"}, "data": data}


def test_older_dbt_result_without_node_status_uses_the_printed_word() -> None:
    # dbt 1.5 printed the status word in `data.status` and left node_status at "started" on some events.
    line = _raw(
        "LogModelResult",
        "2023-05-01T10:00:02.5Z",
        status="OK",
        index=2,
        total=9,
        execution_time=1.5,
        node_info={"unique_id": "model.p.m", "resource_type": "model", "node_status": "started"},
    )
    (event,) = read_events([json.dumps(line).encode()])
    assert (event.kind, event.status, event.index, event.total, event.execution_time) == (
        "node_result",
        "success",
        2,
        9,
        1.5,
    )
    seed = dict(line, data=dict(line["data"], status="INSERT 12", node_info={"unique_id": "seed.p.s"}))
    (event,) = read_events([json.dumps(seed).encode()])
    assert event.status == "success"


def test_debug_node_finished_carries_the_error_message() -> None:
    line = _raw(
        "NodeFinished",
        "2026-01-01T00:00:00Z",
        "debug",
        node_info={"unique_id": "model.p.m", "node_status": "error"},
        run_result={"status": "error", "message": "Database Error: boom", "execution_time": 0.5},
    )
    (event,) = read_events([json.dumps(line)])
    assert (event.status, event.message, event.execution_time) == ("error", "Database Error: boom", 0.5)
