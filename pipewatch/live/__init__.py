"""Live monitoring of a running dbt build (issue 10).

One call follows one dbt invocation to its end::

    from pipewatch.live.watch import watch
    from pipewatch.live import median_durations, duration_stats

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

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipewatch.live.alerts import Alert, AlertConfig, AlertPlanner
    from pipewatch.live.eta import Eta, EtaTracker, eta_errors
    from pipewatch.live.events import DbtEvent, EventReader, ReaderStats, read_events
    from pipewatch.live.follow import Follower
    from pipewatch.live.history import DurationStats, duration_stats, median_durations
    from pipewatch.live.simulate import DEFAULT_DURATION_S, Simulator, WhatIf, expected_durations
    from pipewatch.live.state import BuildState, Change, Failure
    from pipewatch.live.watch import LiveUpdate, Watcher, WatchResult, build_what_if

# (`watch` the function is imported from `pipewatch.live.watch`: the module shares its name.)
# Resolved lazily (PEP 562): after-run imports `live.simulate` for its what-if, and must not pay
# for DuckDB (`live.history`) or the manifest loader (`live.watch`) by touching the package.
_HOMES = {
    "Alert": "alerts", "AlertConfig": "alerts", "AlertPlanner": "alerts",
    "Eta": "eta", "EtaTracker": "eta", "eta_errors": "eta",
    "DbtEvent": "events", "EventReader": "events", "ReaderStats": "events", "read_events": "events",
    "Follower": "follow",
    "DurationStats": "history", "duration_stats": "history", "median_durations": "history",
    "DEFAULT_DURATION_S": "simulate", "Simulator": "simulate", "WhatIf": "simulate",
    "expected_durations": "simulate",
    "BuildState": "state", "Change": "state", "Failure": "state",
    "LiveUpdate": "watch", "WatchResult": "watch", "Watcher": "watch", "build_what_if": "watch",
}  # fmt: skip

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
    "Watcher",
    "WhatIf",
    "build_what_if",
    "duration_stats",
    "eta_errors",
    "expected_durations",
    "median_durations",
    "read_events",
]


def __getattr__(name: str) -> Any:
    """Import the module that defines `name` on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"pipewatch.live.{home}"), name)
