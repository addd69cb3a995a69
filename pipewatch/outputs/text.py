"""The terminal view of an after-run: one screen, failures grouped by root cause, then where time went."""

from __future__ import annotations

from collections.abc import Iterable

import click

from pipewatch.analysis import Failure, Outcome
from pipewatch.outputs.json_output import iso_utc

#: How many ids a list shows before it says "and N more": one screen is the point.
LIST_LIMIT = 5
_STATUS_COLOURS = {
    "error": "red",
    "fail": "red",
    "warn": "yellow",
    "skipped": "yellow",
    "success": "green",
    "pass": "green",
}


def short_id(unique_id: str) -> str:
    """`model.shop.stg_orders` -> `stg_orders` (tests keep their whole generated name)."""
    parts = unique_id.split(".")
    if parts[0] == "source" and len(parts) >= 4:
        return f"{parts[-2]}.{parts[-1]}"
    if parts[0] == "test" and len(parts) >= 4:
        return parts[2]
    return parts[-1] if len(parts) >= 3 else unique_id


def shorten_list(ids: Iterable[str], limit: int = LIST_LIMIT) -> str:
    """A comma list of short names, cut with "and N more"."""
    items = [short_id(i) for i in ids]
    head = ", ".join(items[:limit])
    return head + (f" and {len(items) - limit} more" if len(items) > limit else "")


def first_line(message: str | None, width: int = 160) -> str:
    """The first meaningful line of a dbt message (dbt wraps the database error in a header line)."""
    if not message:
        return ""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    # dbt's "Database Error in model x (path)" header says less than the line under it.
    if len(lines) > 1 and lines[0].lower().startswith(("database error in", "runtime error in")):
        lines = lines[1:]
    text = lines[0] if lines else ""
    return text if len(text) <= width else text[: width - 1] + "…"


class _Painter:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, fg: str | None = None, bold: bool = False, dim: bool = False) -> str:
        if not self.color:
            return text
        return click.style(text, fg=fg, bold=bold, dim=dim)

    def status(self, status: str) -> str:
        return self(status, fg=_STATUS_COLOURS.get(status), bold=status in ("error", "fail"))


def _failure_lines(f: Failure, paint: _Painter) -> list[str]:
    c = f.classification
    action = {"retry": "retry with backoff", "escalate": "escalate", "none": "no action"}.get(
        c.action, c.action
    )
    who = f" to {f.escalate_to}" if f.escalate_to and c.action == "escalate" else ""
    count = f" (failures: {f.result.failures})" if f.result and f.result.failures else ""
    lines = [
        f"  {paint('✖', fg='red')} {paint(f.unique_id, bold=True)}  {paint.status(f.status)}{count}"
        f" · {c.category} → {action}{who}",
    ]
    message = first_line(f.message)
    if message:
        lines.append(f"      {message}")
    if f.node.path:
        lines.append(f"      {paint(f.node.path, dim=True)}" + (f"  owner: {f.owner}" if f.owner else ""))
    elif f.owner:
        lines.append(f"      owner: {f.owner}")
    if f.skipped_downstream:
        lines.append(f"      skipped {len(f.skipped_downstream)}: {shorten_list(f.skipped_downstream)}")
    others = len(f.downstream) - len(f.skipped_downstream)
    if others > 0:
        lines.append(f"      {others} more downstream not run or not skipped by this run")
    if f.exposures:
        lines.append(f"      {paint('exposures hit', fg='magenta')}: {shorten_list(f.exposures)}")
    if f.downstream_owners:
        lines.append(f"      downstream owners: {', '.join(f.downstream_owners[:LIST_LIMIT])}")
    return lines


def render_text(outcome: Outcome, color: bool = False) -> str:
    """The compact terminal summary of an after-run."""
    paint = _Painter(color)
    run = outcome.run
    lines: list[str] = []
    header = " · ".join(
        part
        for part in (
            f"dbt {run.command}" if run.command else "dbt",
            run.project_name,
            run.target and f"target {run.target}",
            iso_utc(run.generated_at),
            f"{outcome.total} results" + (f" in {run.elapsed_time:.1f}s" if run.elapsed_time else ""),
        )
        if part
    )
    lines.append(paint("pipewatch", bold=True) + " · " + header)
    counts = "  ".join(f"{paint.status(status)} {n}" for status, n in outcome.by_status.items())
    lines.append(f"  {counts}" if counts else "  no results")

    if outcome.failures:
        lines.append("")
        lines.append(paint(f"FAILURES ({len(outcome.failures)}), by who must act", bold=True))
        for who, group in outcome.failures_by_actor().items():
            lines.append(f"  {paint('→ ' + who, fg='cyan', bold=True)} ({len(group)})")
            for failure in group:
                lines.extend(_failure_lines(failure, paint))
    unexplained = outcome.root_cause_groups().get(None, ())
    if outcome.skipped:
        explained = len(outcome.skipped) - len(unexplained)
        lines.append("")
        text = f"SKIPPED {len(outcome.skipped)}: {explained} explained by the failures above"
        lines.append(paint(text, bold=True))
        if unexplained:
            lines.append(
                f"  {len(unexplained)} with no failure in this run upstream: {shorten_list(unexplained)}"
            )
    stale = [f for f in outcome.freshness if f.status not in ("pass", "success")]
    if stale:
        lines.append("")
        lines.append(paint(f"SOURCE FRESHNESS ({len(stale)} not fresh)", bold=True))
        for f in stale:
            age = f" loaded {f.age_s / 3600:.1f}h ago" if f.age_s is not None else ""
            lines.append(f"  {paint.status(f.status)} {short_id(f.unique_id)}{age}")

    path = outcome.critical_path
    if path.nodes:
        lines.append("")
        lines.append(paint(f"CRITICAL PATH {path.total_s:.1f}s", bold=True))
        steps = [f"{short_id(uid)} {t:.1f}s" for uid, t in zip(path.nodes, path.times, strict=True)]
        lines.append("  " + " → ".join(steps))
    if outcome.bottlenecks:
        parts = []
        for b in outcome.bottlenecks[:3]:
            share = f", {b.path_share:.0%} of path" if b.path_share is not None else ""
            parts.append(f"{short_id(b.unique_id)} {b.execution_time:.1f}s{share}, {b.waiting} waiting")
        lines.append("  bottlenecks: " + "; ".join(parts))
    util = outcome.utilization
    if util.utilization is not None:
        lines.append(f"  threads: {util.threads}, busy {util.utilization:.0%} of the run's wall clock")

    if outcome.quality is not None:
        lines.append("")
        failed = [c for c in outcome.quality.checks if c.status != "pass"]
        lines.append(
            paint(f"QUALITY score {outcome.quality.score:.3f}", bold=True) + f" · {len(failed)} not passing"
        )
        for check in failed[:LIST_LIMIT]:
            lines.append(
                f"  {paint.status(check.status)} {check.name} on {check.relation}: {check.failing_rows} rows"
            )
    if outcome.anomalies:
        lines.append("")
        lines.append(paint(f"ANOMALIES ({len(outcome.anomalies)})", bold=True))
        for a in outcome.anomalies[:LIST_LIMIT]:
            lines.append(
                f"  {short_id(a.unique_id)} {a.metric} {a.value:g} {a.direction}"
                f" (expected {a.expected_low:g}–{a.expected_high:g}, {a.points} runs)"
            )

    lines.append("")
    if outcome.gate.passed:
        lines.append(paint("GATE passed", fg="green", bold=True))
    else:
        lines.append(paint("GATE failed", fg="red", bold=True) + ": " + "; ".join(outcome.gate.reasons))
    return "\n".join(lines) + "\n"
