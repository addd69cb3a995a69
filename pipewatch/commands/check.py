"""`pipewatch check`: run the quality rules (and the project's dbt tests) on the warehouse, then gate.

Loads the last run's artifacts when there are any (for `model:` names and `--dbt-tests`), opens the
warehouse (`--duckdb PATH` natively, else the project's dbt profile through its adapter), runs every
check through the fused engine, prints the report, records it in history against the run's
invocation, and exits 0 when the gate passes, 1 when it fails (an error-severity check failed or the
score is below `--min-score`), 2 for invalid rule files or flags, 3 when the warehouse is unreachable.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipewatch.commands.common import (
    history_options,
    project_dir_option,
    quality_options,
    target_path_option,
    view_options,
    wants_color,
    warn,
    write_output,
)
from pipewatch.errors import UsageError

if TYPE_CHECKING:
    from pipewatch.artifacts.model import Run
    from pipewatch.rules.results import QualityReport


class _SelectOption(click.Option):
    """dbt's `--select a b --exclude c`: an option that takes every word up to the next option, and
    space-separated words in one value, as dbt's own MultiOption does (which costs seconds to import)."""

    def add_to_parser(self, parser: Any, ctx: click.Context) -> Any:
        """Hook the option's parser so it swallows the words that follow its first value."""
        added = super().add_to_parser(parser, ctx)
        for name in self.opts:
            option = parser._long_opt.get(name) or parser._short_opt.get(name)
            if option is None:
                continue
            previous = option.process

            def process(value: str, state: Any, option: Any = option, previous: Any = previous) -> None:
                words = value.split()
                while state.rargs and not any(state.rargs[0].startswith(p) for p in option.prefixes):
                    words += state.rargs.pop(0).split()
                for word in words:
                    previous(word, state)

            option.process = process
            break
        return added


@click.command("check")
@quality_options
@click.option(
    "--select",
    "-s",
    "select",
    cls=_SelectOption,
    multiple=True,
    help="dbt tests to run, in dbt's selection syntax (as `dbt test --select`; with --dbt-tests).",
)
@click.option(
    "--exclude", cls=_SelectOption, multiple=True, help="dbt tests to leave out, in dbt's selection syntax."
)
@click.option(
    "--store-failures",
    is_flag=True,
    help="Store every dbt test's failing rows in the audit schema, as `dbt test --store-failures`.",
)
@click.option("--vars", "dbt_vars", default=None, help="dbt's --vars: a YAML mapping the profile can read.")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Statements run at once (default: the dbt profile's threads).",
)
@project_dir_option
@target_path_option
@view_options
@history_options("to record into", without="Do not record the checks.")
def check_command(
    rules_path: Path | None,
    dbt_tests: bool,
    project_dir: Path,
    target_path: str | None,
    duckdb_path: Path | None,
    profiles_dir: Path | None,
    dbt_target: str | None,
    profile: str | None,
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    store_failures: bool,
    dbt_vars: str | None,
    threads: int | None,
    samples: int,
    min_score: float | None,
    fmt: str,
    output: Path | None,
    color: bool | None,
    history_path: Path | None,
    no_history: bool,
) -> None:
    """Run quality rules (and, with --dbt-tests, the dbt tests) inside the warehouse, one scan per table.

    Exit codes: 0 gate passed, 1 gate failed, 2 usage or rule-file error, 3 warehouse unreachable.
    """
    from pipewatch.commands.guard import refuse_outputs_over_inputs
    from pipewatch.config import load_config, resolve_target_dir
    from pipewatch.outputs import render_check
    from pipewatch.rules.api import check_project
    from pipewatch.rules.scoring import gate

    # Before any check runs or history is written: an output over an input would destroy it.
    refuse_outputs_over_inputs(click.get_current_context().params)
    config = load_config(project_dir)
    if (select or exclude) and not dbt_tests:
        raise UsageError("--select/--exclude pick dbt tests: pass --dbt-tests too")
    if store_failures and not dbt_tests:
        raise UsageError("--store-failures stores dbt tests' failures: pass --dbt-tests too")
    target_dir = resolve_target_dir(project_dir, target_path, config.target_path)
    run = _load_run(target_dir)
    if run is not None:
        for message in run.warnings:
            warn(message)
    report = check_project(
        config,
        rules_path=rules_path,
        dbt_tests=dbt_tests,
        run=run,
        samples=samples,
        duckdb=duckdb_path,
        project_dir=project_dir,
        profiles_dir=profiles_dir,
        target=dbt_target,
        profile=profile,
        select=select,
        exclude=exclude,
        store_failures=store_failures,
        vars=_vars(dbt_vars),
        threads=threads,
        manifest_path=target_dir / "manifest.json",
    )
    passed, reasons = gate(report, min_score if min_score is not None else config.min_score)
    if not no_history:
        note = _record(report, run, history_path or config.history_file())
        if note:
            click.echo(f"pipewatch: {note}", err=True)
    write_output(
        render_check(report, fmt, passed=passed, reasons=reasons, color=wants_color(color, output, fmt)),
        output,
    )
    sys.exit(0 if passed else 1)


def _vars(text: str | None) -> dict[str, Any]:
    """dbt's `--vars` (a YAML or JSON mapping) as a dict; UsageError (exit 2) when it is not one."""
    if text is None:
        return {}
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"--vars: not YAML: {' '.join(str(exc).split())}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError("--vars: expected a mapping such as '{key: value}'")
    return value


def _load_run(target_dir: Path) -> Run | None:
    """The last run's artifacts when dbt left any (checks on `relation:` tables need none)."""
    from pipewatch.artifacts import load_run

    if not target_dir.is_dir() or not any(
        (target_dir / name).is_file() for name in ("manifest.json", "run_results.json")
    ):
        return None
    return load_run(target_dir)


def _record(report: QualityReport, run: Run | None, path: Path | None) -> str | None:
    """Record the checks against the run's invocation; a note for stderr when that was not possible."""
    if path is None or not report.checks:
        return None
    if run is None or not run.results:
        return "history: checks not recorded (no dbt run_results.json to attach them to)"
    from pipewatch.history import HistoryError, HistoryStore

    try:
        result = HistoryStore(path).ingest(run, quality=report)
    except HistoryError as exc:
        return f"history: checks not recorded: {exc}"
    if not result.check_results:
        return f"history: checks of run {result.invocation_id} were already recorded"
    return None
