"""Live monitoring of a running dbt build (issue 10).

One call follows one dbt invocation to its end::

    from pipewatch.live import watch, median_durations, duration_stats

    with HistoryStore(path).connect() as con:
        history, stats = median_durations(con), duration_stats(con)
    result = watch("-", "target/manifest.json", history=history, stats=stats,
                   on_event=show, on_alert=enqueue, timeout=3600)

Parts, each usable alone: `events` (dbt JSON log lines -> `DbtEvent`), `follow` (stdin or a log
file followed across rotation), `state` (`BuildState`: progress, running nodes, failures and what
they put at risk), `simulate` + `eta` (one list scheduler for the ETA and the thread what-if),
`alerts` (`AlertPlanner`: what to tell Slack, when), `view` (terminal block, CI lines, NDJSON),
`replay` (`python -m pipewatch.live.replay LOG --speed N`), `history` (durations from the store).
"""

from __future__ import annotations

from pipewatch.live.alerts import Alert, AlertConfig, AlertPlanner
from pipewatch.live.eta import Eta, EtaTracker, eta_errors
from pipewatch.live.events import DbtEvent, EventReader, ReaderStats, read_events
from pipewatch.live.follow import Follower
from pipewatch.live.history import DurationStats, duration_stats, median_durations
from pipewatch.live.simulate import DEFAULT_DURATION_S, Simulator, WhatIf, expected_durations
from pipewatch.live.state import BuildState, Change, Failure
from pipewatch.live.watch import LiveUpdate, WatchResult, build_what_if, watch

__all__ = [
    "DEFAULT_DURATION_S",
    "Alert",
    "AlertConfig",
    "AlertPlanner",
    "BuildState",
    "Change",
    "DbtEvent",
    "DurationStats",
    "Eta",
    "EtaTracker",
    "EventReader",
    "Failure",
    "Follower",
    "LiveUpdate",
    "ReaderStats",
    "Simulator",
    "WatchResult",
    "WhatIf",
    "build_what_if",
    "duration_stats",
    "eta_errors",
    "expected_durations",
    "median_durations",
    "read_events",
    "watch",
]
