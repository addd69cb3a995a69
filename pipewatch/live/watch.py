"""`watch`: follow one dbt invocation to its end; the single call phase 2's commands make.

    result = watch("logs/dbt.log", "target/manifest.json", history=medians, stats=stats,
                   on_event=print_update, on_alert=outbox_enqueue, timeout=3600)

Reads events from `source` (`-`/a binary stream such as dbt's stdout, or a log file followed like
`tail -f`), keeps a `BuildState`, forecasts the end (`EtaTracker`), plans alerts (`AlertPlanner`)
and hands each update and alert to the callbacks. It returns when the invocation completes, the
stream ends (dbt killed: `complete` is False and `notes` says so) or `timeout` passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pipewatch.artifacts import load_manifest
from pipewatch.errors import ArtifactError
from pipewatch.live.alerts import Alert, AlertConfig, AlertPlanner
from pipewatch.live.eta import DEFAULT_THREADS, Eta, EtaTracker
from pipewatch.live.events import DbtEvent, EventReader, ReaderStats
from pipewatch.live.follow import POLL_S, Follower
from pipewatch.live.history import DurationStats
from pipewatch.live.simulate import Simulator, WhatIf, expected_durations
from pipewatch.live.state import BuildState, Change

#: Events kept while the manifest is not there yet, to replay into the state once it is.
_EARLY_EVENTS = 1000


@dataclass(frozen=True, slots=True)
class LiveUpdate:
    """What `on_event` receives for each dbt event: the event, what it changed, the state, the ETA."""

    event: DbtEvent
    changes: list[Change]
    state: BuildState
    eta: Eta | None


@dataclass(slots=True)
class WatchResult:
    """How the watch ended: the final state, whether dbt completed, what was alerted."""

    state: BuildState
    complete: bool
    ended: str  # "completed", "eof" (stream ended early), "timeout"
    alerts: list[Alert]
    reader: ReaderStats
    what_if: WhatIf | None  # the whole build re-planned with its real durations (None without manifest)
    eta_history: list[Eta] = field(default_factory=list)  # one per node result: for accuracy checks
    notes: list[str] = field(default_factory=list)
    rotations: int = 0


class _Session:
    """The moving parts of one watch, wired together."""

    def __init__(
        self,
        manifest_path: Path | None,
        history: Mapping[str, float] | None,
        stats: Mapping[str, DurationStats] | None,
        alert_config: AlertConfig | None,
        selected: list[str] | None,
    ) -> None:
        self.manifest_path = manifest_path
        self.history = history
        self.stats = stats
        self.alert_config = alert_config
        self.selected = selected
        self.notes: list[str] = []
        self.early: list[DbtEvent] = []
        self.manifest_tried = manifest_path is None
        self.eta_history: list[Eta] = []
        self._start(BuildState.from_manifest(None, selected=selected))

    def _start(self, state: BuildState) -> None:
        self.state = state
        self.eta = EtaTracker(state, self.history)
        self.planner = AlertPlanner(state, self.stats, self.alert_config)

    def load_manifest(self) -> None:
        """Load the manifest once dbt has written it; replay the events seen before."""
        self.manifest_tried = True
        path = self.manifest_path
        if path is None or not path.exists():
            self.notes.append(f"no manifest at {path}: progress without lineage, skips or ETA")
            return
        try:
            manifest = load_manifest(path)
        except ArtifactError as exc:
            self.notes.append(f"manifest unusable, watching without it: {exc}")
            return
        self._start(BuildState.from_manifest(manifest, selected=self.selected))
        for event in self.early:
            self.state.apply(event)
        self.early.clear()

    def feed(self, event: DbtEvent) -> tuple[list[Change], Eta | None, list[Alert]]:
        """Fold one event into the state, forecast, and plan alerts; what changed and what is due."""
        if not self.manifest_tried and event.kind in ("concurrency", "node_start", "node_result"):
            self.load_manifest()
        changes = self.state.apply(event)
        if not self.manifest_tried and len(self.early) < _EARLY_EVENTS:
            self.early.append(event)
        now = event.ts if event.ts is not None else (self.state.last_ts or 0.0)
        # Alerts before the forecast: a failure re-runs the simulation, which must not delay them.
        alerts = self.planner.on_changes(changes, now)
        eta = self.eta.update(now) if self.state.graph is not None else None
        if eta is not None and any(c.kind == "finished" for c in changes):
            self.eta_history.append(eta)
        return changes, eta, alerts


class Watcher:
    """One watch in push mode: feed it dbt's lines as they come (`feed_line`), call `idle` when dbt
    is silent, and `finish` at the end. `watch` drives it from a stream or file; `pipewatch run`
    drives it from the thread that reads dbt's pipe."""

    def __init__(
        self,
        manifest_path: str | Path | None = None,
        *,
        history: Mapping[str, float] | None = None,
        stats: Mapping[str, DurationStats] | None = None,
        on_event: Callable[[LiveUpdate], None] | None = None,
        on_alert: Callable[[Alert], None] | None = None,
        alert_config: AlertConfig | None = None,
        selected: list[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """The callbacks and inputs of `watch` (see there)."""
        self.session = _Session(
            Path(manifest_path) if manifest_path is not None else None, history, stats, alert_config, selected
        )
        self.history = history
        self.reader = EventReader()
        self.sent: list[Alert] = []
        self.on_event = on_event
        self.on_alert = on_alert
        self.clock = clock
        self._seen_at = clock()  # when the last event arrived, on `clock`

    @property
    def state(self) -> BuildState:
        """The build as known so far."""
        return self.session.state

    def _emit(self, alerts: list[Alert]) -> None:
        """Record each alert and hand it to `on_alert`."""
        for alert in alerts:
            self.sent.append(alert)
            if self.on_alert is not None:
                self.on_alert(alert)

    def feed_line(self, line: bytes) -> DbtEvent | None:
        """Take one line of dbt's log; the event it held (None: not an event, or broken)."""
        event = self.reader.feed(line)
        if event is None:
            return None
        self._seen_at = self.clock()
        changes, eta, alerts = self.session.feed(event)
        if self.on_event is not None:
            self.on_event(LiveUpdate(event, changes, self.session.state, eta))
        self._emit(alerts)
        return event

    def idle(self) -> None:
        """Nothing new from dbt: let the alert timers run on the build's clock, extrapolated."""
        last = self.session.state.last_ts
        if last is not None and not self.session.state.complete:
            self._emit(self.session.planner.tick(last + self.clock() - self._seen_at))

    def now(self) -> float | None:
        """The build's clock now (the last event's time plus the time since), None before any event."""
        last = self.session.state.last_ts
        return None if last is None else last + self.clock() - self._seen_at

    def finish(self, ended: str | None = None, rotations: int = 0) -> WatchResult:
        """Flush pending alerts, add the end summary, and say how the watch ended.

        `ended`: why the lines stopped when dbt did not complete (`eof`, `timeout`, `interrupted`).
        """
        session = self.session
        state = session.state
        self._emit(session.planner.finish(state.last_ts or 0.0))
        how = "completed" if state.complete else (ended if ended and ended != "stopped" else "eof")
        if not state.complete:
            where = f"invocation {state.invocation_id}" if state.invocation_id else "no dbt invocation seen"
            why = {
                "timeout": "timed out waiting",
                "interrupted": "interrupted before the build completed",
            }.get(how, "dbt's log ended before the build completed (dbt was killed or crashed?)")
            session.notes.append(f"{why}: {where}, {state.done}/{state.expected_total()} nodes done")
        if state.superseded:
            session.notes.append(f"invocations replaced before completing: {', '.join(state.superseded)}")
        if state.unknown_events:
            session.notes.append(
                f"{state.unknown_events} events for {len(state.unknown_nodes)} nodes the manifest lacks"
            )
        return WatchResult(
            state=state,
            complete=state.complete,
            ended=how,
            alerts=self.sent,
            reader=self.reader.stats,
            what_if=build_what_if(state, self.history),
            eta_history=session.eta_history,
            notes=session.notes,
            rotations=rotations,
        )


def watch(
    source: str | Path | BinaryIO,
    manifest_path: str | Path | None = None,
    *,
    history: Mapping[str, float] | None = None,
    stats: Mapping[str, DurationStats] | None = None,
    on_event: Callable[[LiveUpdate], None] | None = None,
    on_alert: Callable[[Alert], None] | None = None,
    timeout: float | None = None,
    alert_config: AlertConfig | None = None,
    selected: list[str] | None = None,
    poll_s: float = POLL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    from_newest: bool = True,
) -> WatchResult:
    """Follow one dbt invocation from `source` until it completes, the stream ends, or `timeout`.

    `history`: unique id -> median seconds (`live.history.median_durations`) for the ETA;
    `stats`: per-node p95 and run counts (`live.history.duration_stats`) for running-long alerts;
    `selected`: the nodes the build runs, when known (else guessed from the manifest and dbt's total).
    `on_event` gets a `LiveUpdate` per dbt event; `on_alert` gets each alert record as it is due.
    A KeyboardInterrupt ends the watch like the end of the stream, with `ended == "interrupted"`.
    """
    watcher = Watcher(
        manifest_path,
        history=history,
        stats=stats,
        on_event=on_event,
        on_alert=on_alert,
        alert_config=alert_config,
        selected=selected,
        clock=clock,
    )
    return follow_into(
        watcher, source, timeout=timeout, poll_s=poll_s, clock=clock, sleep=sleep, from_newest=from_newest
    )


def follow_into(
    watcher: Watcher,
    source: str | Path | BinaryIO,
    *,
    timeout: float | None = None,
    poll_s: float = POLL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    from_newest: bool = True,
    idle: Callable[[], None] | None = None,
) -> WatchResult:
    """Feed `watcher` the lines of `source` (a stream, or a file followed like `tail -f`) until the
    invocation completes, the stream ends, `timeout` passes or a KeyboardInterrupt (`ended ==
    "interrupted"`); `idle` (default `watcher.idle`) runs while the source is silent."""
    follower = Follower(
        source,
        timeout=timeout,
        poll_s=poll_s,
        stop=lambda: watcher.state.complete,
        clock=clock,
        sleep=sleep,
        idle=idle or watcher.idle,
        from_newest=from_newest,
    )
    ended: str | None = None
    try:
        for line in follower:
            watcher.feed_line(line)
    except KeyboardInterrupt:
        ended = "interrupted"
    return watcher.finish(ended or follower.ended, follower.rotations)


def build_what_if(state: BuildState, history: Mapping[str, float] | None = None) -> WhatIf | None:
    """The whole build re-planned at other thread counts: real durations where nodes ran, history
    (or the defaults) for the rest. For after-run's what-if section."""
    if state.graph is None:
        return None
    known = dict(history or {})
    known.update(state.durations)
    durations = expected_durations(state.graph, state.selected | set(state.status), known)
    return Simulator(state.graph, durations).what_if(state.threads or DEFAULT_THREADS)
