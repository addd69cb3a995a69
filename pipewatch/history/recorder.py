"""after-run's single call into history: record the run, then judge it against what came before."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipewatch.history.anomalies import AnomalyConfig, find_anomalies
from pipewatch.history.ingest import IngestResult, build_rows
from pipewatch.history.store import record

if TYPE_CHECKING:
    from pipewatch.artifacts.catalog import CatalogColumn, CatalogTable
    from pipewatch.artifacts.model import Run, SourceFreshness
    from pipewatch.history.anomaly import Anomaly
    from pipewatch.history.store import HistoryStore
    from pipewatch.rules.results import QualityReport


def record_and_detect(
    store: HistoryStore,
    run: Run,
    *,
    quality: QualityReport | None = None,
    freshness: list[SourceFreshness] | None = None,
    config: AnomalyConfig | None = None,
    source: str = "artifacts",
    now: float | None = None,
) -> tuple[IngestResult, list[Anomaly]]:
    """Ingest `run` (idempotent, one transaction) and return its anomalies, opening the store once.

    `freshness` is the run's relevant source freshness (`Outcome.freshness`); by default the run's
    own sources.json results unless they predate the run by more than a day.
    """
    recorded = record_run(
        store, run, quality=quality, freshness=freshness, config=config, source=source, now=now
    )
    return recorded.ingest, recorded.anomalies


@dataclass(slots=True)
class ColumnsToRecord:
    """A build's column snapshot for history: the relations' columns, their digests, where they came from."""

    tables: Mapping[str, CatalogTable]
    digests: Mapping[str, str]
    source: str


@dataclass(slots=True)
class Recorded:
    """What after-run's one visit to the store wrote and found."""

    ingest: IngestResult
    anomalies: list[Anomaly]
    #: The previous columns of each snapshot relation whose columns differ from its last snapshot.
    previous_columns: dict[str, tuple[CatalogColumn, ...]] = field(default_factory=dict)
    #: Relations of the snapshot that had a previous snapshot (the others are seen for the first time).
    known_relations: set[str] = field(default_factory=set)


def record_run(
    store: HistoryStore,
    run: Run,
    *,
    quality: QualityReport | None = None,
    freshness: list[SourceFreshness] | None = None,
    config: AnomalyConfig | None = None,
    columns: ColumnsToRecord | None = None,
    source: str = "artifacts",
    now: float | None = None,
) -> Recorded:
    """`record_and_detect`, plus the build's column snapshot and each changed relation's previous columns.

    The run's rows and its column snapshot are written in one transaction.
    """
    from pipewatch.history.columns import record_columns

    rows = build_rows(run, quality=quality, freshness=freshness, source=source, now=now)
    recorded = Recorded(IngestResult(rows.invocation_id, False, 0, 0, 0), [])
    with store.writer() as con:

        def snapshot(ingested: IngestResult) -> None:
            if columns is not None:
                recorded.previous_columns, recorded.known_relations = record_columns(
                    con, ingested.invocation_id, columns.tables, columns.digests, columns.source
                )

        recorded.ingest = record(con, rows, snapshot)
        recorded.anomalies = find_anomalies(con, recorded.ingest.invocation_id, config or AnomalyConfig())
    return recorded
