"""after-run's single call into history: record the run, then judge it against what came before."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipewatch.history.anomalies import AnomalyConfig, find_anomalies
from pipewatch.history.ingest import IngestResult, build_rows
from pipewatch.history.store import record

if TYPE_CHECKING:
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
    rows = build_rows(run, quality=quality, freshness=freshness, source=source, now=now)
    with store.writer() as con:
        result = record(con, rows)
        anomalies = find_anomalies(con, result.invocation_id, config or AnomalyConfig())
    return result, anomalies
