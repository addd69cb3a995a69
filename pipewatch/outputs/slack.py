"""Slack alerts for an after-run: a Block Kit message, kept in the history outbox until Slack has it.

`notify(outcome, config, store)` is the one call. It

1. delivers what earlier runs left in the outbox (oldest first), so nothing is lost to a Slack outage;
2. plans this run's alert: every failure, failing check and anomaly, minus what was already announced
   unchanged within `alert_suppression` (default 24h) and is still open;
3. queues the message in the outbox (one row per message, plus one marker row per announced item,
   kind `failure`/`check`/`anomaly` and the node's id, which is what suppression reads next time and
   what `AlertOutbox.last_alert_for(node, kind)` answers) and delivers it;
4. the same for one short "resolved" message naming alerted failures that pass again.

Dedup keys carry the dbt invocation id, so running after-run twice on the same artifacts never sends a
message twice. Without a history store (history off) the message is sent once, with no suppression.

What counts as "changed": a failure's category, or its message with digits ignored (a test that finds
5 bad rows instead of 3 is the same failure; a different error is a new one).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pipewatch.analysis import Anomaly, Failure, Outcome
from pipewatch.config import Config
from pipewatch.errors import ConfigError
from pipewatch.outputs.delivery import (
    DeliveryPolicy,
    DeliveryResult,
    check_webhook_url,
    mask_secrets,
    post_json,
)
from pipewatch.outputs.text import first_line, short_id
from pipewatch.rules.results import CheckResult

if TYPE_CHECKING:
    from pipewatch.history.store import HistoryStore

#: Slack's limits for one message (Block Kit): blocks per message, characters per text object.
MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_HEADER = 150
#: How many items of each list a message shows before "and N more".
SHOW_FAILURES = 15
SHOW_CHECKS = 10
SHOW_ANOMALIES = 8
SHOW_IDS = 5

#: Outbox kinds: a whole Slack message, and the per-item markers that suppression reads.
KIND_MESSAGE = "slack_message"
FAILURE, CHECK, ANOMALY = "failure", "check", "anomaly"
RESOLVED_KIND = {FAILURE: "failure_resolved", CHECK: "check_resolved"}
#: A message that failed this many deliveries is given up (the outbox stops offering it).
MAX_ATTEMPTS = 5
#: Node statuses that mean an alerted failure is fixed (a `warn` no longer fails the gate).
PASSING_NODE = frozenset({"success", "pass", "warn"})
PASSING_CHECK = frozenset({"pass", "warn"})
_DIGITS = re.compile(r"\d+")
_COUNTED_PLURAL = re.compile(r"(#\s+\w+?)s\b")  # "# results" -> "# result": 1 and 3 read alike
_STATUS_ICON = {"error": ":x:", "fail": ":x:", "partial success": ":warning:", "warn": ":warning:"}


# ---------------------------------------------------------------------------- message text helpers


def escape(text: object) -> str:
    """Text made literal for Slack mrkdwn: `&`, `<` and `>` are control characters there."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: object) -> str:
    return "`" + escape(str(text).replace("`", "'").replace("\n", " ")) + "`"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fit_lines(lines: Sequence[str], limit: int = MAX_TEXT, noun: str = "more") -> str:
    """Join lines into one text of at most `limit` characters, ending with "…and N more" if cut."""
    out: list[str] = []
    size = 0
    reserve = 40  # room for the "and N more" line
    for i, line in enumerate(lines):
        line = _cut(line, limit - reserve)
        if size + len(line) + 1 > limit - reserve:
            rest = len(lines) - i
            out.append(f"_…and {rest} {noun}_")
            break
        out.append(line)
        size += len(line) + 1
    return "\n".join(out)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, MAX_TEXT)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text, MAX_TEXT)}]}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": _cut(text, MAX_HEADER), "emoji": True}}


def impact_order(ids: Iterable[str]) -> list[str]:
    """Ids ordered by what a reader cares about first: exposures, then models and the like, tests last."""
    rank = {"exposure": 0, "test": 2, "unit_test": 2}
    return sorted(ids, key=lambda uid: (rank.get(uid.partition(".")[0], 1), uid))


def _ids(ids: Sequence[str], limit: int = SHOW_IDS) -> str:
    shown = ", ".join(_code(short_id(i)) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _link(url: str, label: str) -> str:
    # `<url|label>`: the URL must not hold the delimiters, the label must be escaped.
    safe = quote(url.strip(), safe=":/?#[]@!$&'()*+,;=%~-._")
    return f"<{safe}|{escape(label)}>"


def format_handle(handle: str) -> str:
    """A Slack handle as a mention: user ids (`U…`/`W…`), user groups (`S…`), `@here`, or text as is."""
    handle = handle.strip()
    if handle.startswith("<") and handle.endswith(">"):
        return handle
    bare = handle.lstrip("@")
    if re.fullmatch(r"[UW][A-Z0-9]{6,}", bare):
        return f"<@{bare}>"
    if re.fullmatch(r"S[A-Z0-9]{6,}", bare):
        return f"<!subteam^{bare}>"
    if bare in ("here", "channel", "everyone"):
        return f"<!{bare}>"
    return escape(handle)


def mention_for(failure: Failure, outcome: Outcome, config: Config) -> str | None:
    """Who to ping for a failure: the node's `meta.slack`, else the pipewatch.yml handle of who must act."""
    who = failure.escalate_to or failure.owner
    if who is None:
        return None
    if who == failure.owner:
        nodes = [failure.node]
        if failure.node.test is not None and failure.node.test.attached_node:
            attached = outcome.run.nodes.get(failure.node.test.attached_node)
            nodes += [attached] if attached else []
        nodes += [n for p in failure.node.depends_on if (n := outcome.run.nodes.get(p))]
        for node in nodes:
            handle = node.meta.get("slack") if isinstance(node.meta, Mapping) else None
            if isinstance(handle, str) and handle.strip():
                return format_handle(handle)
    handle = config.slack_handles.get(who)
    return format_handle(handle) if handle else escape(who)


# ---------------------------------------------------------------------------- message builders


def _where(outcome: Outcome) -> str:
    run = outcome.run
    return " · ".join(p for p in (run.project_name or "dbt project", run.target) if p)


def _action_text(failure: Failure, who: str | None) -> str:
    """` → @owner`, ` · retry, then @platform`, or ` · @someone`: what the reader is asked to do."""
    action = failure.classification.action
    if action == "escalate" and who:
        return f" → {who}"
    if action == "retry":
        # Transient: a rerun should fix it; `who` is whom it goes to if reruns keep failing.
        return " · retry" + (f", then {who}" if who else "")
    return f" · {who}" if who else ""


def _has_impact(failure: Failure) -> bool:
    return bool(failure.skipped_downstream or failure.exposures or failure.downstream_owners)


def _failure_lines(failure: Failure, outcome: Outcome, config: Config, *, quote: bool = True) -> list[str]:
    icon = _STATUS_ICON.get(failure.status, ":x:")
    who = mention_for(failure, outcome, config)
    name = _code(failure.node.name or short_id(failure.unique_id))
    lines = [f"{icon} *{name}* {escape(failure.status)}{_action_text(failure, who)}"]
    message = first_line(failure.message, width=280)
    if message and quote:
        lines.append("> " + escape(message))
    impact: list[str] = []
    if failure.skipped_downstream:
        skipped = impact_order(failure.skipped_downstream)
        impact.append(f"skipped {len(skipped)}: {_ids(skipped)}")
    elif failure.downstream:
        impact.append(f"{len(failure.downstream)} downstream")
    if failure.exposures:
        impact.append(f"exposures: {_ids(failure.exposures, 3)}")
    if failure.downstream_owners:
        shown = ", ".join(escape(o) for o in failure.downstream_owners[:3])
        more = len(failure.downstream_owners) - 3
        impact.append(f"also affects {shown}" + (f" and {more} more" if more > 0 else ""))
    if impact:
        lines.append("      ↳ " + " · ".join(impact))
    return lines


def _quiet_lines(quiet: Sequence[Failure], outcome: Outcome, config: Config) -> list[str]:
    """Failures with nothing downstream and the group's one message: one line per (status, who)."""
    by_who: dict[tuple[str, str | None], list[str]] = {}
    for f in quiet:
        by_who.setdefault((f.status, mention_for(f, outcome, config)), []).append(f.unique_id)
    lines = []
    for (status, who), ids in by_who.items():
        icon = _STATUS_ICON.get(status, ":x:")
        lines.append(f"{icon} {escape(status)}{_action_text(quiet[0], who)}: {_ids(ids, SHOW_IDS * 4)}")
    return lines


def _failure_groups(failures: Sequence[Failure]) -> list[tuple[tuple[str, str], list[Failure]]]:
    """Failures grouped by cause (category and the error signature that matched), biggest impact first."""
    groups: dict[tuple[str, str], list[Failure]] = {}
    for f in failures:
        key = (f.classification.category, f.classification.evidence.signature)
        groups.setdefault(key, []).append(f)
    for members in groups.values():
        members.sort(key=lambda f: (-len(f.skipped_downstream), -len(f.exposures), f.unique_id))
    return sorted(
        groups.items(),
        key=lambda kv: (-sum(len(f.skipped_downstream) + 1 for f in kv[1]), kv[0]),
    )


def _failure_sections(failures: Sequence[Failure], outcome: Outcome, config: Config) -> list[str]:
    """One text per cause; a message all of a group share is quoted once, not per failure."""
    texts: list[str] = []
    detailed = 0  # failures given their own lines so far, across groups
    covered = 0  # failures in the groups rendered (shown, or counted in "and N more in this group")
    groups = _failure_groups(failures)
    for n, ((category, signature), members) in enumerate(groups):
        if detailed >= SHOW_FAILURES:
            texts.append(f"_…and {len(failures) - covered} more failures in {len(groups) - n} more groups_")
            break
        covered += len(members)
        messages = {first_line(f.message, width=280) for f in members}
        common = next(iter(messages)) if len(messages) == 1 else None
        title = f"*{escape(category)}* · {escape(members[0].classification.action)}"
        if signature and signature != "none":
            title += f" · {_code(signature)}"
        lines = [title + f" — {len(members)} failed"]
        if common:
            lines.append("> " + escape(common))
        quiet = [f for f in members if common is not None and not _has_impact(f)]
        loud = [f for f in members if common is None or _has_impact(f)]
        take = loud[: SHOW_FAILURES - detailed]
        detailed += len(take)
        for f in take:
            lines.extend(_failure_lines(f, outcome, config, quote=common is None))
        if len(take) < len(loud):
            lines.append(f"_…and {len(loud) - len(take)} more in this group_")
        lines.extend(_quiet_lines(quiet, outcome, config))
        texts.append(fit_lines(lines, noun="more lines"))
    return texts


def _check_line(check: CheckResult) -> str:
    icon = ":x:" if check.status in ("fail", "error") else ":warning:"
    where = f" on {_code(check.relation)}" if check.relation else ""
    if check.status == "error":
        detail = escape(first_line(check.message, width=200) or "check could not run")
    elif check.failing_rows is not None:
        unit = "values" if check.failing_unit == "values" else "rows"
        total = f" of {check.total_rows:,}" if check.total_rows is not None else ""
        detail = f"{check.failing_rows:,}{total} {unit} failing"
    else:
        detail = escape(check.status)
    return f"{icon} {_code(check.name)}{where}: {detail}"


def _anomaly_line(a: Anomaly) -> str:
    arrow = "↑" if a.direction == "up" else "↓"
    return (
        f"• {_code(short_id(a.unique_id))} {escape(a.metric)} {a.value:,.6g} {arrow} "
        f"(expected {a.expected_low:,.6g}–{a.expected_high:,.6g}, {a.points} runs)"
    )


def _headline(outcome: Outcome) -> str:
    parts = []
    if outcome.failures:
        parts.append(f"{len(outcome.failures)} failed")
    if outcome.quality is not None:
        failing = [c for c in outcome.quality.checks if c.status in ("fail", "error")]
        if failing:
            parts.append(f"{len(failing)} check{'s' if len(failing) != 1 else ''} failed")
    if outcome.anomalies:
        parts.append(f"{len(outcome.anomalies)} anomal{'ies' if len(outcome.anomalies) != 1 else 'y'}")
    icon = ":red_circle:" if not outcome.gate.passed else ":large_yellow_circle:"
    return f"{icon} {_where(outcome)}: " + (", ".join(parts) or "gate failed")


def _run_context(outcome: Outcome) -> str:
    run = outcome.run
    bits = [f"dbt {escape(run.command)}" if run.command else "dbt"]
    counts = " ".join(f"{escape(s)} {n}" for s, n in outcome.by_status.items() if n)
    bits.append(f"{outcome.total} results" + (f" ({counts})" if counts else ""))
    if run.elapsed_time:
        bits.append(f"{run.elapsed_time:.0f}s")
    if run.invocation_id:
        bits.append(f"invocation {_code(run.invocation_id[:8])}")
    text = " · ".join(bits)
    if not outcome.gate.passed and outcome.gate.reasons:
        text += "\n*Gate failed:* " + escape("; ".join(outcome.gate.reasons))
    return text


def build_alert_message(
    outcome: Outcome,
    config: Config,
    *,
    failures: Sequence[Failure] | None = None,
    checks: Sequence[CheckResult] | None = None,
    anomalies: Sequence[Anomaly] | None = None,
    suppressed: Sequence[str] = (),
) -> dict[str, Any]:
    """The Block Kit payload for a run: headline, failures by cause, quality, anomalies, report link.

    `failures`, `checks` and `anomalies` are what this message announces (default: all of the run's);
    `suppressed` names items left out because they were already announced, unchanged.
    Stays within Slack's limits: at most 50 blocks (one left spare), 3,000 characters per text.
    """
    failures = list(outcome.failures if failures is None else failures)
    if checks is None:
        checks = (
            [c for c in outcome.quality.checks if c.status in ("fail", "error")] if outcome.quality else []
        )
    anomalies = list(outcome.anomalies if anomalies is None else anomalies)
    head: list[dict[str, Any]] = [_header(_headline(outcome)), _context(_run_context(outcome))]
    body: list[dict[str, Any]] = [_section(t) for t in _failure_sections(failures, outcome, config)]
    if outcome.quality is not None and (checks or failures):
        title = f"*Quality score {outcome.quality.score:.3f}*"
        if config.min_score is not None:
            title += f" (minimum {config.min_score:.3f})"
        lines = [title]
        lines += [_check_line(c) for c in checks[:SHOW_CHECKS]]
        if len(checks) > SHOW_CHECKS:
            lines.append(f"_…and {len(checks) - SHOW_CHECKS} more failing checks_")
        body.append(_section(fit_lines(lines, noun="more checks")))
    if anomalies:
        lines = ["*Anomalies* (against this project's history)"]
        lines += [_anomaly_line(a) for a in anomalies[:SHOW_ANOMALIES]]
        if len(anomalies) > SHOW_ANOMALIES:
            lines.append(f"_…and {len(anomalies) - SHOW_ANOMALIES} more anomalies_")
        body.append(_section(fit_lines(lines, noun="more anomalies")))
    tail: list[dict[str, Any]] = []
    if suppressed:
        tail.append(_context(f"Still failing, already announced and unchanged: {_ids(list(suppressed))}"))
    if config.report_url:
        tail.append(_section(":bar_chart: " + _link(config.report_url, "Open the pipewatch report")))
    room = MAX_BLOCKS - 1 - len(head) - 1 - len(tail)  # one spare (late-delivery note), one divider
    if len(body) > room:
        dropped = len(body) - (room - 1)
        body = [*body[: room - 1], _section(f"_…and {dropped} more sections (see the report)_")]
    blocks = [*head, {"type": "divider"}, *body, *tail]
    return {"text": _cut(_plain_fallback(outcome), MAX_TEXT), "blocks": blocks}


def _plain_fallback(outcome: Outcome) -> str:
    """The notification text (Slack shows it where blocks cannot be shown)."""
    return "pipewatch: " + escape(_headline(outcome).split(" ", 1)[1])


def build_resolved_message(outcome: Outcome, resolved: Sequence[str]) -> dict[str, Any]:
    """One short message naming alerted failures (nodes or checks) that pass again in this run."""
    noun = "passes" if len(resolved) == 1 else "pass"
    text = (
        f":white_check_mark: *Resolved* on {escape(_where(outcome))}: {_ids(list(resolved), 10)} {noun} again"
    )
    run = outcome.run
    context = f"dbt {escape(run.command or '')}".strip()
    if run.invocation_id:
        context += f" · invocation {_code(run.invocation_id[:8])}"
    return {
        "text": _cut(
            f"pipewatch: resolved on {escape(_where(outcome))}: {len(resolved)} passing again", MAX_TEXT
        ),
        "blocks": [_section(fit_lines([text])), _context(context)],
    }


# ---------------------------------------------------------------------------- planning against the outbox


def fingerprint(*parts: object) -> str:
    """A short stable digest of what makes an alert "the same" (numbers, and the plural after one, ignored)."""
    text = "\x1f".join(
        _COUNTED_PLURAL.sub(r"\1", _DIGITS.sub("#", str(p if p is not None else ""))) for p in parts
    )
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class AlertItem:
    """One thing a message announces: a failure, a failing check or an anomaly (or its resolution)."""

    kind: str  # failure | check | anomaly | failure_resolved | check_resolved
    node: str  # unique id, check id, or `<unique id>|<metric>` for anomalies
    fingerprint: str


@dataclass(frozen=True, slots=True)
class PriorAlert:
    """The latest outbox marker for one (kind, node): delivered, or queued and still being tried."""

    kind: str
    node: str
    fingerprint: str | None
    at: float  # when it was sent, or queued if not sent yet (POSIX seconds)
    delivered: bool


@dataclass(slots=True)
class AlertPlan:
    """What this run announces, what it holds back as already announced, and what it resolves."""

    failures: list[Failure] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    items: list[AlertItem] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    resolved: list[AlertItem] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when there is nothing new to announce (resolutions aside)."""
        return not self.items


def _failing_checks(outcome: Outcome) -> list[CheckResult]:
    if outcome.quality is None:
        return []
    failed_nodes = {f.unique_id for f in outcome.failures}
    # A dbt test imported as a check is announced once, as the failed node.
    return [
        c for c in outcome.quality.checks if c.status in ("fail", "error") and c.check_id not in failed_nodes
    ]


def plan_alerts(
    outcome: Outcome,
    prior: Mapping[tuple[str, str], PriorAlert],
    *,
    suppression_s: float,
    now: float,
) -> AlertPlan:
    """Decide what to announce given the latest marker per (kind, node) in the outbox.

    An item is held back when its latest marker is still open (no resolution after it), has the same
    fingerprint, and is younger than `suppression_s`. An open failure or check whose node passes in
    this run is resolved.
    """
    plan = AlertPlan()

    def held_back(kind: str, node: str, fp: str) -> bool:
        last = prior.get((kind, node))
        if last is None or last.fingerprint != fp:
            return False
        resolution = RESOLVED_KIND.get(kind)
        fixed = prior.get((resolution, node)) if resolution else None
        if fixed is not None and fixed.at >= last.at:
            return False
        return now - last.at < suppression_s

    for f in outcome.failures:
        fp = fingerprint(f.classification.category, first_line(f.message, width=500))
        if held_back(FAILURE, f.unique_id, fp):
            plan.suppressed.append(f.unique_id)
        else:
            plan.failures.append(f)
            plan.items.append(AlertItem(FAILURE, f.unique_id, fp))
    for c in _failing_checks(outcome):
        fp = fingerprint(c.status, c.type, first_line(c.message, width=500))
        if held_back(CHECK, c.check_id, fp):
            plan.suppressed.append(c.check_id)
        else:
            plan.checks.append(c)
            plan.items.append(AlertItem(CHECK, c.check_id, fp))
    for a in outcome.anomalies:
        node = f"{a.unique_id}|{a.metric}"
        fp = fingerprint(a.direction)
        if held_back(ANOMALY, node, fp):
            plan.suppressed.append(a.unique_id)
        else:
            plan.anomalies.append(a)
            plan.items.append(AlertItem(ANOMALY, node, fp))

    results = outcome.run.result_by_id()
    checks = {c.check_id: c for c in outcome.quality.checks} if outcome.quality else {}
    failing = {f.unique_id for f in outcome.failures}
    for (kind, node), last in sorted(prior.items()):
        resolution = RESOLVED_KIND.get(kind)
        if resolution is None:
            continue
        fixed = prior.get((resolution, node))
        if fixed is not None and fixed.at >= last.at:
            continue  # already resolved (or its resolution is queued)
        if kind == FAILURE:
            result = results.get(node)
            passing = result is not None and result.status in PASSING_NODE and node not in failing
        else:
            check = checks.get(node)
            passing = check is not None and check.status in PASSING_CHECK
        if passing:
            plan.resolved.append(AlertItem(resolution, node, last.fingerprint or ""))
    return plan


def read_prior_alerts(
    store: HistoryStore, *, max_attempts: int = MAX_ATTEMPTS
) -> dict[tuple[str, str], PriorAlert]:
    """The latest marker per (kind, node) that was delivered or is still being tried, in one query.

    Read in bulk (`AlertOutbox.latest_per_node`, one store open) because resolutions must look at
    every alerted node; the outbox's `last_alert_for` answers one node at a time.
    """
    kinds = [FAILURE, CHECK, ANOMALY, *RESOLVED_KIND.values()]
    latest = store.alerts.latest_per_node(kinds, max_attempts=max_attempts)
    prior: dict[tuple[str, str], PriorAlert] = {}
    for (kind, node), alert in latest.items():
        fp = alert.payload.get("fingerprint")
        prior[(kind, node)] = PriorAlert(
            kind, node, fp if isinstance(fp, str) else None, alert.at, alert.status == "sent"
        )
    return prior


# ---------------------------------------------------------------------------- notify


@dataclass(slots=True)
class NotifyReport:
    """What one `notify` call did: delivered, failed (kept in the outbox), held back, resolved."""

    sent: list[str] = field(default_factory=list)  # dedup keys of messages Slack accepted
    failed: dict[str, str] = field(default_factory=dict)  # dedup key -> why (webhook URL masked)
    deferred: list[str] = field(default_factory=list)  # left queued untried after a failure
    queued: list[str] = field(default_factory=list)  # messages this run added to the outbox
    alerted: list[str] = field(default_factory=list)  # items this run's message announces
    suppressed: list[str] = field(default_factory=list)  # items held back (announced, unchanged)
    resolved: list[str] = field(default_factory=list)  # nodes/checks announced as passing again

    @property
    def ok(self) -> bool:
        """True when every message tried was delivered."""
        return not self.failed and not self.deferred

    def summary(self) -> str:
        """One line for the terminal."""
        parts = [f"{len(self.sent)} message(s) sent"]
        if self.suppressed:
            parts.append(f"{len(self.suppressed)} unchanged failure(s) not re-alerted")
        if self.resolved:
            parts.append(f"{len(self.resolved)} resolved")
        if self.failed or self.deferred:
            parts.append(f"{len(self.failed) + len(self.deferred)} kept in the outbox for the next run")
        if self.failed:
            parts.append("last error: " + list(self.failed.values())[-1])
        return "slack: " + "; ".join(parts)


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
) -> NotifyReport:
    """Send this run's Slack alert (and any earlier one still queued) through the history outbox.

    Delivery problems do not raise: they are in the report and the message stays queued for the
    next run. A missing or non-http(s) webhook is a ConfigError (URL masked).
    """
    url = webhook_from(config)
    now = time.time() if now is None else now
    report = NotifyReport()
    if store is None:
        return _notify_without_store(outcome, config, url, policy, report)

    from pipewatch.history.ingest import invocation_key

    invocation = invocation_key(outcome.run)
    plan = plan_alerts(outcome, read_prior_alerts(store), suppression_s=config.alert_suppression_s, now=now)
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
    _flush(store, url, policy, report, now)
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


def _mark(
    store: HistoryStore, keys: Sequence[str], *, delivered: bool, now: float, error: str | None
) -> None:
    """Mark a message and its markers sent, or failed with the (masked) error, in one transaction."""
    if delivered:
        store.alerts.record_deliveries(keys, now=now)
    else:
        store.alerts.record_deliveries(failed=dict.fromkeys(keys, error or "not delivered"), now=now)


def _late_note(payload: dict[str, Any], attempts: int, created_at: float) -> dict[str, Any]:
    """The queued message, with a note that it is late when an earlier delivery failed."""
    if attempts <= 0:
        return payload
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(created_at))
    note = _context(f":hourglass: Delivered late: queued {stamp}, {attempts} earlier attempt(s) failed")
    blocks = list(payload.get("blocks") or [])
    if len(blocks) < MAX_BLOCKS:
        blocks.append(note)
    return {**payload, "blocks": blocks}


def _flush(
    store: HistoryStore, url: str, policy: DeliveryPolicy | None, report: NotifyReport, now: float
) -> None:
    """Deliver queued messages oldest first; stop at the first failure so none overtakes an older one."""
    outbox = store.alerts
    stopped = False
    for alert in outbox.pending(max_attempts=MAX_ATTEMPTS):
        if alert.kind != KIND_MESSAGE:
            continue
        if stopped:
            report.deferred.append(alert.dedup_key)
            continue
        current = outbox.get(alert.dedup_key)
        if current is None or current.status == "sent":
            continue  # another pipewatch delivered it meanwhile
        slack = alert.payload.get("slack")
        items = [str(i) for i in alert.payload.get("items") or []]
        if not isinstance(slack, dict):
            _mark(
                store, [alert.dedup_key], delivered=False, now=now, error="outbox entry has no Slack message"
            )
            report.failed[alert.dedup_key] = "outbox entry has no Slack message"
            continue
        result: DeliveryResult = post_json(url, _late_note(slack, alert.attempts, alert.created_at), policy)
        _mark(store, [alert.dedup_key, *items], delivered=result.ok, now=now, error=result.error)
        if result.ok:
            report.sent.append(alert.dedup_key)
        else:
            report.failed[alert.dedup_key] = mask_secrets(result.error or "not delivered", url)
            # 400 is this payload's problem; anything else (down, rate limited, revoked) hits the rest too.
            stopped = result.status != 400


def _notify_without_store(
    outcome: Outcome, config: Config, url: str, policy: DeliveryPolicy | None, report: NotifyReport
) -> NotifyReport:
    """History off: announce everything once, directly; a failed delivery is reported, not queued."""
    checks = _failing_checks(outcome)
    if not (outcome.failures or checks or outcome.anomalies):
        return report
    message = build_alert_message(outcome, config, checks=checks)
    report.alerted = [f.unique_id for f in outcome.failures] + [c.check_id for c in checks]
    result = post_json(url, message, policy)
    key = f"slack:{outcome.run.invocation_id or 'run'}:alert"
    if result.ok:
        report.sent.append(key)
    else:
        report.failed[key] = mask_secrets(result.error or "not delivered", url)
    return report
