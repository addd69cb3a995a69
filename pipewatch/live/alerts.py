"""What to alert while a build runs: pure decisions, no delivery.

`AlertPlanner` turns state changes into alert records (plain dicts, ready for a Slack Block Kit
renderer and for `pipewatch.history.alerts.NewAlert(dedup_key, kind, node, payload)`):

* `live_failure`: the first failure (error, fail; warn when asked) of each node. Failures that
  arrive within `window_s` of the first one share one message, and messages leave at most one per
  `min_interval_s`, so a cascade of failing tests is a handful of messages, not a flood. A node is
  never alerted twice.
* `live_running_long`: a node running longer than `long_factor` x its history p95, only for nodes
  with at least `long_min_runs` recorded runs (fewer make the p95 noise).
* `live_summary`: at the end, what failed, naming which alerts already told about it.

Times are the events' times passed in by the caller, never the wall clock, so replays are exact.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipewatch.artifacts.model import AdapterResponse, NodeResult
from pipewatch.live.history import DurationStats
from pipewatch.live.state import BuildState, Change, Failure
from pipewatch.triage import classify_result

Alert = dict[str, Any]
#: Node ids listed in one alert before "and N more" (Slack blocks have size limits).
MAX_LISTED = 20


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """Alert planning knobs; the defaults are the issue's."""

    window_s: float = 2.0  # failures this close to the first of a group share its message
    min_interval_s: float = 1.0  # at most one message per this many seconds (per webhook)
    include_warn: bool = False
    long_factor: float = 2.0
    long_min_runs: int = 7


class AlertPlanner:
    """Decides the alerts of one build from its state changes; feed it `on_changes` and `tick`."""

    def __init__(
        self,
        state: BuildState,
        stats: Mapping[str, DurationStats] | None = None,
        config: AlertConfig | None = None,
    ) -> None:
        """`stats`: per-node history (p95 and run count) for the running-long alert."""
        self.state = state
        self.stats = dict(stats or {})
        self.config = config or AlertConfig()
        self.sent: list[Alert] = []
        self.alerted_nodes: set[str] = set()
        self.long_alerted: set[str] = set()
        self._pending: list[Failure] = []
        self._queue: list[Alert] = []
        self._group_started: float | None = None
        self._last_sent: float | None = None

    # ------------------------------------------------------------------ inputs

    def on_changes(self, changes: Iterable[Change], now: float) -> list[Alert]:
        """Take an event's changes; return the alerts due at `now`."""
        statuses = {"error", "fail", "partial success"} | ({"warn"} if self.config.include_warn else set())
        for change in changes:
            if change.kind == "invocation":
                self._reset()
            elif change.kind == "failed" and change.failure is not None:
                self._note(change.failure, now)
            elif change.kind == "finished" and change.status == "warn" and "warn" in statuses:
                uid = change.unique_id or ""
                self._note(Failure(uid, "warn", None, now, uid.partition(".")[0], None, (), (), ()), now)
        return self.tick(now)

    def _note(self, failure: Failure, now: float) -> None:
        if failure.unique_id in self.alerted_nodes or any(
            f.unique_id == failure.unique_id for f in self._pending
        ):
            return
        if not self._pending:
            self._group_started = now
        self._pending.append(failure)

    def _reset(self) -> None:
        self._pending.clear()
        self._queue.clear()
        self.alerted_nodes.clear()
        self.long_alerted.clear()
        self._group_started = None

    def tick(self, now: float) -> list[Alert]:
        """Alerts due at `now`: a failure group whose window closed, nodes running long; rate-limited."""
        cfg = self.config
        if self._pending and self._group_started is not None and now - self._group_started >= cfg.window_s:
            self._queue.append(self._failure_alert(now))
        self._queue.extend(self._running_long(now))
        return self._release(now)

    def finish(self, now: float) -> list[Alert]:
        """Flush what is pending and add the end summary; everything leaves, the build is over."""
        if self._pending:
            self._queue.append(self._failure_alert(now))
        self._queue.append(self._summary(now))
        out, self._queue = self._queue, []
        self._record(out, now)
        return out

    def _release(self, now: float) -> list[Alert]:
        if not self._queue:
            return []
        if self._last_sent is not None and now - self._last_sent < self.config.min_interval_s:
            return []
        out = [self._queue.pop(0)]
        self._record(out, now)
        return out

    def _record(self, alerts: list[Alert], now: float) -> None:
        for alert in alerts:
            alert["sent_at"] = now
            self.sent.append(alert)
        if alerts:
            self._last_sent = now

    # ------------------------------------------------------------------ records

    def _failure_alert(self, now: float) -> Alert:
        # The state may know more by now (dbt's debug NodeFinished brings the error text after
        # the result line): describe each failure as it stands at send time.
        latest = {f.unique_id: f for f in self.state.failures}
        failures = [latest.get(f.unique_id, f) for f in self._pending]
        self._pending = []
        self._group_started = None
        nodes = [self._describe(f) for f in failures]
        self.alerted_nodes.update(f.unique_id for f in failures)
        will_skip = sorted({u for f in failures for u in f.will_skip})
        exposures = sorted({e for f in failures for e in f.exposures})
        owners = sorted({o for f in failures for o in f.owners})
        ids = [f.unique_id for f in failures]
        title = (
            f"{_short(ids[0])} {failures[0].status}"
            if len(ids) == 1
            else f"{len(ids)} nodes failed: {', '.join(_short(u) for u in ids[:3])}{'…' if len(ids) > 3 else ''}"
        )
        return self._alert(
            "live_failure",
            ids[0] if len(ids) == 1 else None,
            now,
            ids,
            title=title,
            nodes=nodes,
            will_skip=will_skip[:MAX_LISTED],
            will_skip_count=len(will_skip),
            exposures_at_risk=exposures,
            owners_at_risk=owners,
        )

    def _describe(self, failure: Failure) -> dict[str, Any]:
        """One failed node for an alert: status, triage category and evidence, owner, impact."""
        result = NodeResult(
            failure.unique_id, failure.status, failure.message, None, 0.0, None, None, None, None, None,
            AdapterResponse(),
        )  # fmt: skip
        run = self.state.run
        verdict = classify_result(result, run.adapter_type if run is not None else None)
        return {
            "node": failure.unique_id,
            "status": failure.status,
            "resource_type": failure.resource_type,
            "message": failure.message,
            "category": verdict.category if verdict else None,
            "evidence": str(verdict.evidence) if verdict else None,
            "owner": failure.owner,
            "will_skip": list(failure.will_skip[:MAX_LISTED]),
            "will_skip_count": len(failure.will_skip),
            "exposures": list(failure.exposures),
            "owners": list(failure.owners),
            "in_manifest": failure.in_manifest,
        }

    def _running_long(self, now: float) -> list[Alert]:
        cfg = self.config
        out: list[Alert] = []
        for uid, elapsed in self.state.running_now(now):
            stats = self.stats.get(uid)
            if uid in self.long_alerted or stats is None or stats.runs < cfg.long_min_runs:
                continue
            limit = stats.p95_s * cfg.long_factor
            if elapsed > limit:
                self.long_alerted.add(uid)
                node = self.state.nodes.get(uid)
                out.append(
                    self._alert(
                        "live_running_long",
                        uid,
                        now,
                        [uid],
                        title=f"{_short(uid)} running long: {elapsed:.0f}s (p95 {stats.p95_s:.0f}s)",
                        elapsed_s=round(elapsed, 3),
                        p95_s=stats.p95_s,
                        median_s=stats.median_s,
                        runs=stats.runs,
                        factor=cfg.long_factor,
                        owner=node.owner if node is not None else None,
                    )
                )
        return out

    def _summary(self, now: float) -> Alert:
        state = self.state
        alerted = {u: a["dedup_key"] for a in self.sent for u in a["node_ids"] if a["kind"] == "live_failure"}
        for a in self._queue:
            if a["kind"] == "live_failure":
                alerted.update({u: a["dedup_key"] for u in a["node_ids"]})
        failed = [f.unique_id for f in state.failures]
        if not state.complete:
            headline = "dbt stopped before the build completed (killed?)"
        elif failed:
            headline = f"build finished with {len(failed)} failure{'s' if len(failed) != 1 else ''}"
        else:
            headline = "build finished without failures"
        return self._alert(
            "live_summary",
            None,
            now,
            failed,
            title=headline,
            complete=state.complete,
            failures=[self._describe(f) for f in state.failures],  # messages dbt printed late are here
            counts=state.counts(),
            done=state.done,
            total=state.expected_total(),
            already_alerted={u: alerted[u] for u in failed if u in alerted},
            not_alerted=[u for u in failed if u not in alerted],
            running_long=sorted(self.long_alerted),
            previous_alerts=[a["dedup_key"] for a in self.sent],
            skipped=state.counts().get("skipped", 0),
            exposures_at_risk=sorted(state.exposures_at_risk),
            owners_at_risk=sorted(state.owners_at_risk),
        )

    def _alert(self, kind: str, node: str | None, now: float, ids: list[str], **payload: Any) -> Alert:
        invocation = self.state.invocation_id or "unknown"
        digest = hashlib.sha1("\n".join(sorted(ids)).encode()).hexdigest()[:12]
        return {
            "dedup_key": f"live:{invocation}:{kind}:{digest}",
            "kind": kind,
            "node": node,
            "node_ids": ids,
            "invocation_id": self.state.invocation_id,
            "at": now,
            **payload,
        }


def _short(uid: str) -> str:
    """`model.shop.orders` -> `orders` (test ids drop their hash suffix)."""
    parts = uid.split(".")
    if parts[0] == "test" and len(parts) > 3:
        return parts[2]
    return parts[-1]
