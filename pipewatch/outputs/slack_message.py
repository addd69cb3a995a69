"""Slack alert messages in Block Kit: a run's failures by cause, failing checks, anomalies, resolutions.

Everything here builds payloads and nothing sends them (`pipewatch.outputs.slack` does, through the
outbox). Messages stay within Slack's limits: at most 50 blocks (one left spare for a late-delivery
note), 3,000 characters per text, 150 per header. Untrusted text is escaped for mrkdwn by
`escaping.slack_escape`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from pipewatch.analysis import Failure, Outcome
from pipewatch.config import Config
from pipewatch.history.anomaly import Anomaly
from pipewatch.outputs.escaping import slack_escape
from pipewatch.outputs.wording import caused_by, cut, first_line, gate_reasons, impact_order, short_id
from pipewatch.rules.results import CheckResult
from pipewatch.rules.scoring import fails_gate

#: Slack's limits for one message (Block Kit): blocks per message, characters per text object.
MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_HEADER = 150
#: How many items of each list a message shows before "and N more".
SHOW_FAILURES = 15
SHOW_CHECKS = 10
SHOW_ANOMALIES = 8
SHOW_IDS = 5
_STATUS_ICON = {"error": ":x:", "fail": ":x:", "partial success": ":warning:", "warn": ":warning:"}


def alerted_checks(outcome: Outcome) -> list[CheckResult]:
    """The checks an alert announces: those failing the gate (`rules.scoring.fails_gate`), minus dbt
    tests imported as checks whose node already failed (announced once, as the failed node)."""
    if outcome.quality is None:
        return []
    failed_nodes = {f.unique_id for f in outcome.failures}
    return [c for c in outcome.quality.checks if fails_gate(c) and c.check_id not in failed_nodes]


def code_span(text: object) -> str:
    """`text` as inline code in Slack mrkdwn: escaped, one line, no backticks inside."""
    return "`" + slack_escape(str(text).replace("`", "'").replace("\n", " ")) + "`"


def fit_lines(lines: Sequence[str], limit: int = MAX_TEXT, noun: str = "more") -> str:
    """Join lines into one text of at most `limit` characters, ending with "…and N more" if cut."""
    out: list[str] = []
    size = 0
    reserve = 40  # room for the "and N more" line
    for i, line in enumerate(lines):
        line = cut(line, limit - reserve)
        if size + len(line) + 1 > limit - reserve:
            rest = len(lines) - i
            out.append(f"_…and {rest} {noun}_")
            break
        out.append(line)
        size += len(line) + 1
    return "\n".join(out)


def section_block(text: str) -> dict[str, Any]:
    """A Block Kit section of mrkdwn `text`, cut to Slack's limit."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, MAX_TEXT)}}


def context_block(text: str) -> dict[str, Any]:
    """A Block Kit context line of mrkdwn `text`, cut to Slack's limit."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(text, MAX_TEXT)}]}


def header_block(text: str) -> dict[str, Any]:
    """A Block Kit header of plain `text`, cut to Slack's header limit."""
    return {"type": "header", "text": {"type": "plain_text", "text": cut(text, MAX_HEADER), "emoji": True}}


def _ids(ids: Sequence[str], limit: int = SHOW_IDS) -> str:
    shown = ", ".join(code_span(short_id(i)) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _link(url: str, label: str) -> str:
    # `<url|label>`: the URL must not hold the delimiters, the label must be escaped.
    safe = quote(url.strip(), safe=":/?#[]@!$&'()*+,;=%~-._")
    return f"<{safe}|{slack_escape(label)}>"


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
    return slack_escape(handle)


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
    return format_handle(handle) if handle else slack_escape(who)


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
    return bool(
        failure.skipped_downstream or failure.exposures or failure.downstream_owners or failure.schema_changes
    )


def _failure_lines(failure: Failure, outcome: Outcome, config: Config, *, quote: bool = True) -> list[str]:
    icon = _STATUS_ICON.get(failure.status, ":x:")
    who = mention_for(failure, outcome, config)
    name = code_span(failure.node.name or short_id(failure.unique_id))
    lines = [f"{icon} *{name}* {slack_escape(failure.status)}{_action_text(failure, who)}"]
    message = first_line(failure.message, width=280)
    if message and quote:
        lines.append("> " + slack_escape(message))
    cause = caused_by(failure.schema_changes)
    if cause:
        lines.append("      ↳ " + slack_escape(cause))
    impact: list[str] = []
    if failure.skipped_downstream:
        skipped = impact_order(failure.skipped_downstream)
        impact.append(f"skipped {len(skipped)}: {_ids(skipped)}")
    elif failure.downstream:
        impact.append(f"{len(failure.downstream)} downstream")
    if failure.exposures:
        impact.append(f"exposures: {_ids(failure.exposures, 3)}")
    if failure.downstream_owners:
        shown = ", ".join(slack_escape(o) for o in failure.downstream_owners[:3])
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
        lines.append(f"{icon} {slack_escape(status)}{_action_text(quiet[0], who)}: {_ids(ids, SHOW_IDS * 4)}")
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
        title = f"*{slack_escape(category)}* · {slack_escape(members[0].classification.action)}"
        if signature and signature != "none":
            title += f" · {code_span(signature)}"
        lines = [title + f" — {len(members)} failed"]
        if common:
            lines.append("> " + slack_escape(common))
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
    where = f" on {code_span(check.relation)}" if check.relation else ""
    if check.status == "error":
        detail = slack_escape(first_line(check.message, width=200) or "check could not run")
    elif check.failing_rows is not None:
        unit = "values" if check.failing_unit == "values" else "rows"
        total = f" of {check.total_rows:,}" if check.total_rows is not None else ""
        detail = f"{check.failing_rows:,}{total} {unit} failing"
    else:
        detail = slack_escape(check.status)
    return f"{icon} {code_span(check.name)}{where}: {detail}"


def _anomaly_line(a: Anomaly) -> str:
    arrow = "↑" if a.direction == "up" else "↓"
    return (
        f"• {code_span(short_id(a.unique_id))} {slack_escape(a.metric)} {a.value:,.6g} {arrow} "
        f"(expected {a.expected_low:,.6g}–{a.expected_high:,.6g}, {a.points} runs)"
    )


def _headline(outcome: Outcome) -> str:
    parts = []
    if outcome.failures:
        parts.append(f"{len(outcome.failures)} failed")
    if outcome.quality is not None:
        failing = list(filter(fails_gate, outcome.quality.checks))
        if failing:
            parts.append(f"{len(failing)} check{'s' if len(failing) != 1 else ''} failed")
    if outcome.anomalies:
        parts.append(f"{len(outcome.anomalies)} anomal{'ies' if len(outcome.anomalies) != 1 else 'y'}")
    icon = ":red_circle:" if not outcome.gate.passed else ":large_yellow_circle:"
    return f"{icon} {_where(outcome)}: " + (", ".join(parts) or "gate failed")


def _run_context(outcome: Outcome) -> str:
    run = outcome.run
    bits = [f"dbt {slack_escape(run.command)}" if run.command else "dbt"]
    counts = " ".join(f"{slack_escape(s)} {n}" for s, n in outcome.by_status.items() if n)
    bits.append(f"{outcome.total} results" + (f" ({counts})" if counts else ""))
    if run.elapsed_time:
        bits.append(f"{run.elapsed_time:.0f}s")
    if run.invocation_id:
        bits.append(f"invocation {code_span(run.invocation_id[:8])}")
    text = " · ".join(bits)
    if not outcome.gate.passed and outcome.gate.reasons:
        text += "\n*Gate failed:*\n" + "\n".join(
            "• " + slack_escape(r) for r in gate_reasons(outcome.gate.reasons, limit=5)
        )
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
        checks = alerted_checks(outcome)
    anomalies = list(outcome.anomalies if anomalies is None else anomalies)
    head: list[dict[str, Any]] = [header_block(_headline(outcome)), context_block(_run_context(outcome))]
    body: list[dict[str, Any]] = [section_block(t) for t in _failure_sections(failures, outcome, config)]
    if outcome.quality is not None and (checks or failures):
        title = f"*Quality score {outcome.quality.score:.3f}*"
        if config.min_score is not None:
            title += f" (minimum {config.min_score:.3f})"
        lines = [title]
        lines += [_check_line(c) for c in checks[:SHOW_CHECKS]]
        if len(checks) > SHOW_CHECKS:
            lines.append(f"_…and {len(checks) - SHOW_CHECKS} more failing checks_")
        body.append(section_block(fit_lines(lines, noun="more checks")))
    if anomalies:
        lines = ["*Anomalies* (against this project's history)"]
        lines += [_anomaly_line(a) for a in anomalies[:SHOW_ANOMALIES]]
        if len(anomalies) > SHOW_ANOMALIES:
            lines.append(f"_…and {len(anomalies) - SHOW_ANOMALIES} more anomalies_")
        body.append(section_block(fit_lines(lines, noun="more anomalies")))
    tail: list[dict[str, Any]] = []
    if suppressed:
        tail.append(
            context_block(f"Still failing, already announced and unchanged: {_ids(list(suppressed))}")
        )
    if config.report_url:
        tail.append(section_block(":bar_chart: " + _link(config.report_url, "Open the pipewatch report")))
    room = MAX_BLOCKS - 1 - len(head) - 1 - len(tail)  # one spare (late-delivery note), one divider
    if len(body) > room:
        dropped = len(body) - (room - 1)
        body = [*body[: room - 1], section_block(f"_…and {dropped} more sections (see the report)_")]
    blocks = [*head, {"type": "divider"}, *body, *tail]
    return {"text": cut(_plain_fallback(outcome), MAX_TEXT), "blocks": blocks}


def _plain_fallback(outcome: Outcome) -> str:
    """The notification text (Slack shows it where blocks cannot be shown)."""
    return "pipewatch: " + slack_escape(_headline(outcome).split(" ", 1)[1])


def build_resolved_message(outcome: Outcome, resolved: Sequence[str]) -> dict[str, Any]:
    """One short message naming alerted failures (nodes or checks) that pass again in this run."""
    noun = "passes" if len(resolved) == 1 else "pass"
    text = f":white_check_mark: *Resolved* on {slack_escape(_where(outcome))}: {_ids(list(resolved), 10)} {noun} again"
    run = outcome.run
    context = f"dbt {slack_escape(run.command or '')}".strip()
    if run.invocation_id:
        context += f" · invocation {code_span(run.invocation_id[:8])}"
    return {
        "text": cut(
            f"pipewatch: resolved on {slack_escape(_where(outcome))}: {len(resolved)} passing again", MAX_TEXT
        ),
        "blocks": [section_block(fit_lines([text])), context_block(context)],
    }


def late_note(payload: dict[str, Any], attempts: int, created_at: float) -> dict[str, Any]:
    """The queued message, with a note that it is late when an earlier delivery failed."""
    if attempts <= 0:
        return payload
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(created_at))
    note = context_block(f":hourglass: Delivered late: queued {stamp}, {attempts} earlier attempt(s) failed")
    blocks = list(payload.get("blocks") or [])
    if len(blocks) < MAX_BLOCKS:
        blocks.append(note)
    return {**payload, "blocks": blocks}
