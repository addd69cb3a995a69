"""What history says over time: one node's recent runs, the store's slowest and most-changed nodes
(`pipewatch history show`), and whole runs for the HTML report's trend charts (`run_points`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipewatch.history.anomalies import JUDGED_RESOURCES, AnomalyConfig, find_anomalies
from pipewatch.history.errors import HistoryError

if TYPE_CHECKING:
    import duckdb

    from pipewatch.history.anomaly import Anomaly
    from pipewatch.history.store import HistoryStore

_SERIES_FILTER = " OR ".join(f"r.unique_id LIKE '{kind}.%'" for kind in JUDGED_RESOURCES)
_MATCH_LIMIT = 5


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One run of a node (or a source's freshness check) in history."""

    invocation_id: str
    generated_at: float  # POSIX seconds
    status: str
    execution_time: float | None = None
    rows_affected: int | None = None
    age_s: float | None = None  # sources: how stale the data was


@dataclass(frozen=True, slots=True)
class NodeTrend:
    """A node's (or source's) last runs, oldest first, and its anomalies in the latest run."""

    unique_id: str
    kind: str  # `node` or `source`
    runs: int  # every run of it in the store
    points: list[TrendPoint]
    anomalies: list[Anomaly] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class NodeStats:
    """One node's duration over the last runs: for the slowest and most-changed lists."""

    unique_id: str
    runs: int
    median_s: float
    latest_s: float | None  # its duration in the latest run (None: it did not run then)
    latest_status: str | None
    durations: list[float]  # oldest first

    @property
    def change_s(self) -> float | None:
        """Latest duration minus the median (None when it did not run in the latest run)."""
        return None if self.latest_s is None else self.latest_s - self.median_s


@dataclass(frozen=True, slots=True)
class HistorySummary:
    """The store at a glance: its span, the slowest and most-changed nodes, the latest run's anomalies."""

    invocations: int
    first_at: float | None
    last_at: float | None
    latest_invocation: str | None
    window: int
    slowest: list[NodeStats]
    most_changed: list[NodeStats]
    anomalies: list[Anomaly]


@dataclass(frozen=True, slots=True)
class RunPoint:
    """One whole run in history, for trend charts: when, how long, rows affected, quality score."""

    invocation_id: str
    generated_at: float  # POSIX seconds
    elapsed_s: float | None
    rows_affected: int | None  # summed over the run's nodes
    score: float | None  # mean of the stored check scores: the quality score when checks weigh the same


def run_points(store: HistoryStore, *, limit: int = 60, project: str | None = None) -> list[RunPoint]:
    """The last `limit` runs in the store (of `project`, when given), oldest first; [] if there is no store."""
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
        RunPoint(
            invocation_id=str(inv),
            generated_at=float(at),
            elapsed_s=None if elapsed is None else float(elapsed),
            rows_affected=None if affected is None else int(affected),
            score=None if score is None else float(score),
        )
        for inv, at, elapsed, affected, score in reversed(rows)
    ]


def resolve_node(con: duckdb.DuckDBPyConnection, name: str) -> tuple[str, str]:
    """A unique id (or bare name, e.g. `orders`) -> (unique id, `node` | `source`) as recorded in history."""
    rows = con.execute(
        """
        SELECT DISTINCT unique_id, kind FROM (
            SELECT DISTINCT unique_id, 'node' AS kind FROM node_results
            UNION ALL
            SELECT DISTINCT unique_id, 'source' FROM source_freshness
        )
        WHERE unique_id = $name OR ends_with(unique_id, '.' || $name)
        ORDER BY unique_id
        """,
        {"name": name},
    ).fetchall()
    exact = [(str(u), str(k)) for u, k in rows if u == name]
    if exact:
        return exact[0]
    if not rows:
        raise HistoryError(f"no node or source {name!r} in the history store")
    matches = [(str(u), str(k)) for u, k in rows]
    preferred = [m for m in matches if m[0].split(".", 1)[0] in JUDGED_RESOURCES]
    if len(preferred) == 1:
        return preferred[0]
    if len(matches) == 1:
        return matches[0]
    listed = ", ".join(u for u, _ in matches[:_MATCH_LIMIT]) + (
        ", ..." if len(matches) > _MATCH_LIMIT else ""
    )
    raise HistoryError(f"{name!r} matches {len(matches)} nodes in history ({listed}); give the unique id")


def node_trend(
    store: HistoryStore, name: str, *, last: int = 20, config: AnomalyConfig | None = None
) -> NodeTrend:
    """A node's or source's last `last` runs (oldest first) and its anomalies in the latest run."""
    with store.connect(create=False) as con:
        unique_id, kind = resolve_node(con, name)
        if kind == "node":
            sql = """
                SELECT r.invocation_id, epoch(i.generated_at), r.status, r.execution_time, r.rows_affected, NULL
                FROM node_results r JOIN invocations i USING (invocation_id)
                WHERE r.unique_id = $uid ORDER BY i.generated_at DESC
            """
        else:
            sql = """
                SELECT f.invocation_id, epoch(i.generated_at), f.status, NULL, NULL, f.age_s
                FROM source_freshness f JOIN invocations i USING (invocation_id)
                WHERE f.unique_id = $uid ORDER BY i.generated_at DESC
            """
        rows = con.execute(sql, {"uid": unique_id}).fetchall()
        anomalies = [a for a in find_anomalies(con, None, config) if a.unique_id == unique_id]
    points = [_point(row) for row in reversed(rows[:last])]
    return NodeTrend(unique_id, kind, len(rows), points, anomalies)


def _point(row: tuple[Any, ...]) -> TrendPoint:
    inv, at, status, seconds, rows, age = row
    return TrendPoint(
        invocation_id=str(inv),
        generated_at=float(at),
        status=str(status),
        execution_time=None if seconds is None else float(seconds),
        rows_affected=None if rows is None else int(rows),
        age_s=None if age is None else float(age),
    )


def summarize(
    store: HistoryStore, *, last: int = 30, top: int = 10, config: AnomalyConfig | None = None
) -> HistorySummary:
    """The slowest nodes (median duration over the last `last` runs), those whose latest duration moved
    most from their median, and the latest run's anomalies."""
    with store.connect(create=False) as con:
        span = con.execute(
            "SELECT count(*), epoch(min(generated_at)), epoch(max(generated_at)) FROM invocations"
        ).fetchone()
        count, first_at, last_at = span if span else (0, None, None)
        rows = con.execute(
            f"""
            WITH recent AS (
                SELECT invocation_id, generated_at FROM invocations ORDER BY generated_at DESC LIMIT $last
            ),
            latest AS (SELECT invocation_id FROM recent ORDER BY generated_at DESC LIMIT 1)
            SELECT r.unique_id, count(*), median(r.execution_time),
                any_value(r.execution_time) FILTER (WHERE r.invocation_id = (SELECT invocation_id FROM latest)),
                any_value(r.status) FILTER (WHERE r.invocation_id = (SELECT invocation_id FROM latest)),
                list(r.execution_time ORDER BY i.generated_at)
            FROM node_results r JOIN recent i USING (invocation_id)
            WHERE ({_SERIES_FILTER}) AND r.status <> 'skipped' AND r.execution_time IS NOT NULL
            GROUP BY r.unique_id
            """,
            {"last": last},
        ).fetchall()
        anomalies = find_anomalies(con, None, config) if count else []
        latest = con.execute(
            "SELECT invocation_id FROM invocations ORDER BY generated_at DESC, ingested_at DESC LIMIT 1"
        ).fetchone()
    stats = [
        NodeStats(
            unique_id=str(uid),
            runs=int(n),
            median_s=float(med),
            latest_s=None if latest_s is None else float(latest_s),
            latest_status=None if status is None else str(status),
            durations=[float(d) for d in durations],
        )
        for uid, n, med, latest_s, status, durations in rows
    ]
    slowest = sorted(stats, key=lambda s: (-s.median_s, s.unique_id))[:top]
    changed = [s for s in stats if s.change_s and s.runs > 1]
    most_changed = sorted(changed, key=lambda s: (-abs(s.change_s or 0.0), s.unique_id))[:top]
    return HistorySummary(
        invocations=int(count),
        first_at=None if first_at is None else float(first_at),
        last_at=None if last_at is None else float(last_at),
        latest_invocation=str(latest[0]) if latest else None,
        window=last,
        slowest=slowest,
        most_changed=most_changed,
        anomalies=anomalies,
    )
