"""The HTML report's trend charts: run duration, rows affected and quality score over past runs."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipewatch.outputs.wording import format_seconds, iso_utc


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


def _trend_format(key: str) -> Callable[[float], str]:
    if key == "elapsed_s":
        return format_seconds
    if key == "score":
        return lambda v: f"{v:.3f}"
    return lambda v: f"{v:,.0f}"
