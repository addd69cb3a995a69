"""Run history in an embedded DuckDB store, and anomaly detection over it.

`HistoryStore(path).ingest(run)` records a run (idempotent by invocation id, one transaction);
`detect_anomalies(store)` judges the latest run against its history; `record_and_detect` does both
for after-run; `store.prune(keep_seconds)` applies retention; `store.alerts` is the Slack outbox;
`store.diagnose()` checks a store without changing it. A damaged store raises `DamagedStoreError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipewatch.facade import lazy_names

# Resolved lazily (PEP 562): naming a light module of this package (`history.anomaly`,
# `history.errors`) must not import DuckDB.
if TYPE_CHECKING:
    from pipewatch.history.alerts import Alert, AlertOutbox
    from pipewatch.history.anomalies import AnomalyConfig, detect_anomalies, find_anomalies
    from pipewatch.history.errors import DamagedStoreError, HistoryError, HistoryLockedError
    from pipewatch.history.ingest import IngestResult
    from pipewatch.history.recorder import record_and_detect
    from pipewatch.history.schema import SCHEMA_VERSION
    from pipewatch.history.store import DEFAULT_LOCK_TIMEOUT_S, Diagnosis, HistoryStore, PruneResult

_HOMES = {
    "Alert": "alerts",
    "AlertOutbox": "alerts",
    "AnomalyConfig": "anomalies",
    "detect_anomalies": "anomalies",
    "find_anomalies": "anomalies",
    "DamagedStoreError": "errors",
    "HistoryError": "errors",
    "HistoryLockedError": "errors",
    "IngestResult": "ingest",
    "record_and_detect": "recorder",
    "SCHEMA_VERSION": "schema",
    "DEFAULT_LOCK_TIMEOUT_S": "store",
    "Diagnosis": "store",
    "HistoryStore": "store",
    "PruneResult": "store",
}

__all__ = [
    "DEFAULT_LOCK_TIMEOUT_S",
    "SCHEMA_VERSION",
    "Alert",
    "AlertOutbox",
    "AnomalyConfig",
    "DamagedStoreError",
    "Diagnosis",
    "HistoryError",
    "HistoryLockedError",
    "HistoryStore",
    "IngestResult",
    "PruneResult",
    "detect_anomalies",
    "find_anomalies",
    "record_and_detect",
]


__getattr__ = lazy_names(__name__, _HOMES, globals())
