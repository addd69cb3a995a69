"""Per-node durations from the history store: what the ETA and the "running long" alert expect.

Reads `node_results` (one row per node per recorded invocation, see `pipewatch.history.schema`)
through a DuckDB connection the caller opens (`HistoryStore.connect()`), so this module never
decides where the store lives or how it is locked.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

#: Only the most recent runs of a node count: a model rewritten last month should not be
#: predicted from how long it took a year ago.
DEFAULT_RECENT_RUNS = 30

# Skipped nodes did not run and errors stop early: neither says how long the node takes.
_SQL = """
SELECT unique_id, median(execution_time), quantile_cont(execution_time, 0.95), count(*)
FROM (
    SELECT r.unique_id, r.execution_time, row_number() OVER (
        PARTITION BY r.unique_id ORDER BY i.generated_at DESC, r.invocation_id DESC
    ) AS recent
    FROM node_results r JOIN invocations i USING (invocation_id)
    WHERE r.execution_time IS NOT NULL AND r.execution_time >= 0
      AND r.status NOT IN ('skipped', 'error')
)
WHERE recent <= ?
GROUP BY unique_id
"""


@dataclass(frozen=True, slots=True)
class DurationStats:
    """How long one node took over its recent recorded runs."""

    median_s: float
    p95_s: float
    runs: int


def duration_stats(
    con: duckdb.DuckDBPyConnection, *, recent_runs: int = DEFAULT_RECENT_RUNS
) -> dict[str, DurationStats]:
    """unique id -> median, p95 and count of execution times over its `recent_runs` latest runs."""
    rows = con.execute(_SQL, [max(int(recent_runs), 1)]).fetchall()
    return {uid: DurationStats(float(med), float(p95), int(n)) for uid, med, p95, n in rows}


def median_durations(
    con: duckdb.DuckDBPyConnection, *, recent_runs: int = DEFAULT_RECENT_RUNS
) -> dict[str, float]:
    """unique id -> median seconds over its recent runs: the `history` the ETA takes."""
    return {uid: s.median_s for uid, s in duration_stats(con, recent_runs=recent_runs).items()}
