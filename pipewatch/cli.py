"""The `pipewatch` command line: parse flags, call the library, map errors to exit codes.

Commands stay thin; every decision lives in the library so the Python API and the CLI agree.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipewatch import __version__
from pipewatch.commands.common import (
    handle_errors,
    history_options,
    project_dir_option,
    quality_options,
    resolve_target_dir,
    target_path_option,
    view_options,
    wants_color,
    warn,
    write_output,
)
from pipewatch.outputs import render


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pipewatch")
def main() -> None:
    """pipewatch: the quality sidecar you run after `dbt build`."""


@main.command("after-run")
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
@click.option("--no-rules", is_flag=True, help="Skip the quality checks pipewatch.yml `rules:` turns on.")
@handle_errors
def after_run(
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
) -> None:
    """Analyse the artifacts of the last dbt invocation: failures, impact, owners, critical path, gate.

    With --rules or --dbt-tests (or `rules:` in pipewatch.yml) the quality checks run too, and the gate
    also fails on a failed error-severity check or a score below --min-score.
    Exit codes: 0 gate passed, 1 gate failed, 2 usage or input error, 3 warehouse or store unreachable.
    """
    from pipewatch.after_run import AfterRunOptions, QualityRequest, after_run
    from pipewatch.config import load_config

    config = load_config(project_dir)
    if min_score is not None:
        config.min_score = min_score
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
    )
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


@main.command("lineage")
@click.argument("node")
@project_dir_option
@target_path_option
@click.option("--depth", type=click.IntRange(min=1), default=None, help="Levels up and down (default: all).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@handle_errors
def lineage_cmd(node: str, project_dir: Path, target_path: str | None, depth: int | None, fmt: str) -> None:
    """Print NODE's upstream and downstream with each node's status in the last run.

    NODE is a unique id (`model.shop.orders`) or a bare name (`orders`) when that name is unambiguous.
    """
    from pipewatch.analysis import node_lineage
    from pipewatch.artifacts import load_run
    from pipewatch.config import load_config
    from pipewatch.outputs.lineage_view import render_lineage

    config = load_config(project_dir)
    run = load_run(resolve_target_dir(project_dir, target_path, config.target_path))
    view = node_lineage(run, node, depth)
    write_output(render_lineage(view, fmt), None)


@main.command("classify")
@click.argument("message", required=False)
@click.option(
    "--adapter", default=None, help="The dbt adapter that produced the message (duckdb, postgres, ...)."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@handle_errors
def classify_cmd(message: str | None, adapter: str | None, fmt: str) -> None:
    """Classify an error MESSAGE (or one message per line on stdin) the way after-run triages failures."""
    import json

    from pipewatch.errors import UsageError
    from pipewatch.triage import classify, known_adapters

    if adapter is not None and adapter.lower() not in known_adapters():
        raise UsageError(f"unknown --adapter {adapter!r}; known: {', '.join(known_adapters())}")
    if message is not None:
        messages = [message]
    else:
        # Binary garbage on stdin is still classified (as unknown), never a decode traceback.
        raw = sys.stdin.buffer.read()
        messages = [line for line in raw.decode("utf-8", errors="replace").splitlines() if line.strip()]
    for text in messages:
        verdict = classify(text, adapter)
        if fmt == "json":
            click.echo(json.dumps({"message": text[:500], **verdict.to_dict()}))
        else:
            target = (
                f" to {verdict.escalate_to}" if verdict.escalate_to and verdict.action == "escalate" else ""
            )
            click.echo(f"{verdict.category}\t{verdict.action}{target}\t{verdict.evidence}")


def _register() -> None:
    from pipewatch.commands.check import check_command
    from pipewatch.commands.history import history
    from pipewatch.commands.init import init_command
    from pipewatch.commands.report import report_command
    from pipewatch.commands.run import retry_plan_command, run_command

    main.add_command(run_command, "run")
    main.add_command(retry_plan_command, "retry-plan")
    main.add_command(history, "history")
    main.add_command(report_command, "report")
    main.add_command(check_command, "check")
    main.add_command(init_command, "init")


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
