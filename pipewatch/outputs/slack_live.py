"""Slack while a build runs: live alerts in Block Kit, delivered through the outbox from a thread.

`live_message(alert)` renders one record of `pipewatch.live.alerts.AlertPlanner` (`live_failure`,
`live_running_long`, `live_summary`). `LiveSlack` delivers them: `send(alert)` only queues in
memory, so the thread reading dbt's log never waits for Slack or the history store; a sender
thread renders, enqueues the message in the outbox (with a `failure` marker per alerted node, the
marker after-run's suppression reads, so the end-of-run message does not repeat them) and posts
whatever the outbox holds, oldest first (`slack.flush_outbox`: retries, dedup by key, nothing
lost; what is not delivered waits for the next run). Without a history store each message is
posted once, directly.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pipewatch.config import Config
from pipewatch.outputs.delivery import DeliveryPolicy, mask_secrets, post_json
from pipewatch.outputs.escaping import slack_escape
from pipewatch.outputs.slack import KIND_MESSAGE, NotifyReport, flush_outbox, webhook_from
from pipewatch.outputs.slack_message import (
    MAX_TEXT,
    code_span,
    context_block,
    fit_lines,
    header_block,
    section_block,
)
from pipewatch.outputs.slack_plan import FAILURE, failure_fingerprint
from pipewatch.outputs.wording import cut, first_line, short_id

if TYPE_CHECKING:
    from pipewatch.history.store import HistoryStore

#: How long one live message may spend being delivered before it waits in the outbox.
LIVE_BUDGET_S = 20.0
#: Nodes listed per message before "and N more".
SHOW = 10
_ICON = {"error": ":x:", "fail": ":x:", "partial success": ":warning:", "warn": ":warning:"}


def _names(ids: Sequence[str], total: int | None = None) -> str:
    shown = ", ".join(code_span(short_id(i)) for i in ids[:SHOW])
    more = (total if total is not None else len(ids)) - min(len(ids), SHOW)
    return shown + (f" and {more} more" if more > 0 else "")


def _clock(at: object) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(float(at))) if isinstance(at, (int, float)) else "?"


def _node_lines(node: Mapping[str, Any]) -> str:
    uid = str(node.get("node") or "")
    status = str(node.get("status") or "?")
    head = f"{_ICON.get(status, ':x:')} *{slack_escape(short_id(uid))}* {slack_escape(status)}"
    if node.get("category"):
        head += f" · {slack_escape(node['category'])}"
    lines = [head]
    if node.get("message"):
        lines.append("> " + slack_escape(first_line(str(node["message"]), width=300)))
    bits = []
    if node.get("owner"):
        bits.append(f"owner {slack_escape(node['owner'])}")
    if node.get("will_skip_count"):
        bits.append(
            f"dbt will skip {node['will_skip_count']}: {_names(node['will_skip'], node['will_skip_count'])}"
        )
    if node.get("exposures"):
        bits.append(f"exposures at risk: {_names(node['exposures'])}")
    if bits:
        lines.append(" · ".join(bits))
    return "\n".join(lines)


def _where(alert: Mapping[str, Any], project: str | None) -> str:
    inv = alert.get("invocation_id")
    bits = [f"project {slack_escape(project)}" if project else "dbt build"]
    if inv:
        bits.append(f"invocation {code_span(str(inv)[:8])}")
    return " · ".join(bits)


def live_message(
    alert: Mapping[str, Any], *, project: str | None = None, gate: str | None = None
) -> dict[str, Any]:
    """The Block Kit payload for one live alert record; `gate` adds the end verdict to a summary."""
    kind = alert.get("kind")
    title = slack_escape(str(alert.get("title") or kind))
    if kind == "live_failure":
        blocks = [
            header_block(f":rotating_light: {alert.get('title')}"),
            context_block(f"while dbt is still running · {_where(alert, project)}"),
        ]
        blocks += [section_block(_node_lines(n)) for n in list(alert.get("nodes") or [])[:SHOW]]
        risk = [*alert.get("exposures_at_risk", [])]
        if risk:
            owners = ", ".join(slack_escape(o) for o in alert.get("owners_at_risk", []))
            blocks.append(
                context_block(f"At risk: {_names(risk)}" + (f" · owners {owners}" if owners else ""))
            )
        text = f"pipewatch: {title}"
    elif kind == "live_running_long":
        detail = (
            f"*{slack_escape(short_id(str(alert.get('node'))))}* has run {alert.get('elapsed_s', 0):.0f}s; "
            f"its p95 over {alert.get('runs')} runs is {alert.get('p95_s', 0):.0f}s (alert at {alert.get('factor')}x)"
        )
        if alert.get("owner"):
            detail += f" · owner {slack_escape(alert['owner'])}"
        blocks = [section_block(f":hourglass_flowing_sand: {detail}"), context_block(_where(alert, project))]
        text = f"pipewatch: {title}"
    else:
        blocks = _summary_blocks(alert, project, gate)
        text = f"pipewatch: {title}"
    return {"text": cut(text, MAX_TEXT), "blocks": blocks}


def _summary_blocks(alert: Mapping[str, Any], project: str | None, gate: str | None) -> list[dict[str, Any]]:
    icon = ":checkered_flag:" if alert.get("complete") else ":octagonal_sign:"
    counts = ", ".join(f"{slack_escape(k)} {v}" for k, v in dict(alert.get("counts") or {}).items())
    lines = [f"{alert.get('done')}/{alert.get('total')} nodes done" + (f" ({counts})" if counts else "")]
    already = dict(alert.get("already_alerted") or {})
    if already:
        lines.append(f"Already alerted during the run (not repeated): {_names(sorted(already))}")
    if alert.get("not_alerted"):
        lines.append(f"Failed, not alerted before: {_names(list(alert['not_alerted']))}")
    if alert.get("running_long"):
        lines.append(f"Ran long (alerted): {_names(list(alert['running_long']))}")
    if alert.get("exposures_at_risk"):
        lines.append(f"Exposures at risk: {_names(list(alert['exposures_at_risk']))}")
    if gate:
        lines.append(slack_escape(gate))
    blocks = [
        header_block(f"{icon} {alert.get('title')}"),
        section_block(fit_lines(lines)),
        context_block(_where(alert, project)),
    ]
    return blocks


class LiveSlack:
    """Delivers live alerts from a thread of its own; `send` never blocks on the network."""

    def __init__(
        self,
        config: Config,
        store: HistoryStore | None,
        *,
        project: str | None = None,
        policy: DeliveryPolicy | None = None,
        on_sent: Any = None,
    ) -> None:
        """`on_sent(alert, ok)` is called from the sender thread after each delivery try (benchmarks)."""
        self.url = webhook_from(config)  # a missing webhook fails before the build is watched
        self.store = store
        self.project = project
        self.policy = policy
        self.on_sent = on_sent
        self.report = NotifyReport()
        self.alerted: dict[str, str] = {}  # node -> dedup key of the live message naming it
        self._queue: queue.Queue[tuple[Mapping[str, Any], str | None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="pipewatch-slack", daemon=True)
        self._thread.start()

    def send(self, alert: Mapping[str, Any], *, gate: str | None = None) -> None:
        """Queue one alert record for delivery (returns at once)."""
        if alert.get("kind") == "live_failure":
            for uid in alert.get("node_ids") or []:
                self.alerted.setdefault(str(uid), str(alert.get("dedup_key")))
        self._queue.put((alert, gate))

    def close(self, timeout: float = LIVE_BUDGET_S + 5.0) -> NotifyReport:
        """Wait (at most `timeout` s) for what was queued to be tried; the delivery report.

        After it, nothing else writes to the history store from here (after-run may, safely).
        """
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        return self.report

    def deliver_now(self, alert: Mapping[str, Any], *, gate: str | None = None) -> bool:
        """Deliver one alert in the calling thread (the end summary, after `close`)."""
        return self._try([(alert, gate)])

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            # What piled up while the last delivery ran goes out together: one outbox write, one flush.
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            items = [item for item in batch if item is not None]
            if items:
                self._try(items)
            if len(items) != len(batch):
                return

    def _try(self, items: list[tuple[Mapping[str, Any], str | None]]) -> bool:
        keys = [str(alert.get("dedup_key")) for alert, _ in items]
        try:
            self._deliver(items)
        except Exception as exc:  # a delivery problem must not end the watch: it is reported
            for key in keys:
                self.report.failed[key] = mask_secrets(str(exc), self.url)
        sent = set(self.report.sent)
        if self.on_sent is not None:
            for (alert, _), key in zip(items, keys, strict=True):
                self.on_sent(alert, key in sent)
        return all(key in sent for key in keys)

    def _deliver(self, items: list[tuple[Mapping[str, Any], str | None]]) -> None:
        now = time.time()
        if self.store is None:
            for alert, gate in items:
                key = str(alert.get("dedup_key"))
                message = live_message(alert, project=self.project, gate=gate)
                result = post_json(self.url, message, self.policy, budget_s=LIVE_BUDGET_S)
                if result.ok:
                    self.report.sent.append(key)
                else:
                    self.report.failed[key] = mask_secrets(result.error or "not delivered", self.url)
            return
        from pipewatch.history.alerts import NewAlert

        rows: list[NewAlert] = []
        invocation = "unknown"
        for alert, gate in items:
            key = str(alert.get("dedup_key"))
            message = live_message(alert, project=self.project, gate=gate)
            invocation = str(alert.get("invocation_id") or "unknown")
            markers: list[NewAlert] = []
            if alert.get("kind") == "live_failure":
                for node in alert.get("nodes") or []:
                    marker = f"slack:{invocation}:{FAILURE}:{node['node']}"
                    fp = failure_fingerprint(node.get("category"), node.get("message"))
                    markers.append(
                        NewAlert(marker, FAILURE, node["node"], {"fingerprint": fp, "message": key})
                    )
            items_keys = [m.dedup_key for m in markers]
            rows += [NewAlert(key, KIND_MESSAGE, None, {"slack": message, "items": items_keys}), *markers]
        self.store.alerts.enqueue_many(rows, invocation_id=invocation, now=now)
        flush_outbox(self.store, self.url, self.policy, self.report, now, time.monotonic() + LIVE_BUDGET_S)
