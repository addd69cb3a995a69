"""Terminal views: an after-run on one screen (failures grouped by who must act, then where time went),
and `pipewatch check`'s quality report table by table."""

from __future__ import annotations

import click

from pipewatch.analysis import Failure, Outcome
from pipewatch.live.simulate import WhatIf
from pipewatch.outputs.escaping import one_line as _s
from pipewatch.outputs.escaping import terminal_safe
from pipewatch.outputs.wording import (
    LIST_LIMIT,
    attention_order,
    caused_by,
    describe,
    first_line,
    gate_reasons,
    human_age,
    iso_utc,
    plural,
    sample_text,
    schema_change_line,
    short_id,
    shorten_list,
    status_counts,
)
from pipewatch.rules.results import CheckResult, QualityReport

#: The widest a check name is padded to, so one long name does not push every line off the screen.
_NAME_WIDTH = 60
#: A message in the text view: its first line, cut to this many characters.
_LINE_WIDTH = 160
_STATUS_COLOURS = {
    "error": "red",
    "fail": "red",
    "warn": "yellow",
    "skipped": "yellow",
    "success": "green",
    "pass": "green",
}


class _Painter:
    """Styles text for a terminal; what it styles is made terminal-safe first (it is often untrusted)."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, fg: str | None = None, bold: bool = False, dim: bool = False) -> str:
        text = terminal_safe(text, keep="")
        if not self.color:
            return text
        # dim=None, not False: click writes a reset code for every flag given, even one that is off.
        return click.style(text, fg=fg, bold=bold, dim=dim or None)

    def status(self, status: str, width: int = 0) -> str:
        """A status word padded to `width`, in its colour."""
        # Bold for every status that needs a look, so warnings stand out from passes.
        bold = status in ("error", "fail", "warn", "skipped")
        return self(f"{_s(status):<{width}}", fg=_STATUS_COLOURS.get(status), bold=bold)

    def gate(self, passed: bool, reasons: list[str]) -> list[str]:
        """The GATE verdict, then each reason on its own line (cut to one line, many counted)."""
        if passed:
            return [self("GATE passed", fg="green", bold=True)]
        # The first reason on the verdict's line, the others each on a line of its own under it.
        first, *rest = [_s(r) for r in gate_reasons(reasons)] or ["no reason given"]
        label = "GATE failed: "
        return [self(label.strip(), fg="red", bold=True) + " " + first] + [
            " " * len(label) + line for line in rest
        ]


def _quality_header(report: QualityReport, paint: _Painter) -> str:
    counts = status_counts(report)
    return (
        paint(f"QUALITY score {report.score:.3f}", bold=True)
        + f" · {plural(len(report.checks), 'check')} on {plural(len(report.tables), 'table')}"
        + f" · {counts['fail']} fail, {counts['warn']} warn, {counts['error']} error"
        + f" · {_s(report.dialect)}, {report.elapsed_s:.2f}s"
    )


def _check_line(check: CheckResult, label: str, found: str, paint: _Painter) -> str:
    """`  fail  unique(order_id)  1 value in 2 of 4 rows`: status, the label padded by the caller, the finding."""
    severity = " (warn)" if check.severity == "warn" and check.status != "warn" else ""
    return f"  {paint.status(check.status, width=5)} {label}  {terminal_safe(found)}{severity}"


def _quality_lines(report: QualityReport, paint: _Painter) -> list[str]:
    """After-run's QUALITY section: the header, then the checks that did not pass, cut to one screen."""
    failing = attention_order(report.checks)
    shown = failing[:LIST_LIMIT]
    labels = [_s(f"{c.name} on {c.relation}") for c in shown]
    width = min(max((len(label) for label in labels), default=0), _NAME_WIDTH)
    lines = [_quality_header(report, paint)]
    # One line a check: a database error's first line says enough on a summary screen.
    lines += [
        _check_line(c, f"{label:<{width}}", first_line(describe(c), width=_LINE_WIDTH), paint)
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
        + " · "
        + _s(f"{c.category} → {action}{who}"),
    ]
    message = _s(first_line(f.message, width=_LINE_WIDTH))
    if message:
        lines.append(f"      {message}")
    cause = caused_by(f.schema_changes)
    if cause:
        lines.append(f"      {paint(cause, fg='magenta')}")
    owner = _s(f.owner or "")
    if f.node.path:
        lines.append(f"      {paint(f.node.path, dim=True)}" + (f"  owner: {owner}" if owner else ""))
    elif owner:
        lines.append(f"      owner: {owner}")
    if f.skipped_downstream:
        lines.append(f"      skipped {len(f.skipped_downstream)}: {_s(shorten_list(f.skipped_downstream))}")
    others = len(f.downstream) - len(f.skipped_downstream)
    if others > 0:
        lines.append(f"      {others} more downstream not run or not skipped by this run")
    if f.exposures:
        lines.append(f"      {paint('exposures hit', fg='magenta')}: {_s(shorten_list(f.exposures))}")
    if f.downstream_owners:
        lines.append(f"      downstream owners: {_s(', '.join(f.downstream_owners[:LIST_LIMIT]))}")
    return lines


def _header(outcome: Outcome, paint: _Painter) -> list[str]:
    run = outcome.run
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
    counts = "  ".join(f"{paint.status(status)} {n}" for status, n in outcome.by_status.items())
    return [paint("pipewatch", bold=True) + " · " + _s(header), f"  {counts}" if counts else "  no results"]


def _timing_lines(outcome: Outcome, paint: _Painter) -> list[str]:
    """The critical path, the bottlenecks on it and how busy dbt's threads were."""
    lines: list[str] = []
    path = outcome.critical_path
    if path.nodes:
        lines += ["", paint(f"CRITICAL PATH {path.total_s:.1f}s", bold=True)]
        steps = [f"{short_id(uid)} {t:.1f}s" for uid, t in zip(path.nodes, path.times, strict=True)]
        lines.append("  " + _s(" → ".join(steps)))
    if outcome.bottlenecks:
        parts = []
        for b in outcome.bottlenecks[:3]:
            share = f", {b.path_share:.0%} of path" if b.path_share is not None else ""
            parts.append(f"{short_id(b.unique_id)} {b.execution_time:.1f}s{share}, {b.waiting} waiting")
        lines.append("  bottlenecks: " + _s("; ".join(parts)))
    util = outcome.utilization
    if util.utilization is not None:
        lines.append(f"  threads: {util.threads}, busy {util.utilization:.0%} of the run's wall clock")
    if outcome.what_if is not None:
        lines.append("  " + what_if_line(outcome.what_if))
    return lines


def what_if_line(what_if: WhatIf) -> str:
    """`what if: 2 threads 14.0s · 4 (now) 9.1s · 8 7.9s · 16 7.9s; critical path bounds it at 7.9s`."""
    steps = [f"{t}{' (now)' if t == what_if.threads else ''} {s:.1f}s" for t, s in what_if.by_threads]
    return f"what if threads were: {' · '.join(steps)}; the critical path bounds it at {what_if.critical_path_s:.1f}s"


def render_text(outcome: Outcome, color: bool = False) -> str:
    """The compact terminal summary of an after-run."""
    paint = _Painter(color)
    lines = _header(outcome, paint)
    if outcome.failures:
        lines.append("")
        lines.append(paint(f"FAILURES ({len(outcome.failures)}), by who must act", bold=True))
        for who, group in outcome.failures_by_actor().items():
            lines.append(f"  {paint('→ ' + who, fg='cyan', bold=True)} ({len(group)})")
            for failure in group:
                lines.extend(_failure_lines(failure, paint))
    unexplained = outcome.unexplained_skips()
    if outcome.skipped:
        explained = len(outcome.skipped) - len(unexplained)
        lines.append("")
        text = f"SKIPPED {len(outcome.skipped)}: {explained} explained by the failures above"
        lines.append(paint(text, bold=True))
        if unexplained:
            lines.append(
                f"  {len(unexplained)} with no failure in this run upstream: {_s(shorten_list(unexplained))}"
            )
    stale = [f for f in outcome.freshness if f.status not in ("pass", "success")]
    if stale:
        lines.append("")
        lines.append(paint(f"SOURCE FRESHNESS ({len(stale)} not fresh)", bold=True))
        for f in stale:
            age = f" loaded {human_age(f.age_s)} ago" if f.age_s is not None else ""
            lines.append(f"  {paint.status(f.status)} {_s(short_id(f.unique_id))}{age}")
    if outcome.schema_changes:
        lines += ["", paint(f"SCHEMA CHANGES ({len(outcome.schema_changes)})", bold=True)]
        lines += [f"  {_s(schema_change_line(c))}" for c in outcome.schema_changes[: LIST_LIMIT * 2]]
    lines += _timing_lines(outcome, paint)
    if outcome.quality is not None:
        lines.append("")
        lines += _quality_lines(outcome.quality, paint)
    if outcome.anomalies:
        lines.append("")
        lines.append(paint(f"ANOMALIES ({len(outcome.anomalies)})", bold=True))
        for a in outcome.anomalies[:LIST_LIMIT]:
            lines.append(
                "  "
                + _s(
                    f"{short_id(a.unique_id)} {a.metric} {a.value:g} {a.direction}"
                    f" (expected {a.expected_low:g}–{a.expected_high:g}, {a.points} runs)"
                )
            )
    lines += ["", *paint.gate(outcome.gate.passed, outcome.gate.reasons)]
    return "\n".join(lines) + "\n"


def render_quality_text(
    report: QualityReport, *, passed: bool, reasons: list[str], color: bool = False
) -> str:
    """`pipewatch check`'s terminal view: every check table by table, with samples, skips and the gate."""
    paint = _Painter(color)
    lines = [_quality_header(report, paint)]
    engines = report.engines()
    if engines["dbt_sql"] or engines.get("dbt_unit"):
        summary = f"  {engines['fused']} fused, {engines['dbt_sql']} as dbt SQL"
        lines.append(
            summary + (f", {plural(engines['dbt_unit'], 'unit test')}" if engines.get("dbt_unit") else "")
        )
    width = min(max((len(_s(c.name)) for c in report.checks), default=0), _NAME_WIDTH)
    for table in report.tables:
        lines += ["", paint(table.relation, bold=True) + f"  score {table.score:.3f}"]
        for check in table.checks:
            lines.append(_check_line(check, f"{_s(check.name):<{width}}", describe(check), paint))
            lines += [f"        e.g. {_s(sample_text(sample))}" for sample in check.samples]
            if check.engine == "dbt_unit" and check.status == "fail":  # dbt's diff, under its title line
                lines += [f"        {_s(line)}" for line in (check.message or "").splitlines()[1:]]
    if report.skipped:
        lines += ["", paint(f"SKIPPED dbt tests ({len(report.skipped)})", bold=True)]
        lines += ["  " + _s(f"{s.name}: {s.reason}") for s in report.skipped]
    lines += ["", *paint.gate(passed, reasons)]
    return "\n".join(lines) + "\n"
