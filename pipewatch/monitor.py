"""Live monitoring wired to the rest of pipewatch: used by `pipewatch watch` and `pipewatch run`.

`Monitor` owns one watched build: the `live.watch.Watcher` (state, ETA, alert planning), the view
(`LiveDisplay`: a block redrawn in place on a terminal, one line per event otherwise, NDJSON, or
dbt's own lines), and Slack (`outputs.slack_live.LiveSlack`, a sender thread). When the build is
over, `Monitor.conclude` does what after-run does (`after_run.after_run`: analysis, gate, history
once per invocation id, the Slack message naming what was already sent, report) on the artifacts of
the watched invocation, then posts the live summary. A build that did not complete, or whose
run_results.json belongs to another invocation, is said plainly and fails the gate: pipewatch does
not judge a build it did not see end.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pipewatch.after_run import AfterRunOptions, AfterRunResult, after_run
from pipewatch.artifacts.run import RUN_RESULTS_FILE
from pipewatch.config import Config
from pipewatch.live.alerts import Alert, AlertConfig
from pipewatch.live.view import (
    alert_record,
    clean,
    event_line,
    finished_record,
    json_record,
    progress_line,
    progress_record,
    redraw,
    render_block,
)
from pipewatch.live.watch import LiveUpdate, Watcher, WatchResult, follow_into

#: Views: `block` (redrawn in place), `lines` (one per event), `json` (NDJSON), `dbt` (dbt's own
#: text, decoded from its JSON log), `off`.
VIEWS = ("block", "lines", "json", "dbt", "off")
#: The block is redrawn at most this often, the NDJSON `progress` record written at most this often.
REDRAW_S = 0.25
PROGRESS_S = 1.0
#: Live alerts group failures this close together: short enough that the first failure reaches
#: Slack within 2 s of its log line (the window, one poll, one POST).
LIVE_WINDOW_S = 1.0
_INVOCATION = re.compile(rb'"invocation_id"\s*:\s*"([^"]+)"')


class LiveDisplay:
    """Writes the live view of a build to `out` (see `VIEWS`)."""

    def __init__(self, view: str, out: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        """`view` is one of `VIEWS`."""
        self.view = view
        self.out = out
        self.clock = clock
        self._height = 0
        self._drawn_at = float("-inf")
        self._progress_at = float("-inf")
        self._last: LiveUpdate | None = None

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def on_event(self, update: LiveUpdate) -> None:
        """Show one dbt event."""
        self._last = update
        view, state, eta = self.view, update.state, update.eta
        if view == "dbt":
            if update.event.msg:
                self._write(clean(update.event.msg, one_line=False, limit=4000).rstrip("\n") + "\n")
        elif view == "lines":
            for change in update.changes:
                line = event_line(change, state, eta)
                if line:
                    self._write(line + "\n")
        elif view == "json":
            now = update.event.ts or 0.0
            for change in update.changes:
                if change.kind == "finished":
                    self._write(finished_record(change, state) + "\n")
            if self.clock() - self._progress_at >= PROGRESS_S or state.complete:
                self._progress_at = self.clock()
                self._write(progress_record(state, eta, now) + "\n")
        elif view == "block":
            self.tick(update.event.ts, force=any(c.kind in ("failed", "completed") for c in update.changes))

    def tick(self, now: float | None, *, force: bool = False) -> None:
        """Redraw the block (elapsed times move while dbt is silent), at most every `REDRAW_S`."""
        if self.view != "block" or self._last is None or now is None:
            return
        if not force and self.clock() - self._drawn_at < REDRAW_S:
            return
        self._drawn_at = self.clock()
        width = max(shutil.get_terminal_size((100, 24)).columns - 1, 40)
        lines = render_block(self._last.state, self._last.eta, now, width=width)
        self._write(redraw(lines, self._height))
        self._height = len(lines)

    def release(self) -> None:
        """Leave the block where it is: other output follows it, the next draw starts below."""
        self._height = 0

    def on_alert(self, alert: Alert) -> None:
        """Show an alert as it is planned (NDJSON only: the other views show the failure itself)."""
        if self.view == "json":
            self._write(alert_record(alert) + "\n")

    def record(self, event: str, **fields: Any) -> None:
        """One more NDJSON record of pipewatch's own (json view only)."""
        if self.view == "json":
            self._write(json_record(event, **fields) + "\n")


@dataclass(slots=True)
class Concluded:
    """How a monitored build ended for pipewatch: the exit code and what to tell the person."""

    exit_code: int
    result: AfterRunResult | None  # after-run's, when the build completed and its artifacts match
    notes: list[str] = field(default_factory=list)


class Monitor:
    """One watched dbt build: watcher, view and Slack together. See the module doc."""

    def __init__(
        self,
        *,
        target_dir: Path,
        config: Config,
        history: Path | None,
        display: LiveDisplay,
        slack: bool = False,
        slack_policy: Any = None,
    ) -> None:
        """`history`: the store to read durations from and record into (None: no history)."""
        self.target_dir = target_dir
        self.config = config
        self.history_path = history
        self.display = display
        self.notes: list[str] = []
        medians, stats = self._durations()
        self.slack: Any = None
        if slack:
            from pipewatch.outputs.slack_live import LiveSlack

            store = None
            if history is not None:
                from pipewatch.history import HistoryStore

                store = HistoryStore(history)
            self.slack = LiveSlack(config, store, policy=slack_policy)
        self.watcher = Watcher(
            target_dir / "manifest.json",
            history=medians,
            stats=stats,
            on_event=display.on_event,
            on_alert=self._on_alert,
            alert_config=AlertConfig(window_s=LIVE_WINDOW_S),
        )

    def _durations(self) -> tuple[dict[str, float] | None, dict[str, Any] | None]:
        """Per-node medians and p95s from the history store, when there is one."""
        path = self.history_path
        if path is None or not path.is_file():
            return None, None
        from pipewatch.errors import PipewatchError
        from pipewatch.history import HistoryStore
        from pipewatch.live.history import duration_stats

        try:
            with HistoryStore(path).connect(create=False) as con:
                stats = duration_stats(con)
        except (PipewatchError, OSError) as exc:
            self.notes.append(f"history durations unavailable (ETA from defaults): {exc}")
            return None, None
        return {u: s.median_s for u, s in stats.items()}, stats

    def _on_alert(self, alert: Alert) -> None:
        self.display.on_alert(alert)
        if self.slack is not None and alert.get("kind") != "live_summary":
            self.slack.send(alert)

    def feed(self, line: bytes) -> None:
        """One line of dbt's log."""
        self.watcher.feed_line(line)

    def idle(self) -> None:
        """dbt is silent: run the alert timers and redraw the elapsed times."""
        self.watcher.idle()
        self.display.tick(self.watcher.now())

    def follow(self, source: str | Path, timeout: float | None = None) -> WatchResult:
        """Watch `source` (`-` or a log file) to the end of the invocation (see `live.watch.follow_into`)."""
        result = follow_into(self.watcher, source, timeout=timeout, idle=self.idle)
        self._final_draw()
        return result

    def _final_draw(self) -> None:
        if not self.watcher.state.complete:  # the completing event drew the final block already
            self.display.tick(self.watcher.state.last_ts, force=True)
        self.display.release()

    def finish(self, ended: str | None = None, rotations: int = 0) -> WatchResult:
        """The watch is over (see `Watcher.finish`)."""
        result = self.watcher.finish(ended, rotations)
        self._final_draw()
        return result

    def conclude(self, result: WatchResult, *, run_after_run: bool = True) -> Concluded:
        """Do what after-run does for the watched invocation, then post the live summary to Slack.

        Exit codes are after-run's: 0 gate passed, 1 gate failed (also: the build did not complete,
        or the artifacts belong to another invocation), 2/3 raised as errors by after-run.
        """
        summary = next((a for a in reversed(result.alerts) if a.get("kind") == "live_summary"), None)
        notes = [*self.notes, *result.notes]
        concluded = Concluded(1, None, notes)
        live_sent: tuple[str, ...] = ()
        if self.slack is not None:
            self.slack.close()  # live alerts delivered (or queued) before after-run reads the outbox
            live_sent = tuple(sorted(self.slack.alerted))
        if not result.complete:
            notes.append("gate failed: the build did not complete, so pipewatch cannot vouch for it")
        elif run_after_run:
            mismatch = _artifacts_mismatch(self.target_dir, result.state.invocation_id)
            if mismatch:
                notes.append(f"gate failed: {mismatch}")
            else:
                options = AfterRunOptions(
                    target_dir=self.target_dir,
                    config=self.config,
                    history=self.history_path,
                    slack=self.slack is not None,
                    slack_already_sent=live_sent,
                )
                done = after_run(options)
                concluded.result = done
                concluded.exit_code = 0 if done.outcome.gate.passed else 1
        if self.slack is not None:
            if summary is not None:
                self.slack.deliver_now(summary, gate=_gate_line(concluded))
            notes.append(f"slack (live): {self.slack.report.summary()}")
        return concluded


def _gate_line(concluded: Concluded) -> str:
    if concluded.result is None:
        return "Gate failed: " + (concluded.notes[-1] if concluded.notes else "the build was not seen to end")
    gate = concluded.result.outcome.gate
    return "Gate passed" if gate.passed else "Gate failed: " + "; ".join(gate.reasons[:3])


def _artifacts_mismatch(target_dir: Path, invocation: str | None) -> str | None:
    """Why the target dir's run_results.json cannot stand for the watched invocation, or None."""
    path = target_dir / RUN_RESULTS_FILE
    try:
        with path.open("rb") as handle:
            head = handle.read(8192)
    except OSError:
        return f"{path}: not found; dbt writes it when the build ends (was it run in another directory?)"
    found = _INVOCATION.search(head)
    written = found.group(1).decode("utf-8", "replace") if found else None
    if invocation and written != invocation:
        return f"{path} is from invocation {written or '?'}, not the watched {invocation}"
    return None


def summary_lines(result: WatchResult) -> list[str]:
    """What the watch saw, for the person: progress, failures, what the reader skipped, notes."""
    state = result.state
    lines = [f"pipewatch: {progress_line(state, None)}"]
    for f in state.failures:
        lines.append(clean(f"pipewatch: {f.status.upper()} {f.unique_id}"))
    stats = result.reader
    if stats.broken or stats.plain_text:
        lines.append(
            f"pipewatch: skipped {stats.broken} broken and {stats.plain_text} non-JSON lines of dbt's log"
        )
    if not stats.events:
        lines.append("pipewatch: no dbt JSON log event seen (was dbt run with --log-format json?)")
    return lines


def ndjson_outcome(concluded: Concluded) -> str:
    """The closing NDJSON record: the after-run outcome (or null) and the exit code."""
    outcome: Any = None
    if concluded.result is not None:
        from pipewatch.outputs.json_output import outcome_dict

        outcome = outcome_dict(concluded.result.outcome)
    return json_record("outcome", exit_code=concluded.exit_code, outcome=outcome, notes=concluded.notes)
