"""Markdown views, fit for a GitHub step summary or a pull-request comment: an after-run, and
`pipewatch check`'s quality report."""

from __future__ import annotations

from pipewatch.analysis import Outcome
from pipewatch.outputs.escaping import md_cell, md_code, one_line
from pipewatch.outputs.wording import (
    LIST_LIMIT,
    attention_order,
    caused_by,
    describe,
    first_line,
    gate_reasons,
    plural,
    sample_text,
    schema_change_line,
    shorten_list,
    status_counts,
)
from pipewatch.rules.results import QualityReport


def _quality_counts(report: QualityReport) -> str:
    counts = status_counts(report)
    return (
        f"{plural(len(report.checks), 'check')} on {plural(len(report.tables), 'table')}: "
        f"{counts['pass']} pass, {counts['fail']} fail, {counts['warn']} warn, {counts['error']} error."
    )


def _quality_section(report: QualityReport) -> list[str]:
    """After-run's Quality section: the counts, then the checks that did not pass, in words."""
    failing = attention_order(report.checks)
    shown = failing[: LIST_LIMIT * 2]
    lines = ["", f"### Quality: score {report.score:.3f}", "", _quality_counts(report)]
    if shown:
        lines += ["", "| status | check | relation | found |", "|---|---|---|---|"]
        lines += [
            f"| {md_cell(c.status)} | {md_cell(c.name)} | {md_cell(c.relation)} | {md_cell(describe(c))} |"
            for c in shown
        ]
    if len(failing) > len(shown):
        lines += ["", f"and {len(failing) - len(shown)} more"]
    return lines


def render_markdown(outcome: Outcome) -> str:
    """A Markdown report: verdict, status counts, failures with impact, skips, critical path, quality."""
    run = outcome.run
    icon = "✅" if outcome.gate.passed else "❌"
    lines = [f"## {icon} pipewatch: dbt {md_cell(run.command or '')}".rstrip()]
    meta = [
        p
        for p in (
            run.project_name and md_cell(run.project_name),
            run.target and f"target {md_code(run.target)}",
            run.dbt_version and f"dbt {md_cell(run.dbt_version)}",
        )
        if p
    ]
    if meta:
        lines.append(" · ".join(meta))
    lines.append("")
    lines.append("| status | count |")
    lines.append("|---|---:|")
    lines.extend(f"| {md_cell(status)} | {n} |" for status, n in outcome.by_status.items())
    if not outcome.gate.passed:
        lines += ["", "**Gate failed:**", ""]
        lines += [f"- {md_cell(r)}" for r in gate_reasons(outcome.gate.reasons)]

    if outcome.failures:
        lines += [
            "",
            "### Failures",
            "",
            "| node | status | category | action | owner | skipped downstream | exposures |",
        ]
        lines.append("|---|---|---|---|---|---|---|")
        for f in outcome.failures:
            c = f.classification
            action = c.action + (f" → {f.escalate_to}" if f.escalate_to and c.action == "escalate" else "")
            lines.append(
                f"| {md_code(f.unique_id)} | {md_cell(f.status)} | {md_cell(c.category)} | {md_cell(action)} "
                f"| {md_cell(f.owner or '—')} "
                f"| {len(f.skipped_downstream)} | {md_cell(shorten_list(f.exposures) or '—')} |"
            )
        lines.append("")
        for f in outcome.failures:
            message = first_line(f.message, width=300)
            if message:
                lines.append(f"- {md_code(f.unique_id)}: {md_cell(message)}")
            if f.schema_changes:
                lines.append(f"  - {md_cell(caused_by(f.schema_changes) or '')}")
    if outcome.schema_changes:
        lines += ["", f"### Schema changes ({len(outcome.schema_changes)})", ""]
        lines += [f"- {md_cell(schema_change_line(c))}" for c in outcome.schema_changes]
    if outcome.skipped:
        groups = outcome.root_cause_groups()
        lines += ["", f"### Skipped ({len(outcome.skipped)})", ""]
        for cause, skipped in groups.items():
            label = md_code(cause) if cause else "no failure in this run"
            lines.append(f"- because of {label}: {md_cell(shorten_list(skipped, LIST_LIMIT * 2))}")
    path = outcome.critical_path
    if path.nodes:
        lines += ["", f"### Critical path: {path.total_s:.1f}s", ""]
        lines.append(
            " → ".join(
                f"{md_code(uid.split('.')[-1])} {t:.1f}s"
                for uid, t in zip(path.nodes, path.times, strict=True)
            )
        )
    if outcome.quality is not None:
        lines += _quality_section(outcome.quality)
    if outcome.anomalies:
        lines += [
            "",
            "### Anomalies",
            "",
            "| node | metric | value | expected | direction |",
            "|---|---|---:|---|---|",
        ]
        for a in outcome.anomalies:
            lines.append(
                f"| {md_code(a.unique_id)} | {md_cell(a.metric)} | {a.value:g} "
                f"| {a.expected_low:g}–{a.expected_high:g} | {md_cell(a.direction)} |"
            )
    return "\n".join(lines) + "\n"


def render_quality_markdown(report: QualityReport, *, passed: bool, reasons: list[str]) -> str:
    """`pipewatch check`'s Markdown: verdict and counts, a table of checks per relation, samples, skips."""
    verdict = "✅ gate passed" if passed else "❌ gate failed"
    lines = [f"## pipewatch check: quality score {report.score:.3f} ({verdict})", "", _quality_counts(report)]
    if reasons:
        lines += ["", *[f"- {md_cell(r)}" for r in gate_reasons(reasons)]]
    for table in report.tables:
        lines += [
            "",
            f"### {md_code(table.relation)} · score {table.score:.3f}",
            "",
            "| status | check | type | column | found |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {md_cell(c.status)} | {md_cell(c.name)} | {md_cell(c.type)} | {md_cell(c.column or '')} "
            f"| {md_cell(describe(c))} |"
            for c in table.checks
        ]
        for c in table.checks:
            if c.samples:
                lines += ["", f"<details><summary>samples: {md_cell(c.name)}</summary>", "", "```json"]
                # Three backticks in a sample would close the fence: a zero-width space breaks the run.
                lines += [one_line(sample_text(s)).replace("```", "`\u200b``") for s in c.samples]
                lines += ["```", "", "</details>"]
    if report.skipped:
        lines += ["", f"### Skipped dbt tests ({len(report.skipped)})", ""]
        lines += [f"- {md_code(s.check_id)}: {md_cell(s.reason)}" for s in report.skipped]
    return "\n".join(lines) + "\n"
