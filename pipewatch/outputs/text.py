"""Terminal views: an after-run on one screen (failures grouped by who must act, then where time went),
and `pipewatch check`'s quality report table by table."""

from __future__ import annotations

from collections.abc import Iterable

import click

from pipewatch.analysis import Failure, Outcome
from pipewatch.outputs.json_output import iso_utc
from pipewatch.outputs.quality_view import describe, failing_checks, plural, sample_text, status_counts
from pipewatch.rules.results import CheckResult, QualityReport

#: How many ids a list shows before it says "and N more": one screen is the point.
LIST_LIMIT = 5
#: The widest a check name is padded to, so one long name does not push every line off the screen.
_NAME_WIDTH = 60
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
        # dim=None, not False: click writes a reset code for every flag given, even one that is off.
        return click.style(text, fg=fg, bold=bold, dim=dim or None)

    def status(self, status: str, width: int = 0) -> str:
        # Bold for every status that needs a look, so warnings stand out from passes.
        bold = status in ("error", "fail", "warn", "skipped")
        return self(f"{status:<{width}}", fg=_STATUS_COLOURS.get(status), bold=bold)

    def gate(self, passed: bool, reasons: list[str]) -> str:
        if passed:
            return self("GATE passed", fg="green", bold=True)
        return self("GATE failed", fg="red", bold=True) + ": " + "; ".join(reasons)


def _quality_header(report: QualityReport, paint: _Painter) -> str:
    counts = status_counts(report)
    return (
        paint(f"QUALITY score {report.score:.3f}", bold=True)
        + f" · {plural(len(report.checks), 'check')} on {plural(len(report.tables), 'table')}"
        + f" · {counts['fail']} fail, {counts['warn']} warn, {counts['error']} error"
        + f" · {report.dialect}, {report.elapsed_s:.2f}s"
    )


def _check_line(check: CheckResult, label: str, found: str, paint: _Painter) -> str:
    """`  fail  unique(order_id)  1 value in 2 of 4 rows`: status, the label padded by the caller, the finding."""
    severity = " (warn)" if check.severity == "warn" and check.status != "warn" else ""
    return f"  {paint.status(check.status, width=5)} {label}  {found}{severity}"


def _quality_lines(report: QualityReport, paint: _Painter) -> list[str]:
    """After-run's QUALITY section: the header, then the checks that did not pass, cut to one screen."""
    failing = failing_checks(report.checks)
    shown = failing[:LIST_LIMIT]
    labels = [f"{c.name} on {c.relation}" for c in shown]
    width = min(max((len(label) for label in labels), default=0), _NAME_WIDTH)
    lines = [_quality_header(report, paint)]
    # One line a check: a database error's first line says enough on a summary screen.
    lines += [
        _check_line(c, f"{label:<{width}}", first_line(describe(c)), paint)
        for c, label in zip(shown, labels, strict=True)
    ]
    if len(failing) > len(shown):
        lines.append(f"  and {len(failing) - len(shown)} more")
    return lines


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
        lines += _quality_lines(outcome.quality, paint)
    if outcome.anomalies:
        lines.append("")
        lines.append(paint(f"ANOMALIES ({len(outcome.anomalies)})", bold=True))
        for a in outcome.anomalies[:LIST_LIMIT]:
            lines.append(
                f"  {short_id(a.unique_id)} {a.metric} {a.value:g} {a.direction}"
                f" (expected {a.expected_low:g}–{a.expected_high:g}, {a.points} runs)"
            )

    lines += ["", paint.gate(outcome.gate.passed, outcome.gate.reasons)]
    return "\n".join(lines) + "\n"


def render_quality_text(
    report: QualityReport, *, passed: bool, reasons: list[str], color: bool = False
) -> str:
    """`pipewatch check`'s terminal view: every check table by table, with samples, skips and the gate."""
    paint = _Painter(color)
    lines = [_quality_header(report, paint)]
    width = min(max((len(c.name) for c in report.checks), default=0), _NAME_WIDTH)
    for table in report.tables:
        lines += ["", paint(table.relation, bold=True) + f"  score {table.score:.3f}"]
        for check in table.checks:
            lines.append(_check_line(check, f"{check.name:<{width}}", describe(check), paint))
            lines += [f"        e.g. {sample_text(sample)}" for sample in check.samples]
    if report.skipped:
        lines += ["", paint(f"SKIPPED dbt tests ({len(report.skipped)})", bold=True)]
        lines += [f"  {s.name}: {s.reason}" for s in report.skipped]
    lines += ["", paint.gate(passed, reasons)]
    return "\n".join(lines) + "\n"
