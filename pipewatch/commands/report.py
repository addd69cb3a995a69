"""`pipewatch report`: write the self-contained HTML report of the last dbt invocation.

Reads the artifacts (and, when there is one, the history store for trends and anomalies); writes one
HTML file. It never writes to the history store: recording runs is `after-run`'s job.
"""

from __future__ import annotations

from pathlib import Path

import click

from pipewatch.commands.common import (
    history_options,
    output_option,
    project_dir_option,
    target_path_option,
    warn,
)
from pipewatch.commands.guard import refuse_outputs_over_inputs

DEFAULT_OUTPUT = Path("pipewatch-report.html")


@click.command("report")
@project_dir_option
@target_path_option
@output_option("Where to write the HTML file.", DEFAULT_OUTPUT, short=True)
@history_options("for trends", without="Leave trends and anomalies out.")
@click.option(
    "--runs",
    type=click.IntRange(min=2, max=10000),
    default=60,
    show_default=True,
    help="How many past runs the trend charts show.",
)
def report_command(
    project_dir: Path,
    target_path: str | None,
    output: Path,
    history_path: Path | None,
    no_history: bool,
    runs: int,
) -> None:
    """Write the HTML report of the last dbt invocation: failures, lineage, timeline, quality, trends."""
    from pipewatch.after_run import write_report
    from pipewatch.config import load_config, resolve_target_dir

    refuse_outputs_over_inputs(click.get_current_context().params)
    config = load_config(project_dir)
    written, warnings = write_report(
        resolve_target_dir(project_dir, target_path, config.target_path),
        config,
        output,
        history=None if no_history else (history_path or config.history_file()),
        runs=runs,
    )
    for message in warnings:
        warn(message)
    click.echo(f"pipewatch: report written to {written}", err=True)
