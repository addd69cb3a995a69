"""The HTML report: one self-contained file (inline CSS, JS and SVG) a person opens after a run.

What it shows: the run summary and gate, failures with their owners and what they skipped, a lineage
view of each failure's upstream and downstream (click a failure to highlight its part of the graph),
a Gantt timeline of the build by dbt thread with the critical path marked, the quality table with
sample rows, and trend charts from history. It fetches nothing: a Content-Security-Policy of
`default-src 'none'` makes that a property of the page, not just of this code.

Python does the layout (positions of every box, bar and point) so the page needs only a few lines of
JavaScript to toggle highlights; the templates live in `templates/` and autoescape everything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from pipewatch import __version__
from pipewatch.analysis import Failure, Outcome
from pipewatch.artifacts.model import NodeResult
from pipewatch.lineage.graph import TEST_TYPES, kahn
from pipewatch.outputs.files import write_atomic
from pipewatch.outputs.json_output import iso_utc
from pipewatch.outputs.slack import impact_order
from pipewatch.outputs.text import first_line, short_id

if TYPE_CHECKING:
    from pipewatch.history.store import HistoryStore

#: Lineage boxes and spacing (SVG user units).
NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 164, 26, 44, 10, 12
#: How far up a failure's lineage is drawn, and how many nodes at most (the report stays light).
UPSTREAM_DEPTH = 3
MAX_DOWNSTREAM_PER_FAILURE = 60
MAX_LINEAGE_NODES = 300
#: Gantt geometry and the most bars drawn (the longest are kept).
GANTT_W, GANTT_LABEL_W, GANTT_ROW, GANTT_BAR = 1000, 120, 22, 16
MAX_GANTT_BARS = 4000
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


def format_seconds(value: float | None) -> str:
    """`0.42s`, `12.3s`, `4m 05s`, `1h 02m`: durations as people read them."""
    if value is None or not math.isfinite(value):
        return "—"
    if value < 10:
        return f"{value:.2f}s"
    if value < 60:
        return f"{value:.1f}s"
    if value < 3600:
        return f"{int(value // 60)}m {int(value % 60):02d}s"
    return f"{int(value // 3600)}h {int(value % 3600 // 60):02d}m"


def _natural(text: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------- lineage


@dataclass(slots=True)
class LineageBox:
    """One node drawn in the lineage view."""

    uid: str
    label: str
    kind: str
    status: str
    x: float
    y: float
    failure: bool


@dataclass(slots=True)
class LineageEdge:
    """One drawn edge; `gate` edges run from a failed test to the nodes it held back."""

    src: str
    dst: str
    path: str
    gate: bool = False


@dataclass(slots=True)
class LineageView:
    """The lineage SVG: boxes, edges, size, and for each failure the ids it highlights."""

    boxes: list[LineageBox] = field(default_factory=list)
    edges: list[LineageEdge] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0
    focus: dict[str, list[str]] = field(default_factory=dict)
    omitted: int = 0


def _failure_neighbourhood(outcome: Outcome, failure: Failure) -> tuple[list[str], list[str]]:
    """(upstream, downstream) ids drawn for one failure: near ancestors, and what it reaches (no tests)."""
    graph = outcome.graph
    if failure.unique_id not in graph:
        return [], []
    i = graph.index[failure.unique_id]
    kinds = graph.kinds
    starts = graph.parent_idx[i] if kinds[i] in TEST_TYPES else [i]
    up: dict[int, int] = {p: 1 for p in starts if p != i}
    for s in starts:
        for j, d in graph.within(s, UPSTREAM_DEPTH, upstream=True):
            if kinds[j] not in TEST_TYPES:
                distance = d + (1 if s != i else 0)  # a test's parents are one step above it
                up[j] = min(up.get(j, distance), distance)
    upstream = [graph.ids[j] for j, _ in sorted(up.items(), key=lambda kv: (kv[1], kv[0]))]
    down = (
        [u for u in failure.downstream if graph.kinds[graph.index[u]] not in TEST_TYPES]
        if failure.downstream
        else []
    )
    rank = {"exposure": 0}
    down.sort(key=lambda u: (rank.get(graph.kinds[graph.index[u]], 1), u))
    return upstream, down[:MAX_DOWNSTREAM_PER_FAILURE]


def build_lineage(outcome: Outcome) -> LineageView:
    """Lay out the failures' upstream and downstream as columns by depth (left to right)."""
    view = LineageView()
    graph = outcome.graph
    results = outcome.run.result_by_id()
    wanted: list[str] = []
    seen: set[str] = set()
    for failure in outcome.failures:
        up, down = _failure_neighbourhood(outcome, failure)
        view.focus[failure.unique_id] = [failure.unique_id, *up, *down]
        for uid in [failure.unique_id, *up, *down]:
            if uid not in seen and uid in graph:
                seen.add(uid)
                wanted.append(uid)
    if len(wanted) > MAX_LINEAGE_NODES:
        view.omitted = len(wanted) - MAX_LINEAGE_NODES
        wanted = wanted[:MAX_LINEAGE_NODES]
        seen = set(wanted)
    if not wanted:
        return view
    pos = {uid: k for k, uid in enumerate(wanted)}
    parents: list[list[int]] = [[] for _ in wanted]
    gates: set[tuple[int, int]] = set()
    failed_tests = {
        f.unique_id for f in outcome.failures if graph.kinds[graph.index[f.unique_id]] in TEST_TYPES
    }
    for k, uid in enumerate(wanted):
        for p in graph.parent_idx[graph.index[uid]]:
            pid = graph.ids[p]
            if pid in pos:
                parents[k].append(pos[pid])
    for t in failed_tests:
        if t not in pos:
            continue
        tested = set(graph.parent_idx[graph.index[t]])
        for k, uid in enumerate(wanted):
            if (
                uid != t
                and graph.kinds[graph.index[uid]] not in TEST_TYPES
                and tested & set(graph.parent_idx[graph.index[uid]])
            ) and pos[t] not in parents[k]:
                parents[k].append(pos[t])
                gates.add((pos[t], k))
    children: list[list[int]] = [[] for _ in wanted]
    for k, ps in enumerate(parents):
        for p in ps:
            children[p].append(k)
    order, _broken = kahn(parents, children)
    layer = [0] * len(wanted)
    placed: set[int] = set()
    for k in order:
        layer[k] = max((layer[p] + 1 for p in parents[k] if p in placed), default=0)
        placed.add(k)
    columns: dict[int, list[int]] = {}
    for k in order:
        columns.setdefault(layer[k], []).append(k)
    row: dict[int, float] = {}
    for col in sorted(columns):
        members = columns[col]
        # Barycentre of the parents' rows keeps edges short; ties by id for a stable picture.
        members.sort(
            key=lambda k: (
                sum(row[p] for p in parents[k] if p in row) / max(1, sum(1 for p in parents[k] if p in row))
                if any(p in row for p in parents[k])
                else math.inf,
                wanted[k],
            )
        )
        for r, k in enumerate(members):
            row[k] = float(r)
    failing = {f.unique_id for f in outcome.failures}
    xy: dict[int, tuple[float, float]] = {}
    for k, uid in enumerate(wanted):
        x = PAD + layer[k] * (NODE_W + GAP_X)
        y = PAD + row[k] * (NODE_H + GAP_Y)
        xy[k] = (x, y)
        result = results.get(uid)
        kind = graph.kinds[graph.index[uid]]
        view.boxes.append(
            LineageBox(
                uid=uid,
                label=_cut(short_id(uid), 24),
                kind=kind,
                status=result.status if result else ("exposure" if kind == "exposure" else "not run"),
                x=x,
                y=y,
                failure=uid in failing,
            )
        )
    for k, ps in enumerate(parents):
        for p in ps:
            (x1, y1), (x2, y2) = xy[p], xy[k]
            sx, sy, ex, ey = x1 + NODE_W, y1 + NODE_H / 2, x2, y2 + NODE_H / 2
            if ex <= sx:  # a back edge left by a broken cycle: route it below
                path = f"M{sx:.0f},{sy:.0f} C{sx + 40:.0f},{sy + 40:.0f} {ex - 40:.0f},{ey + 40:.0f} {ex:.0f},{ey:.0f}"
            else:
                mid = (sx + ex) / 2
                path = f"M{sx:.0f},{sy:.0f} C{mid:.0f},{sy:.0f} {mid:.0f},{ey:.0f} {ex:.0f},{ey:.0f}"
            view.edges.append(LineageEdge(wanted[p], wanted[k], path, (p, k) in gates))
    view.width = PAD * 2 + (max(layer) + 1) * NODE_W + max(layer) * GAP_X
    view.height = PAD * 2 + max(len(m) for m in columns.values()) * (NODE_H + GAP_Y) - GAP_Y
    view.focus = {f: [u for u in ids if u in seen] for f, ids in view.focus.items()}
    return view


# ---------------------------------------------------------------------------- Gantt


@dataclass(slots=True)
class GanttBar:
    """One node's span on its thread's row."""

    uid: str
    label: str
    status: str
    x: float
    width: float
    y: float
    start_s: float
    duration_s: float
    critical: bool


@dataclass(slots=True)
class GanttView:
    """The timeline SVG: thread rows, bars, time ticks."""

    rows: list[tuple[str, float]] = field(default_factory=list)  # (thread label, y)
    bars: list[GanttBar] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)
    width: float = GANTT_W
    height: float = 0.0
    span_s: float = 0.0
    omitted: int = 0


def _tick_step(span: float) -> float:
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if span / step <= 10:
            return float(step)
    return 3600.0 * math.ceil(span / 36000.0)


def build_gantt(outcome: Outcome) -> GanttView:
    """Bars per thread from each result's start and end; the critical path's nodes are marked."""
    view = GanttView()
    timed: list[tuple[NodeResult, float, float]] = []
    for r in outcome.run.results:
        start, end = r.started, r.completed
        if start is not None and end is not None and math.isfinite(start) and math.isfinite(end):
            timed.append((r, start, max(start, end)))
    if not timed:
        return view
    if len(timed) > MAX_GANTT_BARS:
        timed.sort(key=lambda t: t[2] - t[1], reverse=True)
        view.omitted = len(timed) - MAX_GANTT_BARS
        timed = timed[:MAX_GANTT_BARS]
    t0 = min(s for _, s, _ in timed)
    span = max(max(e for _, _, e in timed) - t0, 1e-6)
    view.span_s = span
    threads = sorted({r.thread_id or "unknown" for r, _, _ in timed}, key=_natural)
    row_of = {t: i for i, t in enumerate(threads)}
    scale = (GANTT_W - GANTT_LABEL_W - 10) / span
    top = 24.0
    view.rows = [(t, top + i * GANTT_ROW) for i, t in enumerate(threads)]
    critical = set(outcome.critical_path.nodes)
    for r, s, e in sorted(timed, key=lambda t: (t[1], t[0].unique_id)):
        view.bars.append(
            GanttBar(
                uid=r.unique_id,
                label=short_id(r.unique_id),
                status=r.status,
                x=GANTT_LABEL_W + (s - t0) * scale,
                width=max(1.5, (e - s) * scale),
                y=top + row_of[r.thread_id or "unknown"] * GANTT_ROW + (GANTT_ROW - GANTT_BAR) / 2,
                start_s=s - t0,
                duration_s=e - s,
                critical=r.unique_id in critical,
            )
        )
    step = _tick_step(span)
    n = 0
    while n * step <= span + 1e-9:
        view.ticks.append((GANTT_LABEL_W + n * step * scale, format_seconds(n * step).replace(".00s", "s")))
        n += 1
    view.height = top + len(threads) * GANTT_ROW + 8
    return view


# ---------------------------------------------------------------------------- trends


@dataclass(slots=True)
class TrendChart:
    """A small line chart of one metric over past runs."""

    title: str
    unit: str
    points: list[tuple[float, float]]  # SVG coordinates
    values: list[float]
    labels: list[str]  # when each point was (ISO date)
    low: str
    high: str
    last: str
    polyline: str
    current: int | None  # index of this run's point, when it is in the history


TREND_W, TREND_H, TREND_PAD = 320, 110, 14


def _as_time(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def build_trends(points: Sequence[Mapping[str, Any]] | None, current: str | None) -> list[TrendChart]:
    """Charts of run duration, rows affected and quality score from history points.

    A point is a mapping: `generated_at` (POSIX seconds, ISO text or datetime), and any of `elapsed_s`,
    `rows_affected`, `score`, `invocation_id`. Points are drawn in time order; a metric with fewer
    than two values is left out.
    """
    if not points:
        return []
    dated = sorted(
        ((t, p) for p in points if (t := _as_time(p.get("generated_at"))) is not None), key=lambda tp: tp[0]
    )
    charts: list[TrendChart] = []
    for key, title, unit in (
        ("elapsed_s", "Run duration", "s"),
        ("rows_affected", "Rows affected", "rows"),
        ("score", "Quality score", ""),
    ):
        series = [
            (t, v, p.get("invocation_id")) for t, p in dated if (v := _as_number(p.get(key))) is not None
        ]
        if len(series) < 2:
            continue
        values = [v for _, v, _ in series]
        lo, hi = min(values), max(values)
        if key == "score":
            lo, hi = min(lo, 0.0 if lo < 0.5 else lo), max(hi, 1.0)
        spread = (hi - lo) or 1.0
        t_lo, t_hi = series[0][0], series[-1][0]
        t_spread = (t_hi - t_lo) or 1.0
        coords = [
            (
                TREND_PAD + (t - t_lo) / t_spread * (TREND_W - 2 * TREND_PAD),
                TREND_H - TREND_PAD - (v - lo) / spread * (TREND_H - 2 * TREND_PAD),
            )
            for t, v, _ in series
        ]
        fmt = _trend_format(key)
        cur = next((i for i, (_, _, inv) in enumerate(series) if current and inv == current), None)
        charts.append(
            TrendChart(
                title=title,
                unit=unit,
                points=coords,
                values=values,
                labels=[iso_utc(t) or "" for t, _, _ in series],
                low=fmt(min(values)),
                high=fmt(max(values)),
                last=fmt(values[-1]),
                polyline=" ".join(f"{x:.1f},{y:.1f}" for x, y in coords),
                current=cur,
            )
        )
    return charts


def _trend_format(key: str) -> Any:
    if key == "elapsed_s":
        return format_seconds
    if key == "score":
        return lambda v: f"{v:.3f}"
    return lambda v: f"{v:,.0f}"


def history_points_from_store(
    store: HistoryStore, *, limit: int = 60, project: str | None = None
) -> list[dict[str, Any]]:
    """The last `limit` runs in a history store as trend points (oldest first); [] if it has none.

    `score` is the mean of the stored check scores: the exact quality score when checks weigh the same.
    """
    if not store.exists:
        return []
    sql = """
        SELECT i.invocation_id, epoch(i.generated_at), i.elapsed_s,
               (SELECT sum(n.rows_affected) FROM node_results n WHERE n.invocation_id = i.invocation_id),
               (SELECT avg(c.score) FROM check_results c WHERE c.invocation_id = i.invocation_id)
        FROM invocations i
        WHERE $project IS NULL OR i.project = $project
        ORDER BY i.generated_at DESC
        LIMIT $limit
    """
    with store.connect() as con:
        rows = con.execute(sql, {"project": project, "limit": limit}).fetchall()
    return [
        {
            "invocation_id": inv,
            "generated_at": at,
            "elapsed_s": elapsed,
            "rows_affected": rows_,
            "score": score,
        }
        for inv, at, elapsed, rows_, score in reversed(rows)
    ]


# ---------------------------------------------------------------------------- the page


def _sample_table(samples: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    columns: list[str] = []
    rows: list[list[str]] = []
    listed = [s for s in samples if isinstance(s, Mapping)]
    for sample in listed:
        for key in sample:
            if str(key) not in columns:
                columns.append(str(key))
    for sample in listed:
        by_name = {str(k): v for k, v in sample.items()}
        rows.append(
            ["NULL" if (v := by_name.get(c)) is None else _cut(str(v), SAMPLE_CELL_CHARS) for c in columns]
        )
    return columns, rows


def _failure_view(outcome: Outcome, failure: Failure) -> dict[str, Any]:
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
        "message": _cut((failure.message or "").strip(), MESSAGE_CHARS),
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
    failures = [_failure_view(outcome, f) for f in outcome.failures]
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
            {"name": short_id(f.unique_id), "status": f.status, "age": format_seconds(f.age_s)} for f in stale
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
