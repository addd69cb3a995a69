"""Per-node durations read from a real history store (DuckDB), as the ETA and running-long alert use them."""

from __future__ import annotations

from pathlib import Path

from pipewatch.history.store import HistoryStore
from pipewatch.history.testing import make_run, node_result
from pipewatch.live.history import duration_stats, median_durations


def _store(tmp_path: Path) -> HistoryStore:
    store = HistoryStore(tmp_path / "history.duckdb")
    for k in range(9):
        results = [
            node_result("model.p.a", execution_time=float(k + 1)),
            node_result("model.p.b", execution_time=10.0, status="skipped" if k % 2 else "success"),
            node_result("model.p.c", execution_time=100.0, status="error"),
        ]
        store.ingest(make_run(f"inv-{k}", 1_800_000_000.0 + 3600 * k, results))
    return store


def test_medians_p95_and_run_counts_from_the_store(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with store.connect() as con:
        stats = duration_stats(con)
        medians = median_durations(con)
    assert set(stats) == {"model.p.a", "model.p.b"}  # errors say nothing about duration
    a = stats["model.p.a"]
    assert (a.median_s, a.runs) == (5.0, 9)
    assert abs(a.p95_s - 8.6) < 1e-9
    assert stats["model.p.b"].runs == 5  # skipped runs left out
    assert medians == {"model.p.a": 5.0, "model.p.b": 10.0}


def test_only_recent_runs_count(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with store.connect() as con:
        stats = duration_stats(con, recent_runs=3)
    assert stats["model.p.a"].median_s == 8.0  # runs 7, 8, 9 seconds: the three latest
    assert stats["model.p.a"].runs == 3
