"""The retry plan for the last dbt invocation of a project, from its artifacts and its dbt.log."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from pipewatch.artifacts import Run, load_run
from pipewatch.errors import ArtifactError
from pipewatch.triage.retry import RetryPlan, last_log_invocation, plan_before_nodes, plan_retry


def plan_last_run(project_dir: Path, target_dir: Path, log_dir: Path | None = None) -> RetryPlan:
    """The retry plan for the last dbt invocation in a project, from its artifacts and its dbt.log.

    When the log's last invocation is not the one run_results.json records and that invocation reported an
    error, dbt failed before writing results (a connection or compile error at start): that error is planned.
    """
    log_file = (log_dir if log_dir is not None else project_dir / "logs") / "dbt.log"
    log_invocation: str | None = None
    log_text = ""
    with contextlib.suppress(OSError):
        log_invocation, log_text = last_log_invocation(_read_tail(log_file))
    run: Run | None = None
    try:
        run = load_run(target_dir)
    except ArtifactError:
        if not log_text:
            raise
    has_results = run is not None and bool(run.results)
    newer = run is None or not has_results or (log_invocation and log_invocation != run.invocation_id)
    if newer and "Encountered an error" in log_text:
        adapter = run.adapter_type if run is not None else None
        version = run.dbt_version if run is not None else None
        return plan_before_nodes(log_text, adapter=adapter, dbt_version=version)
    return plan_retry(run)


def _read_tail(path: Path, limit: int = 4 * 1024 * 1024) -> str:
    """The last `limit` bytes of a (possibly huge, append-only) log file as text."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - limit))
        return handle.read().decode("utf-8", errors="replace")
