"""The live view of a build: a block redrawn in place, one line per event, or NDJSON.

* `render_block` - for a terminal: done/total by status, the nodes running now with elapsed time,
  the ETA and the failures; `redraw` wraps it in the cursor moves that overwrite the last block.
* `event_line` - one plain line per change, for CI logs and other non-terminals.
* `json_record` - pipewatch's own events (`node_finished`, `alert`, `progress`) as NDJSON lines.

Whatever dbt or the warehouse wrote (messages, node names) goes through `clean` before it reaches
a terminal: an error message can carry escape sequences that would move the cursor, retitle the
window or hide text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pipewatch.live.eta import Eta
from pipewatch.live.state import BuildState, Change

# C0 and C1 controls and DEL (tab and newline handled separately); ESC starts every terminal sequence.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
#: Running nodes and failures shown in the block before "... and N more".
SHOW = 8


def clean(text: object, *, one_line: bool = True, limit: int = 300) -> str:
    """Text safe for a terminal: escape sequences and control characters removed, shortened."""
    value = _CONTROL.sub("", _ANSI.sub("", str(text if text is not None else "")).replace("\t", " "))
    if one_line:
        value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def duration(seconds: float | None) -> str:
    """`4.2s`, `3m05s`, `1h02m`; `?` when unknown."""
    if seconds is None:
        return "?"
    s = max(seconds, 0.0)
    if s < 60:
        return f"{s:.1f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


def _short(uid: str) -> str:
    parts = uid.split(".")
    return parts[2] if parts[0] == "test" and len(parts) > 3 else parts[-1]


def progress_line(state: BuildState, eta: Eta | None) -> str:
    """`42/71 done (success 15, pass 20, ...) · 3 running · ETA 12.0s`."""
    counts = ", ".join(f"{k} {v}" for k, v in state.counts().items())
    line = f"{state.done}/{state.expected_total()} done"
    if counts:
        line += f" ({counts})"
    line += f" · {len(state.running)} running"
    if state.complete:
        line += " · complete"
    elif eta is not None:
        line += f" · ETA {duration(eta.remaining_s)}"
    return line


def render_block(state: BuildState, eta: Eta | None, now: float, *, width: int = 100) -> list[str]:
    """The terminal block: progress, running nodes (longest first), failures, predicted skips."""
    lines = [clean(progress_line(state, eta), limit=width)]
    running = state.running_now(now)
    for uid, elapsed in running[:SHOW]:
        lines.append("  " + clean(f"running {_short(uid)} {duration(elapsed)}", limit=width - 2))
    if len(running) > SHOW:
        lines.append(f"  ... and {len(running) - SHOW} more running")
    for f in state.failures[-SHOW:]:
        msg = f": {f.message}" if f.message else ""
        lines.append("  " + clean(f"{f.status.upper()} {_short(f.unique_id)}{msg}", limit=width - 2))
    if len(state.failures) > SHOW:
        lines.append(f"  ... {len(state.failures) - SHOW} earlier failures")
    if state.will_skip:
        lines.append(f"  dbt will skip {len(state.will_skip)} nodes downstream of failures")
    return lines


def redraw(lines: list[str], previous_height: int) -> str:
    """The text that replaces the previous block (`previous_height` lines) with `lines`."""
    up = f"\x1b[{previous_height}F" if previous_height else ""
    return up + "".join(f"\x1b[2K{line}\n" for line in lines) + "\x1b[J"


def event_line(change: Change, state: BuildState, eta: Eta | None) -> str | None:
    """One line for a CI log, or None for changes not worth a line."""
    done = f"[{state.done}/{state.expected_total()}]"
    if change.kind == "started" and change.unique_id:
        return clean(f"{done} START {_short(change.unique_id)}")
    if change.kind == "finished" and change.unique_id:
        tail = f" · ETA {duration(eta.remaining_s)}" if eta is not None and not state.complete else ""
        secs = state.durations.get(change.unique_id)
        took = f" in {duration(secs)}" if secs is not None else ""
        return clean(f"{done} {(change.status or '?').upper()} {_short(change.unique_id)}{took}{tail}")
    if change.kind in ("failed", "message") and change.failure is not None:
        f = change.failure
        skip = f"; dbt will skip {len(f.will_skip)}" if f.will_skip else ""
        at_risk = f"; exposures at risk: {', '.join(map(_short, f.exposures))}" if f.exposures else ""
        msg = f": {f.message}" if f.message else ""
        return clean(f"FAILED {f.unique_id} ({f.status}){msg}{skip}{at_risk}", limit=500)
    if change.kind == "completed":
        return clean(f"dbt finished: {progress_line(state, eta)}")
    return None


def json_record(event: str, /, **fields: Any) -> str:
    """One NDJSON line of pipewatch's own events: `{"event": event, ...}`."""
    return json.dumps({**fields, "event": event}, sort_keys=True, default=str)


def progress_record(state: BuildState, eta: Eta | None, now: float) -> str:
    """The `progress` NDJSON line: counts, running, ETA."""
    return json_record(
        "progress",
        at=now,
        done=state.done,
        total=state.expected_total(),
        counts=state.counts(),
        running=[{"node": u, "elapsed_s": round(e, 3)} for u, e in state.running_now(now)],
        eta_s=None if eta is None else round(eta.remaining_s, 3),
        complete=state.complete,
    )


def finished_record(change: Change, state: BuildState) -> str:
    """The `node_finished` NDJSON line for a `finished` change."""
    uid = change.unique_id or ""
    return json_record(
        "node_finished",
        node=uid,
        status=change.status,
        execution_time=state.durations.get(uid),
        done=state.done,
        total=state.expected_total(),
    )


def alert_record(alert: Mapping[str, Any]) -> str:
    """The `alert` NDJSON line: the alert record as planned (kind, nodes, triage, impact)."""
    return json_record("alert", **{k: v for k, v in alert.items() if k != "event"})
