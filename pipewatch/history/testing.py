"""Synthetic runs built straight from the model dataclasses, for history tests, benchmarks and demos.

No dbt and no artifact files: a `Run` with the results you choose, so a year of history for a
2,000-model project can be made in memory in seconds.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from functools import lru_cache

from pipewatch.artifacts.model import AdapterResponse, NodeResult, Run, SourceFreshness


def node_result(
    unique_id: str,
    *,
    status: str = "success",
    execution_time: float = 1.0,
    rows_affected: int | None = None,
    started: float | None = None,
    message: str | None = None,
    thread_id: str | None = "Thread-1",
) -> NodeResult:
    """One node's result with the given timing and rows; start/end times when `started` is given."""
    return NodeResult(
        unique_id=unique_id,
        status=status,
        message=message,
        failures=None,
        execution_time=execution_time,
        thread_id=thread_id,
        compile_started=started,
        compile_completed=started,
        execute_started=started,
        execute_completed=None if started is None else started + execution_time,
        adapter_response=AdapterResponse(rows_affected=rows_affected, query_id=None, code="OK"),
    )


def freshness_result(
    unique_id: str, age_s: float, snapshotted_at: float, status: str = "pass"
) -> SourceFreshness:
    """One source freshness result, loaded `age_s` seconds before it was checked."""
    return SourceFreshness(
        unique_id=unique_id,
        status=status,
        max_loaded_at=snapshotted_at - age_s,
        snapshotted_at=snapshotted_at,
        age_s=age_s,
        warn_after_s=None,
        error_after_s=None,
        message=None,
        execution_time=0.1,
    )


def make_run(
    invocation_id: str | None,
    generated_at: float | None,
    results: Iterable[NodeResult],
    *,
    freshness: Iterable[SourceFreshness] = (),
    project: str = "synth",
    command: str = "build",
) -> Run:
    """A Run of the given results (no manifest nodes: history needs none)."""
    listed = list(results)
    return Run(
        invocation_id=invocation_id,
        dbt_version="1.11.0",
        generated_at=generated_at,
        elapsed_time=sum(r.execution_time for r in listed),
        command=command,
        select=(),
        target="dev",
        adapter_type="duckdb",
        project_name=project,
        schema_versions={"run_results": 6},
        nodes={},
        results=listed,
        freshness=list(freshness),
    )


@lru_cache(maxsize=4)
def _levels(models: int) -> tuple[tuple[float, int], ...]:
    """Each model's typical duration and row count: the same in every run of a synthetic project."""
    rng = random.Random(20260101)
    return tuple((rng.lognormvariate(0.0, 1.0), int(rng.lognormvariate(9.0, 2.0))) for _ in range(models))


def project_run(
    invocation_id: str,
    generated_at: float,
    *,
    models: int = 2000,
    tests_per_model: int = 2,
    seed: int = 0,
    project: str = "synth",
) -> Run:
    """A `dbt build` of a project of `models` models with tests: lognormal timings, rows per model.

    Each model keeps its own typical duration and row count across seeds (so a history of such runs
    is a set of stable noisy series), and `seed` varies the day-to-day noise.
    """
    rng = random.Random(seed)
    results: list[NodeResult] = []
    clock = generated_at - 600.0
    for i, (level_s, level_rows) in enumerate(_levels(models)):
        uid = f"model.{project}.m_{i:05d}"
        results.append(
            node_result(
                uid,
                execution_time=level_s * rng.lognormvariate(0.0, 0.1),
                rows_affected=max(0, int(level_rows * rng.gauss(1.0, 0.02))),
                started=clock,
                thread_id=f"Thread-{i % 4 + 1}",
                message="OK",
            )
        )
        for t in range(tests_per_model):
            results.append(
                node_result(
                    f"test.{project}.t{t}_m_{i:05d}.{i:010x}",
                    status="pass",
                    execution_time=rng.uniform(0.01, 0.2),
                    started=clock,
                    thread_id=f"Thread-{i % 4 + 1}",
                )
            )
    return make_run(invocation_id, generated_at, results, project=project)
