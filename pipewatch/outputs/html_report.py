"""The HTML report: one self-contained file (inline CSS, JS and SVG) a person opens after a run.

What it shows: the run summary and gate, failures with their owners and what they skipped, a lineage
view of each failure's upstream and downstream (click a failure to highlight its part of the graph),
a Gantt timeline of the build by dbt thread with the critical path marked, the quality table with
sample rows, and trend charts from history. It fetches nothing: a Content-Security-Policy of
`default-src 'none'` makes that a property of the page, not just of this code.

The pictures are laid out by `html_layout`, the charts by `html_trends`; this module gathers what the
template shows. The templates live in `templates/` and autoescape everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from pipewatch import __version__
from pipewatch.analysis import Failure, Outcome
from pipewatch.outputs.files import write_atomic
from pipewatch.outputs.html_layout import NODE_H, NODE_W, build_gantt, build_lineage
from pipewatch.outputs.html_trends import TREND_H, TREND_W, build_trends
from pipewatch.outputs.wording import (
    SAMPLE_COLUMNS,
    caused_by,
    cut,
    first_line,
    format_seconds,
    human_age,
    impact_order,
    iso_utc,
    short_id,
)

if TYPE_CHECKING:
    from pipewatch.history.store import HistoryStore

SAMPLE_CELL_CHARS = 120
MESSAGE_CHARS = 4000

_ENV: jinja2.Environment | None = None


def _env() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = jinja2.Environment(
            loader=jinja2.PackageLoader("pipewatch.outputs", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        _ENV.filters["seconds"] = format_seconds
        _ENV.filters["count"] = lambda n: "—" if n is None else f"{n:,}"
        _ENV.filters["short"] = short_id
    return _ENV


def history_points_from_store(
    store: HistoryStore, *, limit: int = 60, project: str | None = None
) -> list[dict[str, Any]]:
    """The last `limit` runs in a history store as trend points for the charts (oldest first).

    Read by `pipewatch.history.trends.run_points`, the history side's one home for that query.
    """
    from pipewatch.history.trends import run_points

    return [
        {
            "invocation_id": p.invocation_id,
            "generated_at": p.generated_at,
            "elapsed_s": p.elapsed_s,
            "rows_affected": p.rows_affected,
            "score": p.score,
        }
        for p in run_points(store, limit=limit, project=project)
    ]


def _sample_table(samples: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Sample rows as a table: the columns of every sample (the first few), each value cut short."""
    columns: list[str] = []
    rows: list[list[str]] = []
    listed = [s for s in samples if isinstance(s, Mapping)]
    for sample in listed:
        for key in sample:
            if str(key) not in columns:
                columns.append(str(key))
    columns = columns[:SAMPLE_COLUMNS]
    for sample in listed:
        by_name = {str(k): v for k, v in sample.items()}
        rows.append(
            ["NULL" if (v := by_name.get(c)) is None else cut(str(v), SAMPLE_CELL_CHARS) for c in columns]
        )
    return [cut(c, SAMPLE_CELL_CHARS) for c in columns], rows


def _failure_view(failure: Failure) -> dict[str, Any]:
    c = failure.classification
    return {
        "uid": failure.unique_id,
        "name": short_id(failure.unique_id),
        "kind": failure.node.resource_type,
        "status": failure.status,
        "category": c.category,
        "action": c.action,
        "evidence": str(c.evidence),
        "owner": failure.owner,
        "escalate_to": failure.escalate_to,
        "path": failure.node.path or None,
        "headline": first_line(failure.message, width=240),
        "cause": caused_by(failure.schema_changes),
        "message": cut((failure.message or "").strip(), MESSAGE_CHARS),
        "failures": failure.result.failures if failure.result else None,
        "skipped": [short_id(u) for u in impact_order(failure.skipped_downstream)],
        "downstream": len(failure.downstream),
        "exposures": [short_id(u) for u in failure.exposures],
        "downstream_owners": list(failure.downstream_owners),
        "execution_time": failure.result.execution_time if failure.result else None,
    }


def _quality_view(outcome: Outcome) -> dict[str, Any] | None:
    quality = outcome.quality
    if quality is None:
        return None
    tables = []
    for table in sorted(quality.tables, key=lambda t: (t.score, t.relation)):
        checks = []
        for check in sorted(table.checks, key=lambda c: (c.status == "pass", c.name)):
            columns, rows = _sample_table(check.samples)
            checks.append(
                {
                    "name": check.name,
                    "type": check.type,
                    "column": check.column,
                    "status": check.status,
                    "severity": check.severity,
                    "failing": check.failing_rows,
                    "total": check.total_rows,
                    "unit": check.failing_unit,
                    "threshold": ", ".join(f"{k}={v}" for k, v in check.threshold.items()),
                    "message": first_line(check.message, width=300),
                    "sample_columns": columns,
                    "sample_rows": rows,
                    "sql": check.sql,
                }
            )
        tables.append({"relation": table.relation, "score": table.score, "checks": checks})
    failing = sum(1 for c in quality.checks if c.status != "pass")
    return {"score": quality.score, "tables": tables, "failing": failing, "total": len(quality.checks)}


def report_context(
    outcome: Outcome, history_points: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """Everything the template shows, as plain values (the template only formats)."""
    run = outcome.run
    lineage = build_lineage(outcome)
    gantt = build_gantt(outcome)
    failures = [_failure_view(f) for f in outcome.failures]
    groups = outcome.root_cause_groups()
    unexplained = list(groups.get(None, ()))
    stale = [f for f in outcome.freshness if f.status not in ("pass", "success")]
    title = " · ".join(p for p in ("pipewatch", run.project_name, run.target) if p)
    return {
        "title": title,
        "version": __version__,
        "run": {
            "project": run.project_name,
            "target": run.target,
            "command": run.command,
            "dbt_version": run.dbt_version,
            "adapter": run.adapter_type,
            "invocation_id": run.invocation_id,
            "generated_at": iso_utc(run.generated_at),
            "elapsed_s": run.elapsed_time,
        },
        "total": outcome.total,
        "by_status": outcome.by_status,
        "gate": outcome.gate,
        "failures": failures,
        "skipped_total": len(outcome.skipped),
        "unexplained": [short_id(u) for u in unexplained],
        "stale": [
            {
                "name": short_id(f.unique_id),
                "status": f.status,
                "age": "—" if f.age_s is None else human_age(f.age_s),
            }
            for f in stale
        ],
        "lineage": lineage,
        "node_w": NODE_W,
        "node_h": NODE_H,
        "gantt": gantt,
        "critical_path": [
            {"name": short_id(u), "uid": u, "time": t}
            for u, t in zip(outcome.critical_path.nodes, outcome.critical_path.times, strict=False)
        ],
        "critical_total": outcome.critical_path.total_s,
        "bottlenecks": [
            {
                "name": short_id(b.unique_id),
                "time": b.execution_time,
                "share": b.path_share,
                "waiting": b.waiting,
            }
            for b in outcome.bottlenecks[:5]
        ],
        "utilization": outcome.utilization,
        "quality": _quality_view(outcome),
        "anomalies": outcome.anomalies,
        "trends": build_trends(history_points, run.invocation_id),
        "trend_w": TREND_W,
        "trend_h": TREND_H,
        "warnings": outcome.warnings,
        "data": {
            "focus": lineage.focus,
            "failures": [f["uid"] for f in failures],
        },
    }


def render_html(outcome: Outcome, history_points: Sequence[Mapping[str, Any]] | None = None) -> str:
    """The whole report as one HTML document (no external resources)."""
    return _env().get_template("report.html.j2").render(**report_context(outcome, history_points))


def write_html_report(
    outcome: Outcome,
    path: Path | str,
    *,
    history_points: Sequence[Mapping[str, Any]] | None = None,
    store: HistoryStore | None = None,
) -> Path:
    """Render the report to `path` (written whole or not at all); trends from `store` when given."""
    if history_points is None and store is not None:
        history_points = history_points_from_store(store, project=outcome.run.project_name)
    return write_atomic(path, render_html(outcome, history_points), what="report")
