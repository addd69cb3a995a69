"""The Markdown view of an after-run: fit for a GitHub step summary or a pull-request comment."""

from __future__ import annotations

from pipewatch.analysis import Outcome
from pipewatch.outputs.text import LIST_LIMIT, first_line, shorten_list


def md_cell(text: object) -> str:
    """Text made safe for one Markdown table cell (pipes escaped, newlines folded)."""
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


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
        lines += [
            "",
            f"### Quality: score {outcome.quality.score:.3f}",
            "",
            "| check | relation | status | failing rows |",
        ]
        lines.append("|---|---|---|---:|")
        for check in outcome.quality.checks:
            if check.status != "pass":
                lines.append(
                    f"| {md_cell(check.name)} | {md_cell(check.relation)} | {check.status} | {check.failing_rows} |"
                )
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
