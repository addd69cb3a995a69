"""`pipewatch after-run` as one straight pass: load, analyse, (check), record, detect, deliver.

The CLI parses flags into `AfterRunOptions` and renders what `after_run` returns; everything with
side effects (history, Slack, report files, metrics files) happens here, in the order that makes
each step see the previous one: the run is recorded before anomalies are judged and before the
report reads its trends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipewatch.analysis import Outcome, analyze
from pipewatch.artifacts import Run, load_run
from pipewatch.config import Config
from pipewatch.rules.results import QualityReport


@dataclass(frozen=True, slots=True)
class QualityRequest:
    """Which checks after-run should run, and on which warehouse (the `check` command's flags)."""

    rules_path: Path | None = None
    dbt_tests: bool = False
    duckdb: Path | None = None
    project_dir: Path = Path(".")
    profiles_dir: Path | None = None
    target: str | None = None
    profile: str | None = None
    samples: int = 5


@dataclass(slots=True)
class AfterRunOptions:
    """What one after-run should do besides analysing the artifacts."""

    target_dir: Path
    config: Config
    history: Path | None = None  # the store to record into; None: no history
    quality: QualityRequest | None = None  # checks to run against this invocation's tables
    slack: bool = False
    report: Path | None = None
    prometheus: Path | None = None


@dataclass(slots=True)
class AfterRunResult:
    """The outcome, and one line per side effect for the terminal (stderr)."""

    outcome: Outcome
    notes: list[str] = field(default_factory=list)


def after_run(options: AfterRunOptions) -> AfterRunResult:
    """Analyse the last dbt invocation and carry out every requested side effect."""
    config = options.config
    run = load_run(options.target_dir)
    quality = run_requested_checks(options.quality, config, run) if options.quality else None
    outcome = analyze(run, config, quality=quality)
    result = AfterRunResult(outcome)
    store = None
    if options.history is not None:
        from pipewatch.history import AnomalyConfig, HistoryError, HistoryStore, record_and_detect

        store = HistoryStore(options.history)
        anomaly_config = AnomalyConfig.from_mapping(config.extra.get("anomalies"), str(config.source))
        try:
            ingested, outcome.anomalies = record_and_detect(
                store, run, quality=quality, freshness=outcome.freshness, config=anomaly_config
            )
        except HistoryError as exc:
            # A broken or busy history store must not hide the run's own verdict: warn, go on.
            outcome.warnings.append(f"history not recorded: {exc}")
            store = None
        else:
            if not ingested.recorded:
                result.notes.append(f"history: run {ingested.invocation_id} was already recorded")
    if options.slack:
        from pipewatch.outputs.slack import notify

        report = notify(outcome, config, store)
        result.notes.append(f"slack: {report.summary()}")
    if options.report is not None:
        from pipewatch.outputs.html_report import write_html_report

        write_html_report(outcome, options.report, store=store)
        result.notes.append(f"report: wrote {options.report}")
    if options.prometheus is not None:
        from pipewatch.outputs.prometheus import write_prometheus

        write_prometheus(outcome, options.prometheus)
        result.notes.append(f"prometheus: wrote {options.prometheus}")
    return result


def run_requested_checks(request: QualityRequest, config: Config, run: Run) -> QualityReport:
    """Run the requested rules and dbt tests on one warehouse connection, closed whatever happens."""
    from pipewatch.rules.api import check_project

    return check_project(
        config,
        rules_path=request.rules_path,
        dbt_tests=request.dbt_tests,
        run=run,
        samples=request.samples,
        duckdb=request.duckdb,
        project_dir=request.project_dir,
        profiles_dir=request.profiles_dir,
        target=request.target,
        profile=request.profile,
    )
