"""History benchmark: a year of daily runs of a 2,000-model project, then one after-run's history work.

Builds 365 synthetic `dbt build` runs (2,000 models + 4,000 tests each, made in memory from the model
dataclasses: no dbt needed), ingests them into a fresh store, then measures side by side, in one
process:

- loading one run's artifacts: its run_results.json plus a small manifest written to a temp dir,
  read by `pipewatch.artifacts.load_run` (what after-run does first);
- ingesting one new run into the 365-run store (`HistoryStore.ingest`, connection open included);
- one anomaly pass over the store (`detect_anomalies`: 2,000 models x 2 metrics x 365 runs);
- both as after-run does them (`record_and_detect`: one open of the store).

Target: ingesting a run costs less than loading its artifacts. Usage:
    .venv/bin/python benchmarks/bench_history.py [--models 2000] [--days 365] [--repeat 9]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipewatch.artifacts import load_run
from pipewatch.artifacts.model import Run
from pipewatch.history import HistoryStore, detect_anomalies, record_and_detect
from pipewatch.history.ingest import build_rows
from pipewatch.history.store import record
from pipewatch.history.testing import project_run

DAY = 86400.0
START = datetime(2025, 1, 1, 3, 0, tzinfo=timezone.utc).timestamp()


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_results_json(run: Run) -> dict[str, Any]:
    """The run as dbt would have written run_results.json (schema v6)."""
    results = []
    for r in run.results:
        results.append(
            {
                "status": r.status,
                "timing": [
                    {
                        "name": "compile",
                        "started_at": _iso(r.compile_started),
                        "completed_at": _iso(r.compile_completed),
                    },
                    {
                        "name": "execute",
                        "started_at": _iso(r.execute_started),
                        "completed_at": _iso(r.execute_completed),
                    },
                ],
                "thread_id": r.thread_id,
                "execution_time": r.execution_time,
                "adapter_response": {
                    "_message": "OK",
                    "code": "OK",
                    "rows_affected": r.adapter_response.rows_affected,
                },
                "message": r.message,
                "failures": 0 if r.unique_id.startswith("test.") else None,
                "unique_id": r.unique_id,
                "compiled": True,
                "compiled_code": "select 1",
                "relation_name": None,
                "batch_results": None,
            }
        )
    return {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
            "dbt_version": run.dbt_version,
            "generated_at": _iso(run.generated_at),
            "invocation_id": run.invocation_id,
            "env": {},
        },
        "results": results,
        "elapsed_time": run.elapsed_time,
        "args": {"which": "build", "select": [], "target": "dev"},
    }


def small_manifest(run: Run) -> dict[str, Any]:
    """A lean manifest (v12) holding just the run's models: what after-run loads with the results."""
    nodes = {
        r.unique_id: {
            "resource_type": "model",
            "name": r.unique_id.rsplit(".", 1)[-1],
            "package_name": "synth",
            "original_file_path": f"models/{r.unique_id.rsplit('.', 1)[-1]}.sql",
            "database": "warehouse",
            "schema": "analytics",
            "alias": r.unique_id.rsplit(".", 1)[-1],
            "config": {"materialized": "table", "enabled": True},
            "tags": [],
            "depends_on": {"nodes": []},
        }
        for r in run.results
        if r.unique_id.startswith("model.")
    }
    return {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
            "dbt_version": run.dbt_version,
            "invocation_id": run.invocation_id,
            "generated_at": _iso(run.generated_at),
        },
        "nodes": nodes,
        "sources": {},
        "exposures": {},
        "metrics": {},
        "groups": {},
    }


def timed(func: Callable[[], object], repeat: int) -> list[float]:
    """Wall-clock seconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return times


def _open_and_close(store: HistoryStore) -> None:
    with store.connect():
        pass


def _ingest_on_open_store(store: HistoryStore, run: Run) -> float:
    """Seconds an ingest costs once the store is open (as in after-run): write, commit, checkpoint."""
    rows = build_rows(run)
    with store.writer() as con:
        started = time.perf_counter()
        record(con, rows)
        con.execute("CHECKPOINT")  # what closing would otherwise do for this write
        return time.perf_counter() - started


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pipewatch-bench-history-") as tmp:
        root = Path(tmp)
        store = HistoryStore(root / "history.duckdb")
        backfill: list[float] = []
        started = time.perf_counter()
        for day in range(args.days):
            run = project_run(f"inv-{day:04d}", START + day * DAY, models=args.models, seed=day)
            backfill.extend(timed(lambda run=run: store.ingest(run), 1))
        backfill_s = time.perf_counter() - started

        # The run after-run would see next: its artifacts on disk, and a store of `days` runs.
        fresh = [
            project_run(f"new-{k}", START + (args.days + k) * DAY, models=args.models, seed=10_000 + k)
            for k in range(args.repeat * 3)
        ]
        target = root / "target"
        target.mkdir()
        (target / "run_results.json").write_text(json.dumps(run_results_json(fresh[0])), encoding="utf-8")
        (target / "manifest.json").write_text(json.dumps(small_manifest(fresh[0])), encoding="utf-8")
        loaded = load_run(target)
        assert len(loaded.results) == len(fresh[0].results)

        # Interleaved, so every step sees the same machine (the box is shared): one round each.
        load: list[float] = []
        ingest: list[float] = []
        opening: list[float] = []
        anomalies: list[float] = []
        after_run: list[float] = []
        in_open: list[float] = []
        for k in range(args.repeat):
            load += timed(lambda: load_run(target), 1)
            ingest += timed(lambda k=k: store.ingest(fresh[k]), 1)
            opening += timed(lambda: _open_and_close(store), 1)
            anomalies += timed(lambda: detect_anomalies(store), 1)
            after_run += timed(lambda k=k: record_and_detect(store, fresh[args.repeat + k]), 1)
            in_open.append(_ingest_on_open_store(store, fresh[2 * args.repeat + k]))
        found = len(detect_anomalies(store))
        size_mb = store.path.stat().st_size / 1e6

    results = len(fresh[0].results)
    median = statistics.median
    rows = [
        ("load one run's artifacts (load_run: run_results + small manifest)", load),
        (f"ingest one run into the {args.days}-run store (open, write, commit, close)", ingest),
        ("  of which opening and closing the store (DuckDB start-up, schema check)", opening),
        (
            f"anomaly pass: {args.models:,} models x 2 metrics x {args.days + 1} runs (open included)",
            anomalies,
        ),
        ("after-run history step (record_and_detect: one open, ingest, anomaly pass)", after_run),
        ("  of which ingest on the open store (write, commit, checkpoint)", in_open),
    ]
    print(
        f"\npipewatch history benchmark: {args.days} daily runs of a {args.models:,}-model project "
        f"({results:,} results per run), {args.repeat} interleaved rounds"
    )
    width = max(len(name) for name, _ in rows)
    print(f"{'step':<{width}}  {'median':>9}  {'min':>9}")
    for name, times in rows:
        print(f"{name:<{width}}  {median(times) * 1000:>7.1f}ms  {min(times) * 1000:>7.1f}ms")
    ratios = [
        ("ratio ingest / load", median(ingest) / median(load)),
        ("ratio ingest on the open store / load", median(in_open) / median(load)),
        ("ratio anomaly pass / load", median(anomalies) / median(load)),
        ("ratio after-run history step / load", median(after_run) / median(load)),
    ]
    for name, ratio in ratios:
        print(f"{name + ' (medians)':<{width}}  {ratio:>9.2f}")
    print(
        f"backfill: {args.days} runs in {backfill_s:.1f}s (ingest median {median(backfill) * 1000:.1f}ms); "
        f"store {size_mb:.1f} MB; {found} anomalies flagged in the last run of stable noise"
    )
    for name, value in (
        ("standalone ingest", median(ingest)),
        ("ingest on after-run's open store", median(in_open)),
    ):
        verdict = "met" if value < median(load) else "NOT met"
        print(f"target (ingest under the time of loading the run's artifacts), {name}: {verdict}")


if __name__ == "__main__":
    main()
