"""The HTML report's pictures, laid out in Python: the failures' lineage and the build's Gantt timeline.

Positions of every box, edge and bar are computed here (SVG user units), so the page needs only a
few lines of JavaScript to toggle highlights.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from pipewatch.analysis import Failure, Outcome
from pipewatch.artifacts.model import NodeResult
from pipewatch.lineage.graph import TEST_TYPES, kahn
from pipewatch.outputs.wording import cut, format_seconds, short_id

#: Lineage boxes and spacing (SVG user units).
NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 164, 26, 44, 10, 12
#: How far up a failure's lineage is drawn, and how many nodes at most (the report stays light).
UPSTREAM_DEPTH = 3
MAX_DOWNSTREAM_PER_FAILURE = 60
MAX_LINEAGE_NODES = 300
#: Gantt geometry and the most bars drawn (the longest are kept).
GANTT_W, GANTT_LABEL_W, GANTT_ROW, GANTT_BAR = 1000, 120, 22, 16
MAX_GANTT_BARS = 4000


def _natural(text: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text))


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
                label=cut(short_id(uid), 24),
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
