"""`pipewatch watch SOURCE`: follow a running dbt build's JSON log, alert while it runs, then after-run.

SOURCE `-` reads standard input (`dbt build --log-format json | pipewatch watch -`); a path follows
a log file (`--log-format-file json` writes logs/dbt.log) like `tail -f`, from its newest
invocation until that invocation completes. `pipewatch.monitor` does the work.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipewatch.commands.common import history_options, project_dir_option, target_path_option, warn


@click.command("watch", context_settings={"help_option_names": ["-h", "--help"]})
@project_dir_option
@target_path_option
@history_options("to read durations from and record into", without="Do not read or record history.")
@click.option("--slack", is_flag=True, help="Alert Slack during the build and post the summary at the end.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: the live view on stderr, the after-run report on stdout; json: NDJSON events on stdout.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds to wait for the build to complete (default: no limit).",
)
@click.argument("source")
def watch_command(
    project_dir: Path,
    target_path: str | None,
    history_path: Path | None,
    no_history: bool,
    slack: bool,
    fmt: str,
    timeout: float | None,
    source: str,
) -> None:
    """Follow a running dbt build (SOURCE: `-` for stdin, or dbt's JSON log file) and alert as it runs.

    At the end it does what after-run does (analysis, gate, history, Slack summary naming the alerts
    already sent). Exit codes: after-run's (0 gate passed, 1 gate failed, 2 input error, 3 store
    unreachable); 1 also when the log ended (or --timeout passed) before dbt completed; 130 on
    SIGINT, after a summary of what was seen.
    """
    from pipewatch.config import load_config, resolve_target_dir
    from pipewatch.errors import UsageError
    from pipewatch.monitor import LiveDisplay, Monitor, ndjson_outcome, summary_lines
    from pipewatch.outputs import render

    if source != "-" and not Path(source).exists() and timeout is None:
        # A path that never appears would be waited for forever.
        raise UsageError(f"{source}: no such log file (give --timeout to wait for it to appear)")
    config = load_config(project_dir)
    target_dir = resolve_target_dir(project_dir, target_path, config.target_path)
    history = None if no_history else (history_path or config.history_file())
    if fmt == "json":
        display = LiveDisplay("json", sys.stdout)
    else:
        display = LiveDisplay("block" if sys.stderr.isatty() else "lines", sys.stderr)
    monitor = Monitor(target_dir=target_dir, config=config, history=history, display=display, slack=slack)
    result = monitor.follow(source, timeout)
    if result.ended == "interrupted":
        concluded = monitor.conclude(result, run_after_run=False)
        for line in summary_lines(result):
            click.echo(line, err=True)
        for note in concluded.notes:
            click.echo(f"pipewatch: {note}", err=True)
        click.echo("pipewatch: interrupted (SIGINT): stopped watching; dbt itself was not touched", err=True)
        sys.exit(130)
    concluded = monitor.conclude(result)
    for line in summary_lines(result) if concluded.result is None else []:
        click.echo(line, err=True)
    if concluded.result is not None:
        for message in concluded.result.outcome.warnings:
            warn(message)
        for note in concluded.result.notes:
            click.echo(f"pipewatch: {note}", err=True)
    for note in concluded.notes:
        click.echo(f"pipewatch: {note}", err=True)
    if fmt == "json":
        click.echo(ndjson_outcome(concluded))
    elif concluded.result is not None:
        click.echo(render(concluded.result.outcome, "text"), nl=False)
    sys.exit(concluded.exit_code)
