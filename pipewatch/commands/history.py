"""`pipewatch history ...`: backfill saved artifacts, show trends, prune old runs, check the store.

Registered on the main CLI with `main.add_command(history)`. Commands stay thin: the work is in
`pipewatch.history`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipewatch.commands.common import (
    history_path_option,
    project_dir_option,
    warn,
    write_output,
)
from pipewatch.errors import ArtifactError, PipewatchError, UsageError

if TYPE_CHECKING:
    from pipewatch.history import AnomalyConfig, HistoryStore


_history_option = history_path_option("to use")
_lock_timeout_option = click.option(
    "--lock-timeout",
    default="30s",
    show_default=True,
    help="How long to wait for another pipewatch writing to the store (e.g. 30s, 2m).",
)


def _store(history_path: Path | None, project_dir: Path, lock_timeout: str) -> HistoryStore:
    from pipewatch.config import load_config, parse_duration
    from pipewatch.history import HistoryStore

    try:
        timeout = parse_duration(lock_timeout)
    except ValueError as exc:
        raise UsageError(f"--lock-timeout: {exc}") from None
    if history_path is None:
        history_path = load_config(project_dir).history_file()
        if history_path is None:
            raise UsageError(
                "history is turned off (`history: false` in pipewatch.yml or PIPEWATCH_HISTORY=off); "
                "pass --history PATH"
            )
    return HistoryStore(history_path, lock_timeout=timeout)


def _anomaly_config(project_dir: Path) -> AnomalyConfig:
    from pipewatch.config import load_config
    from pipewatch.history import AnomalyConfig

    config = load_config(project_dir)
    return AnomalyConfig.from_mapping(config.extra.get("anomalies"), str(config.source or "pipewatch.yml"))


@click.group("history")
def history() -> None:
    """The run history store: backfill it, look at trends, prune it, check it."""


@history.command(
    "ingest", short_help="Record saved target/ dirs, or the warehouse's audit table, into history."
)
@click.argument("target_dirs", metavar="[TARGET_DIR]...", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--from-warehouse",
    is_flag=True,
    help="Read the pipewatch_audit table the dbt package's audit hook fills (no target/ needed).",
)
@click.option("--audit-schema", default=None, help="Schema of pipewatch_audit (default: the connection's).")
@click.option(
    "--duckdb",
    "duckdb_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --from-warehouse: read this DuckDB file instead of the dbt profile's warehouse.",
)
@click.option(
    "--profiles-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="With --from-warehouse: where profiles.yml is (as dbt reads it).",
)
@click.option("--target", "dbt_target", default=None, help="With --from-warehouse: the dbt target.")
@click.option("--profile", default=None, help="With --from-warehouse: the dbt profile.")
@_history_option
@project_dir_option
@_lock_timeout_option
def ingest_cmd(
    target_dirs: tuple[Path, ...],
    from_warehouse: bool,
    audit_schema: str | None,
    duckdb_path: Path | None,
    profiles_dir: Path | None,
    dbt_target: str | None,
    profile: str | None,
    history_path: Path | None,
    project_dir: Path,
    lock_timeout: str,
) -> None:
    """Record saved dbt target/ directories (e.g. the last 30 days of copies) into history.

    Directories without a run_results.json are skipped with a warning; a run already recorded is
    left as it is. Exits 2 if any directory could not be read (the others are still recorded).
    With --from-warehouse, the runs the dbt package's `pipewatch.audit()` hook wrote to the
    `pipewatch_audit` table are recorded instead, for teams whose target/ does not survive the run.
    """
    if from_warehouse == bool(target_dirs):
        raise UsageError("give TARGET_DIR... to backfill saved artifacts, or --from-warehouse (not both)")
    if from_warehouse:
        _ingest_audit(
            _store(history_path, project_dir, lock_timeout),
            audit_schema,
            dict(
                duckdb=duckdb_path,
                project_dir=project_dir,
                profiles_dir=profiles_dir,
                target=dbt_target,
                profile=profile,
            ),
        )
        return
    from pipewatch.artifacts import load_run
    from pipewatch.outputs.trend_view import utc

    store = _store(history_path, project_dir, lock_timeout)
    store.ensure()  # an unusable store fails before any artifact is loaded
    recorded = present = skipped = unreadable = 0
    for target in target_dirs:
        if not target.is_dir():
            warn(f"{target}: not a directory; skipped")
            unreadable += 1
            continue
        if not (target / "run_results.json").is_file():
            warn(f"{target}: no run_results.json; skipped")
            skipped += 1
            continue
        try:
            run = load_run(target)
        except ArtifactError as exc:
            warn(f"{exc}; skipped")
            unreadable += 1
            continue
        if run.generated_at is None:
            warn(f"{target}: run_results.json has no generated_at, so no place in history; skipped")
            skipped += 1
            continue
        result = store.ingest(run)
        if result.recorded:
            recorded += 1
            click.echo(
                f"{target}: recorded {result.invocation_id} ({utc(run.generated_at)} UTC, "
                f"{result.node_results} result(s))"
            )
        else:
            present += 1
            click.echo(f"{target}: {result.invocation_id} already in history")
    click.echo(
        f"{recorded} run(s) recorded, {present} already present, {skipped + unreadable} skipped "
        f"-> {store.path}"
    )
    if unreadable:
        raise PipewatchError(f"{unreadable} target dir(s) could not be read (see the warnings above)")


def _ingest_audit(store: HistoryStore, schema: str | None, where: dict[str, Any]) -> None:
    """`history ingest --from-warehouse`: one connection, the new audit runs recorded oldest first."""
    from pipewatch.history.audit import ingest_from_warehouse
    from pipewatch.warehouse import open_warehouse

    warehouse = open_warehouse(**where)
    try:
        result = ingest_from_warehouse(store, warehouse, schema=schema)
    finally:
        warehouse.close()
    for ingested in result.ingested:
        click.echo(f"{result.table}: recorded {ingested.invocation_id} ({ingested.node_results} result(s))")
    click.echo(
        f"{len(result.ingested)} run(s) recorded, {result.already_recorded} already present "
        f"of {result.invocations_found} in {result.table} -> {store.path}"
    )


@history.command("show", short_help="A node's trend, or the slowest and most-changed nodes.")
@click.argument("node", required=False)
@click.option(
    "--last", type=click.IntRange(min=1), default=20, show_default=True, help="How many runs to show."
)
@click.option(
    "--top", type=click.IntRange(min=1), default=10, show_default=True, help="Nodes per summary list."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_history_option
@project_dir_option
@_lock_timeout_option
def show_cmd(
    node: str | None,
    last: int,
    top: int,
    fmt: str,
    history_path: Path | None,
    project_dir: Path,
    lock_timeout: str,
) -> None:
    """Trend of NODE's last runs (duration and rows, with sparklines), or without NODE a summary:
    the slowest nodes, the most changed in the latest run, and the latest run's anomalies.

    NODE is a unique id (`model.shop.orders`) or a bare name (`orders`) when unambiguous.
    """
    from pipewatch.history.trends import node_trend, summarize
    from pipewatch.outputs.trend_view import render_json, render_summary, render_trend

    store = _store(history_path, project_dir, lock_timeout)
    config = _anomaly_config(project_dir)
    if node:
        trend = node_trend(store, node, last=last, config=config)
        text = render_json(trend) if fmt == "json" else render_trend(trend)
    else:
        summary = summarize(store, last=last, top=top, config=config)
        text = render_json(summary) if fmt == "json" else render_summary(summary)
    write_output(text, None)


@history.command("prune", short_help="Delete runs older than --keep (default 90d).")
@click.option(
    "--keep", default="90d", show_default=True, help="Keep runs generated within this long (90d, 12w)."
)
@_history_option
@project_dir_option
@_lock_timeout_option
def prune_cmd(keep: str, history_path: Path | None, project_dir: Path, lock_timeout: str) -> None:
    """Delete runs older than --keep (and their results, checks, freshness and alerts)."""
    from pipewatch.config import parse_duration
    from pipewatch.outputs.trend_view import utc

    try:
        keep_s = parse_duration(keep)
    except ValueError as exc:
        raise UsageError(f"--keep: {exc}") from None
    store = _store(history_path, project_dir, lock_timeout)
    if not store.exists:
        click.echo(f"no history store at {store.path}; nothing to prune")
        return
    result = store.prune(keep_s)
    click.echo(
        f"pruned {result.invocations} run(s) generated before {utc(result.cutoff)} UTC "
        f"({result.node_results} node result(s), {result.check_results} check(s), "
        f"{result.source_freshness} freshness result(s), {result.alerts} alert(s))"
    )


@history.command("doctor", short_help="Check the history store and say how to recover a damaged one.")
@_history_option
@project_dir_option
@_lock_timeout_option
def doctor_cmd(history_path: Path | None, project_dir: Path, lock_timeout: str) -> None:
    """Check the history store without changing it: open it read-only, check its schema version and
    every table, read each table back and count its rows. Exits 0 when it is healthy, 2 when it is
    damaged (the file is left as it is; the recovery steps are printed), 3 when it is locked.
    """
    store = _store(history_path, project_dir, lock_timeout)
    found = store.diagnose()
    version = "unreadable" if found.schema_version is None else f"v{found.schema_version}"
    click.echo(f"{store.path}: {found.size_bytes} bytes, schema {version}")
    for table, count in found.rows.items():
        click.echo(f"  {table}: {count} row(s)")
    if found.healthy:
        click.echo("healthy")
        return
    for problem in found.problems:
        click.echo(f"problem: {problem}")
    click.echo(
        f"recovery: the file was left as it is. Move it aside (mv {store.path} {store.path}.damaged); "
        "the next after-run starts a new store, and `pipewatch history ingest TARGET_DIR...` (kept "
        "target/ dirs) or `pipewatch history ingest --from-warehouse` records the old runs into it again"
    )
    raise PipewatchError(f"{store.path}: history store is damaged ({len(found.problems)} problem(s) above)")


__all__ = ["history"]
