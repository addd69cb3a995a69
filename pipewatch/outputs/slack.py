"""Slack alerts for an after-run, delivered through the history outbox until Slack has them.

`notify(outcome, config, store)` is the one call. It

1. delivers what earlier runs left in the outbox (oldest first), so nothing is lost to a Slack outage;
2. plans this run's alert (`slack_plan`): every failure, failing check and anomaly, minus what was
   already announced unchanged within `alert_suppression` (default 24h) and is still open;
3. queues the message (`slack_message` builds it) in the outbox (one row per message, plus one marker
   row per announced item, which is what suppression reads next time) and delivers it;
4. the same for one short "resolved" message naming alerted failures that pass again.

Dedup keys carry the dbt invocation id, so running after-run twice on the same artifacts never sends a
message twice. Without a history store (history off) the message is sent once, with no suppression.
Delivery is bounded: each request by `DeliveryPolicy.request_s`, the whole step by `budget_s`; what
is not delivered in time stays queued. A message Slack refuses (a 4xx other than 429, e.g.
`invalid_payload`) is kept in the outbox as rejected and not posted again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipewatch.analysis import Outcome
from pipewatch.config import Config
from pipewatch.errors import ConfigError
from pipewatch.outputs.delivery import (
    DeliveryPolicy,
    DeliveryResult,
    check_webhook_url,
    mask_secrets,
    post_json,
)
from pipewatch.outputs.escaping import one_line
from pipewatch.outputs.slack_message import (
    alerted_checks,
    build_alert_message,
    build_resolved_message,
    late_note,
)
from pipewatch.outputs.slack_plan import MAX_ATTEMPTS, AlertItem, plan_alerts, read_prior_alerts

if TYPE_CHECKING:
    from pipewatch.history.store import HistoryStore

#: The outbox kind of a whole Slack message (its items' markers have kinds of their own).
KIND_MESSAGE = "slack_message"
#: How long one after-run spends delivering at most (seconds); the rest waits for the next run.
DELIVERY_BUDGET_S = 60.0


@dataclass(slots=True)
class NotifyReport:
    """What one `notify` call did: delivered, failed (kept in the outbox), held back, resolved."""

    sent: list[str] = field(default_factory=list)  # dedup keys of messages Slack accepted
    failed: dict[str, str] = field(default_factory=dict)  # dedup key -> why (webhook URL masked)
    rejected: dict[str, str] = field(default_factory=dict)  # refused for good (4xx): kept, not retried
    deferred: list[str] = field(default_factory=list)  # left queued untried (after a failure, or out of time)
    queued: list[str] = field(default_factory=list)  # messages this run added to the outbox
    alerted: list[str] = field(default_factory=list)  # items this run's message announces
    suppressed: list[str] = field(default_factory=list)  # items held back (announced, unchanged)
    resolved: list[str] = field(default_factory=list)  # nodes/checks announced as passing again

    @property
    def ok(self) -> bool:
        """True when every message tried was delivered."""
        return not self.failed and not self.deferred and not self.rejected

    def summary(self) -> str:
        """One terminal-safe line for the caller to print after its own `slack:` label."""
        parts = [f"{len(self.sent)} message(s) sent"]
        if self.suppressed:
            parts.append(f"{len(self.suppressed)} unchanged failure(s) not re-alerted")
        if self.resolved:
            parts.append(f"{len(self.resolved)} resolved")
        if self.failed or self.deferred:
            parts.append(f"{len(self.failed) + len(self.deferred)} kept in the outbox for the next run")
        if self.rejected:
            parts.append(f"{len(self.rejected)} refused by Slack, kept in the outbox and not retried")
        errors = [*self.failed.values(), *self.rejected.values()]
        if errors:
            parts.append("last error: " + errors[-1])
        # Server answers are quoted here, and the line goes to a terminal.
        return one_line("; ".join(parts))


def _digest(keys: Iterable[str]) -> str:
    return hashlib.sha1("\n".join(sorted(keys)).encode("utf-8"), usedforsecurity=False).hexdigest()[:12]


def _marker_key(invocation: str, item: AlertItem) -> str:
    return f"slack:{invocation}:{item.kind}:{item.node}"


def webhook_from(config: Config) -> str:
    """The configured webhook URL, checked; ConfigError saying where to set it when there is none."""
    if not config.slack_webhook:
        raise ConfigError(
            "no Slack webhook configured: set PIPEWATCH_SLACK_WEBHOOK (or slack.webhook_url in pipewatch.yml)"
        )
    return check_webhook_url(config.slack_webhook)


def notify(
    outcome: Outcome,
    config: Config,
    store: HistoryStore | None,
    *,
    now: float | None = None,
    policy: DeliveryPolicy | None = None,
    budget_s: float = DELIVERY_BUDGET_S,
    already_sent: Collection[str] = (),
) -> NotifyReport:
    """Send this run's Slack alert (and any earlier one still queued) through the history outbox.

    `already_sent`: nodes whose failure was announced during the build (`pipewatch watch`/`run`);
    they are named as already announced instead of being repeated.

    Delivery problems do not raise: they are in the report and the message stays queued for the
    next run. All deliveries together take at most about `budget_s` seconds; what is not tried by
    then stays queued, untouched. A missing or non-http(s) webhook is a ConfigError (URL masked).
    """
    url = webhook_from(config)
    now = time.time() if now is None else now
    report = NotifyReport()
    if store is None:
        return _notify_without_store(outcome, config, url, policy, report, budget_s, already_sent)

    from pipewatch.history.ingest import invocation_key

    invocation = invocation_key(outcome.run)
    plan = plan_alerts(outcome, read_prior_alerts(store), suppression_s=config.alert_suppression_s, now=now)
    live = {f.unique_id for f in plan.failures if f.unique_id in already_sent}
    if live:
        plan.failures = [f for f in plan.failures if f.unique_id not in live]
        plan.items = [i for i in plan.items if not (i.kind == "failure" and i.node in live)]
        plan.suppressed = [*plan.suppressed, *sorted(live)]
    report.suppressed = list(plan.suppressed)
    if not plan.empty:
        message = build_alert_message(
            outcome, config, failures=plan.failures, checks=plan.checks, anomalies=plan.anomalies,
            suppressed=plan.suppressed,
        )  # fmt: skip
        report.alerted = [i.node for i in plan.items]
        report.queued += [k for k in [_enqueue(store, invocation, "alert", plan.items, message, now)] if k]
    if plan.resolved:
        message = build_resolved_message(outcome, [i.node for i in plan.resolved])
        report.resolved = [i.node for i in plan.resolved]
        report.queued += [
            k for k in [_enqueue(store, invocation, "resolved", plan.resolved, message, now)] if k
        ]
    flush_outbox(store, url, policy, report, now, time.monotonic() + budget_s)
    return report


def _enqueue(
    store: HistoryStore,
    invocation: str,
    what: str,
    items: Sequence[AlertItem],
    message: dict[str, Any],
    now: float,
) -> str | None:
    """Queue one message and its item markers (one statement); its dedup key if it is new, else None."""
    from pipewatch.history.alerts import NewAlert

    markers = [_marker_key(invocation, i) for i in items]
    key = f"slack:{invocation}:{what}:{_digest(markers)}"
    rows = [NewAlert(key, KIND_MESSAGE, None, {"slack": message, "items": markers})]
    rows += [
        NewAlert(marker, item.kind, item.node, {"fingerprint": item.fingerprint, "message": key})
        for marker, item in zip(markers, items, strict=True)
    ]
    inserted = store.alerts.enqueue_many(rows, invocation_id=invocation, now=now)
    return key if key in inserted else None


def _mark(store: HistoryStore, keys: Sequence[str], result: DeliveryResult, now: float) -> None:
    """Mark a message and its markers sent, failed, or rejected for good, in one transaction."""
    if result.ok:
        store.alerts.record_deliveries(keys, now=now)
        return
    errors = dict.fromkeys(keys, result.error or "not delivered")
    if result.final:
        store.alerts.record_deliveries(rejected=errors, now=now)
    else:
        store.alerts.record_deliveries(failed=errors, now=now)


def flush_outbox(
    store: HistoryStore,
    url: str,
    policy: DeliveryPolicy | None,
    report: NotifyReport,
    now: float,
    deadline: float,
) -> None:
    """Deliver queued messages oldest first until `deadline` (monotonic seconds).

    A message the receiver refused (a 4xx other than 429) is marked rejected and the next one is
    tried; any other failure (down, rate limited, slow) stops the round, so no message overtakes an
    older one. What is not tried stays queued as it was.
    """
    outbox = store.alerts
    stopped = False
    for alert in outbox.pending(max_attempts=MAX_ATTEMPTS):
        if alert.kind != KIND_MESSAGE:
            continue
        remaining = deadline - time.monotonic()
        if stopped or remaining <= 0:
            report.deferred.append(alert.dedup_key)
            continue
        current = outbox.get(alert.dedup_key)
        if current is None or current.status == "sent":
            continue  # another pipewatch delivered it meanwhile
        slack = alert.payload.get("slack")
        items = [str(i) for i in alert.payload.get("items") or []]
        if not isinstance(slack, dict):
            error = "outbox entry has no Slack message"
            outbox.record_deliveries(rejected={alert.dedup_key: error}, now=now)
            report.rejected[alert.dedup_key] = error
            continue
        payload = late_note(slack, alert.attempts, alert.created_at)
        result = post_json(url, payload, policy, budget_s=remaining)
        _mark(store, [alert.dedup_key, *items], result, now)
        if result.ok:
            report.sent.append(alert.dedup_key)
        elif result.final:
            report.rejected[alert.dedup_key] = mask_secrets(result.error or "refused", url)
        else:
            report.failed[alert.dedup_key] = mask_secrets(result.error or "not delivered", url)
            stopped = True


def _notify_without_store(
    outcome: Outcome,
    config: Config,
    url: str,
    policy: DeliveryPolicy | None,
    report: NotifyReport,
    budget_s: float,
    already_sent: Collection[str] = (),
) -> NotifyReport:
    """History off: announce everything once, directly; a failed delivery is reported, not queued."""
    checks = alerted_checks(outcome)
    failures = [f for f in outcome.failures if f.unique_id not in already_sent]
    report.suppressed = [f.unique_id for f in outcome.failures if f.unique_id in already_sent]
    if not (failures or checks or outcome.anomalies):
        return report
    message = build_alert_message(
        outcome, config, failures=failures, checks=checks, suppressed=report.suppressed
    )
    report.alerted = [f.unique_id for f in failures] + [c.check_id for c in checks]
    result = post_json(url, message, policy, budget_s=budget_s)
    key = f"slack:{outcome.run.invocation_id or 'run'}:alert"
    if result.ok:
        report.sent.append(key)
    else:
        report.failed[key] = mask_secrets(result.error or "not delivered", url)
    return report
