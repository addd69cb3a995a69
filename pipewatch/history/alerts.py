"""The alert outbox: Slack (or any) notifications queued in the history store, sent, retried, deduplicated.

A sender enqueues an alert under a dedup key (e.g. `<invocation>:<node>:failure`); enqueueing the
same key again does nothing, so a re-run of after-run on the same artifacts never alerts twice.
The sender then takes `pending()` alerts, posts them, and marks each sent or failed (failed ones
are offered again until they run out of attempts). `last_alert_for` answers "did we already tell
someone about this node recently?" for suppression windows.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipewatch.history.errors import HistoryError
from pipewatch.history.ingest import sql_timestamp

if TYPE_CHECKING:
    import duckdb

    from pipewatch.history.store import HistoryStore

#: Alert statuses: queued, delivered, or last attempt failed (retried while attempts remain).
STATUSES = ("pending", "sent", "failed")
#: A failed alert is offered again until it has been tried this many times.
DEFAULT_MAX_ATTEMPTS = 5
_ERROR_LIMIT = 1000

_COLUMNS = (
    "dedup_key, invocation_id, kind, node, CAST(payload AS VARCHAR), status, attempts, "
    "epoch(created_at), epoch(sent_at), last_error"
)


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert in the outbox."""

    dedup_key: str
    invocation_id: str | None
    kind: str  # e.g. failure, anomaly, quality, freshness
    node: str | None  # the unique id the alert is about
    payload: dict[str, Any]
    status: str  # pending | sent | failed
    attempts: int
    created_at: float  # POSIX seconds
    sent_at: float | None
    last_error: str | None


def _alert(row: tuple[Any, ...]) -> Alert:
    key, inv, kind, node, payload, status, attempts, created, sent, error = row
    return Alert(
        dedup_key=str(key),
        invocation_id=inv,
        kind=str(kind),
        node=node,
        payload=json.loads(payload) if payload else {},
        status=str(status),
        attempts=int(attempts),
        created_at=float(created),
        sent_at=None if sent is None else float(sent),
        last_error=error,
    )


class AlertOutbox:
    """The alerts table of a history store; each call opens the store briefly."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store

    def enqueue(
        self,
        dedup_key: str,
        *,
        kind: str,
        node: str | None = None,
        invocation_id: str | None = None,
        payload: dict[str, Any] | None = None,
        now: float | None = None,
    ) -> bool:
        """Queue an alert; False (and nothing changes) when one with this dedup key already exists."""
        body = json.dumps(payload or {}, sort_keys=True, default=str)
        with self.store.connect() as con:
            row = con.execute(
                "INSERT INTO alerts (dedup_key, invocation_id, kind, node, payload, status, attempts, created_at) "
                f"VALUES ($key, $inv, $kind, $node, $payload, 'pending', 0, {sql_timestamp('$now')}) "
                "ON CONFLICT DO NOTHING",
                {
                    "key": dedup_key,
                    "inv": invocation_id,
                    "kind": kind,
                    "node": node,
                    "payload": body,
                    "now": time.time() if now is None else now,
                },
            ).fetchone()
        return bool(row and row[0])

    def pending(self, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS, limit: int | None = None) -> list[Alert]:
        """Alerts still to send (pending, or failed with attempts left), oldest first."""
        if not self.store.exists:
            return []
        sql = (
            f"SELECT {_COLUMNS} FROM alerts WHERE status = 'pending' "
            "OR (status = 'failed' AND attempts < $max) ORDER BY created_at, dedup_key"
        )
        params: dict[str, Any] = {"max": max_attempts}
        if limit is not None:
            sql += " LIMIT $limit"
            params["limit"] = limit
        with self.store.connect() as con:
            return [_alert(row) for row in con.execute(sql, params).fetchall()]

    def get(self, dedup_key: str) -> Alert | None:
        """The alert with this dedup key, if any."""
        if not self.store.exists:
            return None
        with self.store.connect() as con:
            row = con.execute(
                f"SELECT {_COLUMNS} FROM alerts WHERE dedup_key = $key", {"key": dedup_key}
            ).fetchone()
        return _alert(row) if row else None

    def mark_sent(self, dedup_key: str, *, now: float | None = None) -> None:
        """Record that the alert was delivered."""
        with self.store.connect() as con:
            self._update(
                con,
                dedup_key,
                f"status = 'sent', attempts = attempts + 1, sent_at = {sql_timestamp('$now')}, last_error = NULL",
                {"now": time.time() if now is None else now},
            )

    def mark_failed(self, dedup_key: str, error: str) -> None:
        """Record a failed delivery attempt and why; it is retried while attempts remain."""
        with self.store.connect() as con:
            self._update(
                con,
                dedup_key,
                "status = 'failed', attempts = attempts + 1, last_error = $error",
                {"error": error[:_ERROR_LIMIT]},
            )

    @staticmethod
    def _update(
        con: duckdb.DuckDBPyConnection, dedup_key: str, assignments: str, params: dict[str, Any]
    ) -> None:
        row = con.execute(
            f"UPDATE alerts SET {assignments} WHERE dedup_key = $key", {"key": dedup_key, **params}
        ).fetchone()
        if not (row and row[0]):
            raise HistoryError(f"no alert with dedup key {dedup_key!r} in the outbox")

    def last_alert_for(self, node: str, kind: str, *, status: str | None = "sent") -> Alert | None:
        """The most recent alert of `kind` about `node` (by default: the last one delivered), or None.

        For suppression: "was this node's failure already announced in the last 24 hours?".
        `status=None` considers every alert, queued or failed too.
        """
        if not self.store.exists:
            return None
        sql = f"SELECT {_COLUMNS} FROM alerts WHERE node = $node AND kind = $kind"
        params: dict[str, Any] = {"node": node, "kind": kind}
        if status is not None:
            sql += " AND status = $status"
            params["status"] = status
        sql += " ORDER BY coalesce(sent_at, created_at) DESC, created_at DESC LIMIT 1"
        with self.store.connect() as con:
            row = con.execute(sql, params).fetchone()
        return _alert(row) if row else None
