"""Running dbt with recovery: run the command, read what it left, and rerun the failed part while that helps.

`run_with_retries(["dbt", "build", ...])` runs the real dbt as a subprocess, loads the artifacts of that
attempt, asks `plan_retry` what to do, waits (exponential backoff, full jitter) and reruns only what failed
and what dbt skipped because of it: `dbt retry` on dbt >= 1.6, else `dbt <command> --select <nodes>`. A
failure before any node ran reruns the whole command when its error is transient. Any non-retryable error
stops at once. Every attempt is recorded (command, what was rerun and why, outcome, exit code, duration).

`dbt retry` reads `run_results.json` from the target dir, so nothing here writes there between attempts;
each attempt's file is copied to `pipewatch_attempt_<n>_run_results.json` beside it for the record. A
run_results.json that an attempt did not rewrite (dbt failed first) is recognized as stale, not re-read
as that attempt's outcome.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipewatch.artifacts import Run, load_run
from pipewatch.artifacts.run import RUN_RESULTS_FILE
from pipewatch.artifacts.stubs import stub_node
from pipewatch.backoff import Backoff
from pipewatch.config import resolve_target_dir
from pipewatch.errors import ArtifactError, PipewatchError, UsageError
from pipewatch.runner.attempts import Attempt, Rerun, RunSummary, final_exit_code, stop_reason
from pipewatch.runner.invocation import DbtInvocation, resolve_project_dir
from pipewatch.runner.process import Executed, execute
from pipewatch.runner.signals import DEFAULT_GRACE_S, StopSignals
from pipewatch.triage.retry import DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_CAP, RetryPlan, Strategy, plan_retry

ATTEMPT_FILE = "pipewatch_attempt_{n}_" + RUN_RESULTS_FILE


@dataclass(slots=True)
class _Pending:
    """What the next attempt will run and why."""

    argv: list[str]
    rerun: Rerun
    retried: tuple[str, ...] = ()
    reason: str = "the command as given"
    evidence: tuple[dict[str, Any], ...] = ()
    backoff_s: float = 0.0


def run_with_retries(
    dbt_args: Sequence[str],
    *,
    project_dir: Path | str | None = None,
    max_retries: int = 2,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
    strategy: Strategy | None = None,
    env: Mapping[str, str] | None = None,
    on_output: Callable[[str], None] | None = None,
    on_idle: Callable[[], None] | None = None,
    on_attempt: Callable[[Attempt], None] | None = None,
    grace_s: float = DEFAULT_GRACE_S,
) -> RunSummary:
    """Run the dbt command `dbt_args` and retry its retryable failures, up to `max_retries` times.

    `project_dir` is where dbt runs (default: the current directory); the dbt project is `--project-dir`
    from the args, else DBT_PROJECT_DIR, else that directory or its nearest parent with a dbt_project.yml.
    `backoff` sets the waits (default: up to 5 s, doubling, at most 2 minutes), `sleep` performs them
    (inject one in tests), and `strategy` forces how failed nodes are rerun (`dbt retry` or `dbt build
    --select`; default: the plan's choice by dbt version). `on_output` receives each line dbt prints (`on_idle`
    is called while dbt is silent),
    `on_attempt` each finished attempt.

    A SIGTERM or SIGINT (in the main thread) is forwarded to dbt's process group; dbt gets `grace_s`
    seconds to stop before the group is killed, then `RunInterrupted` ends the run (exit 143 / 130).
    """
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise UsageError(f"max retries must be a whole number >= 0, got {max_retries!r}")
    invocation = DbtInvocation.parse(dbt_args)
    if not invocation.command:
        raise UsageError(f"no dbt subcommand in {' '.join(dbt_args)!r} (e.g. `dbt build`)")
    workdir = Path(project_dir) if project_dir is not None else Path.cwd()
    environment = dict(os.environ if env is None else env)
    project = resolve_project_dir(invocation, workdir, environment)
    target = resolve_target_dir(project, invocation.option("--target-path"), env=environment)
    backoff = backoff or Backoff(DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_CAP)
    _forget_attempt_files(target)

    with StopSignals(grace_s) as stops:
        attempts: list[Attempt] = []
        pending = _Pending(list(invocation.argv), "initial")
        adapter: str | None = None
        while True:
            number = len(attempts) + 1
            results_file = target / RUN_RESULTS_FILE
            before = _stat_key(results_file)
            executed = execute(pending.argv, workdir, environment, on_output, stops, on_idle)
            fresh = results_file.exists() and _stat_key(results_file) != before
            run, saved, plan = _judge(target, fresh, number, executed, adapter)
            if run is not None and run.adapter_type:
                adapter = run.adapter_type
            attempt = Attempt(
                number=number,
                command=tuple(pending.argv),
                rerun=pending.rerun,
                retried=pending.retried,
                reason=pending.reason,
                evidence=pending.evidence,
                backoff_s=pending.backoff_s,
                exit_code=executed.exit_code,
                duration_s=executed.duration_s,
                outcome=dict(sorted(Counter(r.status for r in run.results).items()))
                if run is not None
                else {},
                run_results=saved,
                plan=plan,
                error=(plan.failures[0].message or None) if plan.before_nodes and plan.failures else None,
            )
            attempts.append(attempt)
            if on_attempt is not None:
                on_attempt(attempt)

            stopped = stop_reason(attempt, max_retries)
            if stopped is not None:
                return RunSummary(tuple(attempts), final_exit_code(attempt), stopped, project, target)
            delay = backoff.delay(number - 1)
            if delay > 0:
                sleep(delay)
            pending = _next(plan, invocation, pending.argv, run, strategy)
            pending.backoff_s = delay


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _forget_attempt_files(target: Path) -> None:
    """Remove the attempt copies of an earlier recovery run, so the record holds only this one's."""
    if not target.is_dir():
        return
    for old in target.glob(ATTEMPT_FILE.format(n="*")):
        old.unlink(missing_ok=True)


def _judge(
    target: Path, fresh: bool, number: int, executed: Executed, adapter: str | None
) -> tuple[Run | None, Path | None, RetryPlan]:
    """Load this attempt's artifacts (when dbt wrote any), keep a copy of its run_results, and plan."""
    if not fresh:
        return (
            None,
            None,
            plan_retry(None, exit_code=executed.exit_code, output=executed.output, adapter=adapter),
        )
    saved = target / ATTEMPT_FILE.format(n=number)
    try:
        shutil.copyfile(target / RUN_RESULTS_FILE, saved)
    except OSError as exc:
        raise PipewatchError(
            f"{saved}: cannot save this attempt's run_results: {exc.strerror or exc}"
        ) from None
    try:
        run = load_run(target)
    except ArtifactError as exc:
        plan = RetryPlan(
            should_retry=False,
            reason=f"cannot read what dbt wrote: {exc}",
            retry_nodes=(),
            rerun_selection=(),
            strategy="none",
            blocking=(),
        )
        return None, saved, plan
    return run, saved, plan_retry(run, exit_code=executed.exit_code, output=executed.output, adapter=adapter)


def _next(
    plan: RetryPlan, invocation: DbtInvocation, previous: list[str], run: Run | None, forced: Strategy | None
) -> _Pending:
    """The attempt that follows a retryable one."""
    evidence = tuple(
        {"unique_id": f.unique_id, "category": f.category, "evidence": str(f.evidence), "message": f.message}
        for f in plan.retryable_failures
    )
    if plan.before_nodes or plan.strategy == "rerun command":
        # Nothing ran, so nothing narrower exists: repeat what failed (the user's command or a `dbt retry`,
        # which still finds the run_results of the last attempt that ran nodes).
        return _Pending(list(previous), "command", (), plan.reason, evidence)
    strategy = forced if forced in ("dbt retry", "dbt build --select") else plan.strategy
    if strategy == "dbt retry":
        argv = invocation.retry_argv()
    else:
        argv = invocation.select_argv(selectors(plan.rerun_selection, run))
    return _Pending(argv, "nodes", plan.rerun_selection, plan.reason, evidence)


def selectors(unique_ids: Sequence[str], run: Run | None) -> list[str]:
    """dbt `--select` arguments for unique ids: each node's name (`model.shop.orders` -> `orders`)."""
    names: list[str] = []
    for unique_id in unique_ids:
        node = run.nodes.get(unique_id) if run is not None else None
        name = (node or stub_node(unique_id)).name
        if unique_id.startswith("unit_test."):
            name = f"unit_test:{name}"
        if name not in names:
            names.append(name)
    return names
