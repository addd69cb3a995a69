"""Benchmark live monitoring on a replayed 10,000-model `dbt build` (30,000 nodes with the tests).

    .venv/bin/python benchmarks/bench_live.py [MODELS]

The manifest is the real `dbt parse` of `synthetic_project.py`'s project; the build's log is
synthesized (`pipewatch.live.synthetic`) from its synthetic run_results: the same durations,
errors and skips, scheduled on 4 threads the way dbt's list scheduler would. History is those
durations with noise (each node's median off by a log-normal factor, some nodes with no history),
so the ETA is measured against what really happened, not against itself. Prints two tables:
watch's CPU time per 1,000 events, and the ETA's error at 25/50/75% progress.
"""

from __future__ import annotations

import io
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic_project import synthetic_target

from pipewatch.artifacts import load_manifest, load_run_results
from pipewatch.live.eta import eta_errors
from pipewatch.live.state import BuildState
from pipewatch.live.synthetic import synthesize_log
from pipewatch.live.watch import LiveUpdate, watch

NOISE_SIGMA = 0.3  # history median vs this run: typically 30% off either way
NO_HISTORY = 0.1  # share of nodes history does not know (new models)
SEEDS = (1, 2, 3)
SLOWER = 1.3  # "all pass, slow": the warehouse takes 30% longer than history says, for every node


def noisy_history(durations: dict[str, float], seed: int) -> dict[str, float]:
    """Per-node medians as a history store would give them: off by noise, some nodes unknown."""
    rng = random.Random(seed)
    return {
        u: s * rng.lognormvariate(0.0, NOISE_SIGMA)
        for u, s in durations.items()
        if rng.random() >= NO_HISTORY
    }


def scenarios(models: int) -> tuple[Path, list[tuple[str, dict[str, float], list[bytes]]]]:
    """The manifest path and two builds to replay: every node passing, and the synthetic run as recorded.

    The recorded synthetic run has one early error whose skips cover most of the DAG, so the clean
    build (skipped nodes given durations drawn like the others) is the one that measures the ETA.
    """
    target = synthetic_target(models)
    manifest_path = target / "manifest.json"
    results = load_run_results(target / "run_results.json").results
    state = BuildState.from_manifest(load_manifest(manifest_path))
    assert state.graph is not None
    rng = random.Random(5)
    recorded = {r.unique_id: r.execution_time for r in results if r.unique_id in state.selected}
    clean = {u: s if s > 0 else rng.lognormvariate(-1.0, 0.8) for u, s in recorded.items()}
    statuses = {r.unique_id: r.status for r in results if r.status in ("error", "fail")}
    skipped = {r.unique_id for r in results if r.status == "skipped"}
    slow = {u: s * SLOWER for u, s in clean.items()}
    return manifest_path, [
        ("all pass", clean, synthesize_log(state.graph, clean, threads=4)),
        ("all pass, slow", clean, synthesize_log(state.graph, slow, threads=4)),
        (
            "1 error, skips",
            clean,
            synthesize_log(state.graph, recorded, threads=4, statuses=statuses, skipped=skipped),
        ),
    ]


def main(models: int = 10_000) -> None:
    """Run the benchmark and print its tables."""
    manifest_path, builds = scenarios(models)
    rows = []
    errors: dict[str, dict[float, list[float]]] = {}
    for name, durations, log in builds:
        data = b"".join(log)
        for seed in SEEDS:
            history = noisy_history(durations, seed)
            marks: list[float] = []

            def on_event(update: LiveUpdate, marks: list[float] = marks) -> None:
                # CPU time between the first and the last node event: the streaming cost,
                # without the one-off manifest load and the final what-if.
                if update.event.kind in ("node_start", "node_result"):
                    marks.append(time.process_time())

            t0 = time.process_time()
            result = watch(io.BytesIO(data), manifest_path, history=history, on_event=on_event)
            cpu = time.process_time() - t0
            assert result.complete, result.notes
            events = result.reader.events
            streaming = marks[-1] - marks[0]
            rows.append((name, seed, events, cpu, cpu - streaming, streaming / len(marks) * 1e6))
            if name.startswith("all pass"):
                table = errors.setdefault(name, {0.25: [], 0.5: [], 0.75: []})
                for fraction, err in eta_errors(result.eta_history, result.state.last_ts or 0.0).items():
                    if err is not None:
                        table[fraction].append(err)

    print(f"\nwatch on a replayed {models:,}-model build ({len(builds[0][1]):,} nodes, 4 threads)\n")
    print(
        f"{'build':<16} {'seed':>4} {'events':>8} {'CPU s':>7} {'one-off s':>10} {'CPU ms / 1,000 events':>22}"
    )
    for name, seed, events, cpu, fixed, per in rows:
        print(f"{name:<16} {seed:>4} {events:>8,} {cpu:>7.2f} {fixed:>10.2f} {per:>22.1f}")
    print("(one-off: manifest load, graph, simulator set-up and the final what-if; the last column is")
    print(" the CPU between the first and the last node event, per 1,000 events)")
    print("\nETA error: |predicted - actual remaining| / actual remaining, median (max) over the seeds")
    print(f"(history = true durations x lognormal noise sigma={NOISE_SIGMA}, {NO_HISTORY:.0%} nodes unknown;")
    print(f" slow: every node {SLOWER:.0%} of its history)")
    print(f"{'build':<16} {'25%':>14} {'50%':>14} {'75%':>14}")
    for name, table in errors.items():
        cells = [f"{statistics.median(e):.1%} ({max(e):.1%})" if e else "-" for e in table.values()]
        print(f"{name:<16} " + " ".join(f"{c:>14}" for c in cells))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
