"""`pipewatch run -- dbt build ...` (run dbt, retrying what is retryable) and `pipewatch retry-plan`.

The commands only parse flags and print; the decisions live in `pipewatch.triage.retry` (the plan) and
`pipewatch.runner` (the attempts). Registered on the main group by `pipewatch.cli`.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pipewatch.backoff import Backoff
from pipewatch.commands.common import (
    history_options,
    project_dir_option,
    target_path_option,
    warn,
)
from pipewatch.config import resolve_target_dir
from pipewatch.runner import (
    DEFAULT_GRACE_S,
    Attempt,
    RunInterrupted,
    RunSummary,
    plan_last_run,
    rerun_wrote_nothing,
    run_with_retries,
)
from pipewatch.triage.retry import DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_CAP, RetryPlan

if TYPE_CHECKING:
    from pipewatch.monitor import Monitor

F = TypeVar("F", bound=Callable[..., Any])


def _seconds_option(name: str, default: float, purpose: str) -> Callable[[F], F]:
    """A `--name SECONDS` option (a number >= 0) of `pipewatch run`."""
    return click.option(
        name, type=click.FloatRange(min=0), default=default, show_default=True, help=f"Seconds; {purpose}"
    )


@click.command(
    "run",
    context_settings={
        "ignore_unknown_options": True,
        "allow_interspersed_args": False,
        "help_option_names": ["-h", "--help"],
    },
)
@click.option(
    "--max-retries",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Reruns allowed after the first attempt.",
)
@_seconds_option(
    "--backoff-base", DEFAULT_BACKOFF_BASE, "retry n waits a random time up to min(cap, base * 2**n)."
)
@_seconds_option("--backoff-cap", DEFAULT_BACKOFF_CAP, "the longest any single wait may be.")
@_seconds_option(
    "--grace-period", DEFAULT_GRACE_S, "when pipewatch gets SIGTERM/SIGINT, how long dbt may take to stop."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@history_options("to record every attempt into", without="Do not record the attempts.")
@click.option(
    "--live/--no-live",
    default=None,
    help="The live view on stderr: progress, running nodes, ETA, failures (default: when stderr is a "
    "terminal); --no-live shows dbt's own lines.",
)
@click.option("--slack", is_flag=True, help="Alert Slack while dbt runs and post the summary at the end.")
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def run_command(
    max_retries: int,
    backoff_base: float,
    backoff_cap: float,
    grace_period: float,
    fmt: str,
    history_path: Path | None,
    no_history: bool,
    live: bool | None,
    slack: bool,
    dbt_args: tuple[str, ...],
) -> None:
    """Run a dbt command and retry its transient failures: `pipewatch run -- dbt build [dbt args...]`.

    Reruns only what failed and what dbt skipped because of it (`dbt retry` on dbt >= 1.6), with
    exponential backoff and full jitter; any non-retryable error stops at once. dbt's own output goes to
    stderr; each attempt's summary and a final table (or, with --format json, the attempts) to stdout.
    Exits with the final attempt's code: 0 success, 1 dbt reported failures (also when a rerun exited 0
    without writing results), 2 dbt crashed or bad usage. On SIGTERM/SIGINT dbt and everything it started
    are stopped (after --grace-period, killed) and pipewatch exits 143/130.

    dbt is asked for JSON logs (`--log-format json`) on its own pipe; pipewatch shows the live view
    (or dbt's own lines) and, with --slack, alerts failures and long-running nodes as they happen and
    posts after-run's summary once dbt is done.
    """
    from pipewatch.runner.early import json_log_argv

    backoff = Backoff(base=backoff_base, cap=backoff_cap)
    as_json = fmt == "json"
    argv = json_log_argv(dbt_args) if dbt_args else []
    monitor = live_monitor(argv, live, slack, history_path, no_history)

    def show_attempt(attempt: Attempt) -> None:
        if monitor is not None:
            monitor.display.release()  # the live block stays above the attempt line
        click.echo(attempt_line(attempt, max_retries), err=as_json)

    def wait(seconds: float) -> None:
        click.echo(f"waiting {seconds:.1f}s before retrying", err=as_json)
        time.sleep(seconds)

    try:
        summary = run_with_retries(
            argv,
            max_retries=max_retries,
            backoff=backoff,
            sleep=wait,
            on_output=(lambda line: monitor.feed(line.encode())) if monitor else _show_dbt_line,
            on_idle=monitor.idle if monitor else None,
            on_attempt=show_attempt,
            grace_s=grace_period,
        )
    except RunInterrupted:
        if monitor is not None:
            from pipewatch.monitor import summary_lines

            result = monitor.finish("interrupted")
            for line in [*summary_lines(result), *monitor.conclude(result, run_after_run=False).notes]:
                click.echo(line if line.startswith("pipewatch:") else f"pipewatch: {line}", err=True)
        raise
    if monitor is not None:
        result = monitor.finish()
        if monitor.slack is not None:
            concluded = monitor.conclude(result)
            for note in concluded.notes + (concluded.result.notes if concluded.result else []):
                click.echo(f"pipewatch: {note}", err=True)
    if not no_history:
        record_attempts(summary, history_path)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        click.echo(render_summary(summary))
    sys.exit(summary.exit_code)


def _show_dbt_line(line: str) -> None:
    """dbt's own text of one JSON log line, on stderr (the `--no-live` view)."""
    from pipewatch.live.view import clean
    from pipewatch.runner.process import readable

    click.echo(clean(readable(line), one_line=False, limit=4000).rstrip("\n"), err=True)


def live_monitor(
    argv: list[str], live: bool | None, slack: bool, history_path: Path | None, no_history: bool
) -> Monitor | None:
    """The monitor for `pipewatch run` (None when neither the live view nor Slack is wanted)."""
    live = sys.stderr.isatty() if live is None else live
    if not (live or slack) or not argv:
        return None
    from pipewatch.config import load_config
    from pipewatch.monitor import LiveDisplay
    from pipewatch.monitor import Monitor as LiveMonitor
    from pipewatch.runner.invocation import DbtInvocation, resolve_project_dir

    invocation = DbtInvocation.parse(argv)
    project = resolve_project_dir(invocation, Path.cwd(), os.environ)
    config = load_config(project)
    target = resolve_target_dir(project, invocation.option("--target-path"), env=os.environ)
    history = None if no_history else (history_path or config.history_file())
    if live:
        display = LiveDisplay("block" if sys.stderr.isatty() else "lines", sys.stderr)
    else:
        display = LiveDisplay("dbt", sys.stderr)
    return LiveMonitor(target_dir=target, config=config, history=history, display=display, slack=slack)


def record_attempts(summary: RunSummary, history_path: Path | None) -> None:
    """Record every attempt that ran nodes into the history store (each is its own dbt invocation).

    A history problem is a warning: the retries already happened and their exit code stands.
    """
    from pipewatch.artifacts import load_run
    from pipewatch.config import load_config
    from pipewatch.errors import PipewatchError
    from pipewatch.history import HistoryStore

    path = history_path or load_config(summary.project_dir).history_file()
    saved = [a.run_results for a in summary.attempts if a.run_results is not None]
    if path is None or not saved:
        return
    manifest = summary.target_dir / "manifest.json"
    store = HistoryStore(path)
    try:
        for run_results in saved:
            run = load_run(
                summary.target_dir, manifest=manifest if manifest.is_file() else None, run_results=run_results
            )
            store.ingest(run)
    except PipewatchError as exc:
        warn(f"attempts not recorded in history: {exc}")


@click.command("retry-plan", context_settings={"help_option_names": ["-h", "--help"]})
@project_dir_option
@target_path_option
@click.option(
    "--log-path",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="dbt's log dir holding dbt.log (default: DBT_LOG_PATH, else <project>/logs).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def retry_plan_command(project_dir: Path, target_path: str | None, log_path: Path | None, fmt: str) -> None:
    """Print what `pipewatch run` would do about the last dbt invocation, without running anything."""
    from pipewatch.config import load_config

    config = load_config(project_dir)
    target = resolve_target_dir(project_dir, target_path, config.target_path)
    if log_path is None and os.environ.get("DBT_LOG_PATH"):
        log_path = Path(os.environ["DBT_LOG_PATH"])
    if log_path is not None and not log_path.is_absolute():
        log_path = project_dir / log_path
    plan = plan_last_run(project_dir, target, log_path)
    if fmt == "json":
        click.echo(json.dumps(plan.to_dict(), indent=2))
    else:
        click.echo(render_plan(plan))


def _short_command(argv: tuple[str, ...]) -> str:
    """The command as a user would type it: `dbt build --select x` (the executable's path dropped)."""
    if not argv:
        return ""
    return shlex.join([Path(argv[0]).name, *argv[1:]])


def _outcome(attempt: Attempt) -> str:
    if not attempt.outcome:
        return "no node ran"
    return ", ".join(f"{status} {count}" for status, count in attempt.outcome.items())


def attempt_line(attempt: Attempt, max_retries: int) -> str:
    """One line per finished attempt: what ran, how it ended, and what comes next."""
    plan = attempt.plan
    head = (
        f"attempt {attempt.number}/{max_retries + 1}: {_short_command(attempt.command)} -> "
        f"exit {attempt.exit_code} after {attempt.duration_s:.1f}s ({_outcome(attempt)})"
    )
    if rerun_wrote_nothing(attempt):
        return f"{head}; wrote no run_results.json, so not a success"
    if attempt.exit_code == 0:
        return head
    verdict = "retryable" if plan.should_retry else "not retryable"
    return f"{head}; {verdict}: {plan.reason}"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


def _retried(attempt: Attempt) -> str:
    if attempt.rerun == "initial":
        return "-"
    if attempt.rerun == "command":
        return "whole command"
    names = [uid.split(".")[2] if uid.count(".") >= 2 else uid for uid in attempt.retried]
    shown = ", ".join(names[:3])
    return shown + (f" +{len(names) - 3}" if len(names) > 3 else "")


def _why(attempt: Attempt) -> str:
    if attempt.rerun == "initial":
        return "first run"
    categories = sorted({str(e.get("category")) for e in attempt.evidence})
    signatures = sorted({str(e.get("evidence", "")).split(" ", 1)[0] for e in attempt.evidence})
    return f"{'/'.join(categories) or 'retryable'}: {', '.join(s for s in signatures if s)}"


def render_summary(summary: RunSummary) -> str:
    """The final attempt table and how the recovery run ended."""
    rows = [["#", "command", "retried", "backoff", "exit", "duration", "outcome", "why"]]
    for a in summary.attempts:
        rows.append(
            [
                str(a.number),
                _short_command(a.command),
                _retried(a),
                f"{a.backoff_s:.1f}s",
                str(a.exit_code),
                f"{a.duration_s:.1f}s",
                _outcome(a),
                _why(a),
            ]
        )
    return f"{_table(rows)}\n{summary.stopped} (exit {summary.exit_code})"


def render_plan(plan: RetryPlan) -> str:
    """The retry plan for humans: the verdict, the strategy, what would rerun, and what blocks it."""
    lines = [f"retry: {'yes' if plan.should_retry else 'no'} - {plan.reason}"]
    if plan.should_retry:
        lines.append(f"strategy: {plan.strategy}")
    if plan.dbt_version:
        lines.append(f"dbt version: {plan.dbt_version}")
    for failure in plan.retryable_failures:
        lines.append(
            f"retryable: {failure.unique_id or '(before any node)'} {failure.category}: {failure.evidence}"
        )
    if plan.rerun_selection:
        lines.append(f"rerun ({len(plan.rerun_selection)}):")
        lines.extend(f"  {uid}" for uid in plan.rerun_selection)
    if plan.blocking:
        lines.append("blocking:")
        for b in plan.blocking:
            who = f" -> {b.escalate_to}" if b.escalate_to else ""
            lines.append(f"  {b.unique_id or '(before any node)'}  {b.category}{who}: {b.evidence}")
            if b.message:
                lines.append(f"    {b.message}")
    return "\n".join(lines)
