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
    from pipewatch.analysis import Anomaly, analyze
    from pipewatch.artifacts import load_run
    from pipewatch.config import load_config, resolve_target_dir
    from pipewatch.outputs.html_report import history_points_from_store, write_html_report

    refuse_outputs_over_inputs(click.get_current_context().params)
    config = load_config(project_dir)
    run = load_run(resolve_target_dir(project_dir, target_path, config.target_path))
    points = None
    anomalies: list[Anomaly] = []
    store_file = None if no_history else (history_path or config.history_file())
    if store_file is not None and store_file.is_file():
        from pipewatch.history.anomalies import detect_anomalies
        from pipewatch.history.ingest import invocation_key
        from pipewatch.history.store import HistoryStore

        store = HistoryStore(store_file)
        points = history_points_from_store(store, limit=runs, project=run.project_name)
        recorded = {p.get("invocation_id") for p in points}
        if invocation_key(run) in recorded:
            anomalies = detect_anomalies(store, invocation_key(run))
    outcome = analyze(run, config, anomalies=anomalies)
    for message in outcome.warnings:
        warn(message)
    written = write_html_report(outcome, output, history_points=points)
    click.echo(f"pipewatch: report written to {written}", err=True)
