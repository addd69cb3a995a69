"""`pipewatch after-run`: analyse the last dbt invocation, deliver what was asked, exit with the gate.

Flags become `AfterRunOptions`; `pipewatch.after_run.after_run` does the work; this module prints what
it returns. Exit codes: 0 gate passed, 1 gate failed, 2 usage or input error, 3 warehouse or store
unreachable (the group in `pipewatch.cli` maps errors to codes).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipewatch.commands.common import (
    ExclusiveOption,
    history_options,
    project_dir_option,
    quality_options,
    target_path_option,
    view_options,
    wants_color,
    warn,
    write_output,
)
from pipewatch.commands.guard import refuse_outputs_over_inputs

if TYPE_CHECKING:
    from pipewatch.schema_changes import SnapshotRequest


@click.command("after-run")
@project_dir_option
@target_path_option
@view_options
@history_options("to record into", without="Do not record this run or judge anomalies.")
@click.option(
    "--slack", is_flag=True, help="Alert Slack (webhook from PIPEWATCH_SLACK_WEBHOOK or pipewatch.yml)."
)
@click.option(
    "--report", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the HTML report."
)
@click.option("--github", is_flag=True, help="GitHub Actions: step summary and ::error annotations.")
@click.option(
    "--prometheus",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write node_exporter textfile-collector metrics to FILE.",
)
@quality_options
@click.option(
    "--no-rules",
    is_flag=True,
    cls=ExclusiveOption,
    excludes=("rules_path",),
    help="Skip the quality checks pipewatch.yml `rules:` turns on.",
)
@click.option(
    "--schema",
    "schema_from_warehouse",
    is_flag=True,
    help="Without a catalog.json of this build, read column snapshots from the warehouse's information schema.",
)
@click.option(
    "--allow-missing-results",
    is_flag=True,
    help="Accept a target dir without run_results.json (graph only); by default that is an input error.",
)
def after_run_command(
    project_dir: Path,
    target_path: str | None,
    fmt: str,
    output: Path | None,
    color: bool | None,
    history_path: Path | None,
    no_history: bool,
    slack: bool,
    report: Path | None,
    github: bool,
    prometheus: Path | None,
    rules_path: Path | None,
    dbt_tests: bool,
    duckdb_path: Path | None,
    profiles_dir: Path | None,
    dbt_target: str | None,
    profile: str | None,
    samples: int,
    min_score: float | None,
    no_rules: bool,
    schema_from_warehouse: bool,
    allow_missing_results: bool,
) -> None:
    """Analyse the artifacts of the last dbt invocation: failures, impact, owners, critical path, gate.

    With --rules or --dbt-tests (or `rules:` in pipewatch.yml) the quality checks run too, and the gate
    also fails on a failed error-severity check or a score below --min-score.
    Exit codes: 0 gate passed, 1 gate failed, 2 usage or input error, 3 warehouse or store unreachable.
    """
    from pipewatch.after_run import AfterRunOptions, QualityRequest, after_run
    from pipewatch.config import load_config, resolve_target_dir
    from pipewatch.outputs import render

    config = load_config(project_dir)
    if min_score is not None:
        config = replace(config, min_score=min_score)
    quality = None
    if rules_path is not None or dbt_tests or (config.rules_path and not no_rules):
        quality = QualityRequest(
            rules_path=rules_path,
            dbt_tests=dbt_tests,
            duckdb=duckdb_path,
            project_dir=project_dir,
            profiles_dir=profiles_dir,
            target=dbt_target,
            profile=profile,
            samples=samples,
        )
    options = AfterRunOptions(
        target_dir=resolve_target_dir(project_dir, target_path, config.target_path),
        config=config,
        quality=quality,
        history=None if no_history else (history_path or config.history_file()),
        slack=slack,
        report=report,
        prometheus=prometheus,
        allow_missing_results=allow_missing_results,
        schema=schema_request(
            schema_from_warehouse, duckdb_path, project_dir, profiles_dir, dbt_target, profile
        ),
    )
    refuse_outputs_over_inputs(click.get_current_context().params)
    result = after_run(options)
    outcome = result.outcome
    for message in outcome.warnings:
        warn(message)
    for note in result.notes:
        click.echo(f"pipewatch: {note}", err=True)
    write_output(render(outcome, fmt, color=wants_color(color, output, fmt)), output)
    if github:
        from pipewatch.outputs.github import github_report

        github_report(outcome, project_dir=project_dir)
    sys.exit(0 if outcome.gate.passed else 1)


def schema_request(
    warehouse: bool,
    duckdb_path: Path | None,
    project_dir: Path,
    profiles_dir: Path | None,
    target: str | None,
    profile: str | None,
) -> SnapshotRequest | None:
    """`--schema` as a snapshot request on the warehouse the quality flags name (None: pipewatch.yml decides)."""
    if not warehouse:
        return None
    from pipewatch.schema_changes import SnapshotRequest

    return SnapshotRequest(
        warehouse=True,
        duckdb=duckdb_path,
        project_dir=project_dir,
        profiles_dir=profiles_dir,
        target=target,
        profile=profile,
    )
