"""Markdown views, fit for a GitHub step summary or a pull-request comment: an after-run, and
`pipewatch check`'s quality report."""

from __future__ import annotations

from pipewatch.analysis import Outcome
from pipewatch.outputs.quality_view import describe, failing_checks, plural, sample_text, status_counts
from pipewatch.outputs.text import LIST_LIMIT, first_line, shorten_list
from pipewatch.rules.results import QualityReport


def md_cell(text: object) -> str:
    """Text made safe for one Markdown table cell (pipes escaped, newlines folded)."""
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _quality_counts(report: QualityReport) -> str:
    counts = status_counts(report)
    return (
        f"{plural(len(report.checks), 'check')} on {plural(len(report.tables), 'table')}: "
        f"{counts['pass']} pass, {counts['fail']} fail, {counts['warn']} warn, {counts['error']} error."
    )


def _quality_section(report: QualityReport) -> list[str]:
    """After-run's Quality section: the counts, then the checks that did not pass, in words."""
    failing = failing_checks(report.checks)
    shown = failing[: LIST_LIMIT * 2]
    lines = ["", f"### Quality: score {report.score:.3f}", "", _quality_counts(report)]
    if shown:
        lines += ["", "| status | check | relation | found |", "|---|---|---|---|"]
        lines += [
            f"| {c.status} | {md_cell(c.name)} | {md_cell(c.relation)} | {md_cell(describe(c))} |"
            for c in shown
        ]
    if len(failing) > len(shown):
        lines += ["", f"and {len(failing) - len(shown)} more"]
    return lines


def render_markdown(outcome: Outcome) -> str:
    """A Markdown report: verdict, status counts, failures with impact, skips, critical path, quality."""
    run = outcome.run
    icon = "✅" if outcome.gate.passed else "❌"
    lines = [f"## {icon} pipewatch: dbt {run.command or ''}".rstrip()]
    meta = [
        p
        for p in (
            run.project_name,
            run.target and f"target `{run.target}`",
            run.dbt_version and f"dbt {run.dbt_version}",
        )
        if p
    ]
    if meta:
        lines.append(" · ".join(meta))
    lines.append("")
    lines.append("| status | count |")
    lines.append("|---|---:|")
    lines.extend(f"| {status} | {n} |" for status, n in outcome.by_status.items())
    if not outcome.gate.passed:
        lines.append("")
        lines.append("**Gate failed:** " + "; ".join(outcome.gate.reasons))

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
                f"| `{f.unique_id}` | {f.status} | {c.category} | {md_cell(action)} | {md_cell(f.owner or '—')} "
                f"| {len(f.skipped_downstream)} | {md_cell(shorten_list(f.exposures) or '—')} |"
            )
        lines.append("")
        for f in outcome.failures:
            message = first_line(f.message, width=300)
            if message:
                lines.append(f"- `{f.unique_id}`: {md_cell(message)}")
    if outcome.skipped:
        groups = outcome.root_cause_groups()
        lines += ["", f"### Skipped ({len(outcome.skipped)})", ""]
        for cause, skipped in groups.items():
            label = f"`{cause}`" if cause else "no failure in this run"
            lines.append(f"- because of {label}: {md_cell(shorten_list(skipped, LIST_LIMIT * 2))}")
    path = outcome.critical_path
    if path.nodes:
        lines += ["", f"### Critical path: {path.total_s:.1f}s", ""]
        lines.append(
            " → ".join(
                f"`{uid.split('.')[-1]}` {t:.1f}s" for uid, t in zip(path.nodes, path.times, strict=True)
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
                f"| `{a.unique_id}` | {a.metric} | {a.value:g} | {a.expected_low:g}–{a.expected_high:g} | {a.direction} |"
            )
    return "\n".join(lines) + "\n"


def render_quality_markdown(report: QualityReport, *, passed: bool, reasons: list[str]) -> str:
    """`pipewatch check`'s Markdown: verdict and counts, a table of checks per relation, samples, skips."""
    verdict = "✅ gate passed" if passed else "❌ gate failed"
    lines = [f"## pipewatch check: quality score {report.score:.3f} ({verdict})", "", _quality_counts(report)]
    if reasons:
        lines += ["", *[f"- {md_cell(r)}" for r in reasons]]
    for table in report.tables:
        lines += [
            "",
            f"### `{md_cell(table.relation)}` · score {table.score:.3f}",
            "",
            "| status | check | type | column | found |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {c.status} | {md_cell(c.name)} | {c.type} | {md_cell(c.column or '')} | {md_cell(describe(c))} |"
            for c in table.checks
        ]
        for c in table.checks:
            if c.samples:
                lines += ["", f"<details><summary>samples: {md_cell(c.name)}</summary>", "", "```json"]
                lines += [sample_text(s) for s in c.samples]
                lines += ["```", "", "</details>"]
    if report.skipped:
        lines += ["", f"### Skipped dbt tests ({len(report.skipped)})", ""]
        lines += [f"- `{md_cell(s.check_id)}`: {md_cell(s.reason)}" for s in report.skipped]
    return "\n".join(lines) + "\n"
