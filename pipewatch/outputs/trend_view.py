"""`pipewatch history show` as terminal text (trend tables with sparklines) or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from pipewatch.history.anomaly import Anomaly
from pipewatch.history.trends import HistorySummary, NodeStats, NodeTrend
from pipewatch.outputs.escaping import one_line, terminal_safe

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None]) -> str:
    """One bar per value scaled between the series' min and max; a gap for a missing value."""
    present = [v for v in values if v is not None]
    if not present:
        return " " * len(values)
    low, high = min(present), max(present)
    span = high - low
    bars = []
    for value in values:
        if value is None:
            bars.append(" ")
        elif span <= 0:
            bars.append(_BARS[len(_BARS) // 2 - 1])  # a flat series draws a flat middle line
        else:
            bars.append(_BARS[min(len(_BARS) - 1, int((value - low) / span * len(_BARS)))])
    return "".join(bars)


def seconds(value: float | None) -> str:
    """A duration for a table cell: `0.42s`, `12.3s`, `4m05s`, `2h03m`; `-` when unknown."""
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.2f}s"
    if value < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def count(value: float | None) -> str:
    """A row count with thousands separators; `-` when unknown."""
    return "-" if value is None else f"{round(value):,}"


def utc(ts: float | None) -> str:
    """POSIX seconds as `YYYY-MM-DD HH:MM` UTC; `-` when unknown."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def _metric_value(metric: str, value: float) -> str:
    if metric in ("execution_time", "freshness_lag"):
        return seconds(value)
    if metric.endswith("_ratio"):
        return f"{value:.2%}"
    return count(value)


def anomaly_line(anomaly: Anomaly, *, with_node: bool = True) -> str:
    """`model.x execution_time 41.2s above its usual 8.0s–12.1s (30 runs)`."""
    where = "above" if anomaly.direction == "up" else "below"
    low = _metric_value(anomaly.metric, anomaly.expected_low)
    high = _metric_value(anomaly.metric, anomaly.expected_high)
    head = f"{anomaly.unique_id} " if with_node else ""
    # Ids come from the project and the store: untrusted text on a terminal.
    return one_line(
        f"{head}{anomaly.metric} {_metric_value(anomaly.metric, anomaly.value)} {where} its usual "
        f"{low}–{high} ({anomaly.points} runs)"
    )


def render_trend(trend: NodeTrend) -> str:
    """A node's trend: sparklines of duration and rows (or a source's staleness), then one row per run."""
    lines = [f"{trend.unique_id} — last {len(trend.points)} of {trend.runs} run(s) in history"]
    if trend.kind == "source":
        ages = [p.age_s for p in trend.points]
        lines.append(f"  freshness lag  {sparkline(ages)}  latest {seconds(ages[-1] if ages else None)}")
    else:
        durations = [p.execution_time for p in trend.points]
        rows = [None if p.rows_affected is None else float(p.rows_affected) for p in trend.points]
        lines.append(
            f"  duration  {sparkline(durations)}  latest {seconds(durations[-1] if durations else None)}"
        )
        if any(r is not None for r in rows):
            lines.append(f"  rows      {sparkline(rows)}  latest {count(rows[-1] if rows else None)}")
    for anomaly in trend.anomalies:
        lines.append(f"  anomaly: {anomaly_line(anomaly, with_node=False)}")
    lines.append("")
    if trend.kind == "source":
        lines.append(f"  {'generated (UTC)':<16}  {'invocation':<10}  {'status':<8}  {'lag':>9}")
        lines.extend(
            f"  {utc(p.generated_at):<16}  {p.invocation_id[:10]:<10}  {p.status:<8}  {seconds(p.age_s):>9}"
            for p in reversed(trend.points)
        )
    else:
        lines.append(
            f"  {'generated (UTC)':<16}  {'invocation':<10}  {'status':<8}  {'duration':>9}  {'rows':>12}"
        )
        lines.extend(
            f"  {utc(p.generated_at):<16}  {p.invocation_id[:10]:<10}  {p.status:<8}  "
            f"{seconds(p.execution_time):>9}  {count(p.rows_affected):>12}"
            for p in reversed(trend.points)
        )
    # Ids, invocation ids and statuses come from the store: no escape sequence reaches the terminal.
    return terminal_safe("\n".join(lines)) + "\n"


def _stats_lines(stats: list[NodeStats], *, change: bool) -> list[str]:
    width = max([len(s.unique_id) for s in stats] + [4])
    spark = max([len(s.durations) for s in stats] + [5])
    header = f"  {'node':<{width}}  {'trend':<{spark}}  {'median':>8}  {'latest':>8}"
    lines = [header + (f"  {'change':>8}" if change else "")]
    for s in stats:
        line = f"  {s.unique_id:<{width}}  {sparkline(s.durations):<{spark}}  {seconds(s.median_s):>8}  "
        line += f"{seconds(s.latest_s):>8}"
        if change and s.change_s is not None:
            sign = "+" if s.change_s >= 0 else "-"
            line += f"  {sign + seconds(abs(s.change_s)):>8}"
        lines.append(line)
    return lines


def render_summary(summary: HistorySummary) -> str:
    """The store at a glance: span, slowest nodes, most-changed nodes, the latest run's anomalies."""
    if not summary.invocations:
        return "history: no runs recorded yet\n"
    lines = [
        f"history: {summary.invocations} run(s) from {utc(summary.first_at)} to {utc(summary.last_at)} (UTC); "
        f"latest {summary.latest_invocation}",
        "",
    ]
    if summary.slowest:
        lines.append(f"Slowest nodes (median duration over the last {summary.window} runs):")
        lines.extend(_stats_lines(summary.slowest, change=False))
        lines.append("")
    if summary.most_changed:
        lines.append("Most changed in the latest run (duration vs its median):")
        lines.extend(_stats_lines(summary.most_changed, change=True))
        lines.append("")
    if summary.anomalies:
        lines.append(f"Anomalies in the latest run ({len(summary.anomalies)}):")
        lines.extend(f"  {anomaly_line(a)}" for a in summary.anomalies)
    else:
        lines.append("No anomalies in the latest run.")
    return terminal_safe("\n".join(lines)) + "\n"


def render_json(view: NodeTrend | HistorySummary) -> str:
    """Either view as JSON (dataclass fields; timestamps stay POSIX seconds)."""
    data: dict[str, Any] = asdict(view)
    return json.dumps(data, indent=2, sort_keys=False) + "\n"
