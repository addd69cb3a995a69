"""`pipewatch after-run` as one straight pass: load, analyse, (check), record, detect, deliver.

The CLI parses flags into `AfterRunOptions` and renders what `after_run` returns; everything with
side effects (history, Slack, report files, metrics files) happens here, in the order that makes
each step see the previous one: the run is recorded before anomalies are judged and before the
report reads its trends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipewatch.analysis import Outcome, analyze, relevant_freshness
from pipewatch.artifacts import Run, load_run
from pipewatch.artifacts.run import RUN_RESULTS_FILE
from pipewatch.config import Config
from pipewatch.errors import ArtifactError
from pipewatch.history.anomaly import Anomaly
from pipewatch.rules.results import QualityReport
from pipewatch.schema_changes import SchemaTracking, SnapshotRequest


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
    allow_missing_results: bool = False  # graph-only use: no run_results.json is not an error
    slack_already_sent: tuple[str, ...] = ()  # nodes `watch`/`run` alerted live: named, not repeated
    schema: SnapshotRequest | None = None  # where column snapshots may come from (None: catalog only)


@dataclass(slots=True)
class AfterRunResult:
    """The outcome, and one line per side effect for the terminal (stderr)."""

    outcome: Outcome
    notes: list[str] = field(default_factory=list)


def after_run(options: AfterRunOptions) -> AfterRunResult:
    """Analyse the last dbt invocation and carry out every requested side effect."""
    config = options.config
    run = load_run(options.target_dir)
    if "run_results" not in run.schema_versions and not options.allow_missing_results:
        # Without results there is nothing to gate on; passing would tell CI that a run that never
        # finished (or never started) was fine.
        raise ArtifactError(
            options.target_dir / RUN_RESULTS_FILE,
            "run_results not found; dbt writes it when a command finishes "
            "(pass --allow-missing-results to look at the graph alone)",
        )
    quality = run_requested_checks(options.quality, config, run) if options.quality else None
    freshness, _ = relevant_freshness(run)
    notes: list[str] = []
    warnings: list[str] = []
    anomalies: list[Anomaly] = []
    store = None
    schema = observe_schema(options, run, notes)
    if options.history is not None:
        from pipewatch.history import AnomalyConfig, HistoryError, HistoryStore
        from pipewatch.history.recorder import ColumnsToRecord, record_run

        store = HistoryStore(options.history)
        anomaly_config = AnomalyConfig.from_mapping(config.extra.get("anomalies"), str(config.source))
        snapshot = schema.snapshot if schema is not None else None
        columns = (
            ColumnsToRecord(snapshot.tables, schema.digests, snapshot.source) if schema and snapshot else None
        )
        try:
            recorded = record_run(
                store, run, quality=quality, freshness=freshness, config=anomaly_config, columns=columns
            )
            ingested, anomalies = recorded.ingest, recorded.anomalies
            if schema is not None:
                schema.compare(recorded.previous_columns, recorded.known_relations)
        except HistoryError as exc:
            # A broken or busy history store must not hide the run's own verdict: warn, go on.
            warnings.append(f"history not recorded: {exc}")
            store = None
        else:
            if not ingested.recorded:
                notes.append(f"history: run {ingested.invocation_id} was already recorded")
    outcome = analyze(run, config, quality=quality, anomalies=anomalies, warnings=warnings, schema=schema)
    if schema is not None:
        notes.extend(schema.notes)
    result = AfterRunResult(outcome, notes)
    if options.slack:
        from pipewatch.outputs.slack import notify

        report = notify(outcome, config, store, already_sent=options.slack_already_sent)
        notes.append(f"slack: {report.summary()}")
    if options.report is not None:
        from pipewatch.outputs.html_report import write_html_report

        write_html_report(outcome, options.report, store=store)
        notes.append(f"report: wrote {options.report}")
    if options.prometheus is not None:
        from pipewatch.outputs.prometheus import write_prometheus

        write_prometheus(outcome, options.prometheus)
        notes.append(f"prometheus: wrote {options.prometheus}")
    return result


def observe_schema(options: AfterRunOptions, run: Run, notes: list[str]) -> SchemaTracking | None:
    """The build's column snapshot for schema changes; None when they are off or history is off."""
    settings = options.config.schema
    if settings is not None and not settings.enabled:
        return None
    request = options.schema or SnapshotRequest(
        warehouse=settings is not None and settings.warehouse, project_dir=options.config.project_dir
    )
    if options.history is None:
        if request.warehouse or (settings is not None and settings.fail_on):
            notes.append("schema: history is off, so there are no previous columns to compare with")
        return None
    from pipewatch.schema_changes import observe

    return observe(run, options.target_dir, request)


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


def write_report(
    target_dir: Path, config: Config, output: Path, *, history: Path | None = None, runs: int = 60
) -> tuple[Path, list[str]]:
    """Write the HTML report of the run in `target_dir` (`pipewatch report`): the file, and warnings.

    Trends and anomalies come from the `history` store when it exists and holds `runs` past runs;
    the report never records into it (recording is after-run's job).
    """
    from pipewatch.outputs.html_report import history_points_from_store, write_html_report

    run = load_run(target_dir)
    points = None
    anomalies: list[Anomaly] = []
    if history is not None and history.is_file():
        from pipewatch.history.anomalies import detect_anomalies
        from pipewatch.history.ingest import invocation_key
        from pipewatch.history.store import HistoryStore

        store = HistoryStore(history)
        points = history_points_from_store(store, limit=runs, project=run.project_name)
        if invocation_key(run) in {p.get("invocation_id") for p in points}:
            anomalies = detect_anomalies(store, invocation_key(run))
    outcome = analyze(run, config, anomalies=anomalies)
    return write_html_report(outcome, output, history_points=points), outcome.warnings
