"""The alert outbox: Slack (or any) notifications queued in the history store, sent, retried, deduplicated.

A sender enqueues an alert under a dedup key (e.g. `<invocation>:<node>:failure`); enqueueing the
same key again does nothing, so a re-run of after-run on the same artifacts never alerts twice.
The sender then takes `pending()` alerts, posts them, and marks each sent or failed (failed ones
are offered again until they run out of attempts). `last_alert_for` answers "did we already tell
someone about this node recently?" for suppression windows; `latest_per_node` answers it for every
node at once.

Every call opens the store file (tens of milliseconds), so the batch methods (`enqueue_many`,
`record_deliveries`, `latest_per_node`) are the ones to use for many alerts: one open and one
statement per batch. The one-alert methods are those same statements with a batch of one. This
module is the only one that writes or reads the `alerts` table's SQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipewatch.history.errors import HistoryError
from pipewatch.history.ingest import sql_timestamp
from pipewatch.history.store import transaction

if TYPE_CHECKING:
    import duckdb

    from pipewatch.history.store import HistoryStore

#: Alert statuses: queued, delivered, last attempt failed (retried while attempts remain), or refused
#: for good by the receiver (kept for the record, never offered again).
STATUSES = ("pending", "sent", "failed", "rejected")
#: A failed alert is offered again until it has been tried this many times.
DEFAULT_MAX_ATTEMPTS = 5
_ERROR_LIMIT = 1000

_COLUMNS = (
    "dedup_key, invocation_id, kind, node, CAST(payload AS VARCHAR), status, attempts, "
    "epoch(created_at), epoch(sent_at), last_error"
)
# Insert-if-absent on the dedup key, a whole batch in one statement: the lists are unnested
# side by side (executemany costs ~3 ms a row; this is one statement whatever the size).
_INSERT = (
    "INSERT INTO alerts (dedup_key, invocation_id, kind, node, payload, status, attempts, created_at) "
    f"SELECT key, $inv, kind, node, payload, 'pending', 0, {sql_timestamp('$now')} FROM ("
    "SELECT unnest($keys) AS key, unnest($kinds) AS kind, unnest($nodes) AS node, "
    "unnest($payloads) AS payload"
    ") ON CONFLICT DO NOTHING RETURNING dedup_key"
)
_MARK_SENT = (
    f"UPDATE alerts SET status = 'sent', attempts = attempts + 1, sent_at = {sql_timestamp('$now')}, "
    "last_error = NULL WHERE list_contains($keys, dedup_key) RETURNING dedup_key"
)
_MARK_FAILED = (
    "UPDATE alerts SET status = $status, attempts = attempts + 1, last_error = failed.error "
    "FROM (SELECT unnest($keys) AS key, unnest($errors) AS error) AS failed "
    "WHERE alerts.dedup_key = failed.key RETURNING alerts.dedup_key"
)
# The latest alert per (kind, node) among those `where` admits: by when it was sent, or queued if
# it was not; the dedup key only breaks exact ties, so the answer never depends on scan order.
_LATEST = (
    f"SELECT {_COLUMNS} FROM ("
    "SELECT *, row_number() OVER ("
    "PARTITION BY kind, node ORDER BY coalesce(sent_at, created_at) DESC, created_at DESC, dedup_key DESC"
    ") AS rank FROM alerts WHERE node IS NOT NULL AND {where}"
    ") WHERE rank = 1 ORDER BY kind, node"
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

    @property
    def at(self) -> float:
        """When it was sent, or queued if it has not been sent (POSIX seconds): what recency means."""
        return self.created_at if self.sent_at is None else self.sent_at


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert to queue with `AlertOutbox.enqueue_many`: its dedup key, what it is about, its payload."""

    dedup_key: str
    kind: str
    node: str | None = None
    payload: Mapping[str, Any] | None = None


def _decode(payload: str | None) -> dict[str, Any]:
    """A stored payload as a dict; anything else (not written by this module) reads as empty."""
    try:
        data = json.loads(payload) if payload else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _alert(row: tuple[Any, ...]) -> Alert:
    key, inv, kind, node, payload, status, attempts, created, sent, error = row
    return Alert(
        dedup_key=str(key),
        invocation_id=inv,
        kind=str(kind),
        node=node,
        payload=_decode(payload),
        status=str(status),
        attempts=int(attempts),
        created_at=float(created),
        sent_at=None if sent is None else float(sent),
        last_error=error,
    )


class AlertOutbox:
    """The alerts table of a history store; each call opens the store briefly, once."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store

    # ------------------------------------------------------------------------ queueing

    def enqueue_many(
        self,
        items: Iterable[NewAlert],
        *,
        invocation_id: str | None = None,
        now: float | None = None,
    ) -> list[str]:
        """Queue alerts in one statement; the dedup keys that were new, in the order given.

        A key already in the outbox (or given twice: the first one counts) is left as it is.
        All of them share the invocation id and the creation time.
        """
        batch: dict[str, NewAlert] = {}
        for item in items:
            batch.setdefault(item.dedup_key, item)
        if not batch:
            return []
        params = {
            "inv": invocation_id,
            "now": time.time() if now is None else now,
            "keys": list(batch),
            "kinds": [a.kind for a in batch.values()],
            "nodes": [a.node for a in batch.values()],
            "payloads": [json.dumps(a.payload or {}, sort_keys=True, default=str) for a in batch.values()],
        }
        with self.store.writer() as con:
            inserted = {str(key) for (key,) in con.execute(_INSERT, params).fetchall()}
        return [key for key in batch if key in inserted]

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
        item = NewAlert(dedup_key, kind, node, payload)
        return bool(self.enqueue_many([item], invocation_id=invocation_id, now=now))

    # ------------------------------------------------------------------------ reading

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

    def latest_per_node(
        self, kinds: Iterable[str] | None = None, *, max_attempts: int | None = DEFAULT_MAX_ATTEMPTS
    ) -> dict[tuple[str, str], Alert]:
        """The most recent alert per (kind, node), for every node at once (alerts without a node aside).

        For suppression across a whole run: "which of these were announced, and when?". By default
        only alerts that were delivered or are still being tried count (a failed one with
        `max_attempts` used up was given up); `max_attempts=None` counts every alert. `kinds`
        limits it to those kinds. Most recent means sent last, or queued last if not yet sent.
        """
        where: list[str] = []
        params: dict[str, Any] = {}
        if kinds is not None:
            where.append("list_contains($kinds, kind)")
            params["kinds"] = sorted(set(kinds))
        if max_attempts is not None:
            where.append("(status = 'sent' OR (status <> 'rejected' AND attempts < $max))")
            params["max"] = max_attempts
        return self._latest(" AND ".join(where) or "TRUE", params)

    def last_alert_for(self, node: str, kind: str, *, status: str | None = "sent") -> Alert | None:
        """The most recent alert of `kind` about `node` (by default: the last one delivered), or None.

        For suppression: "was this node's failure already announced in the last 24 hours?".
        `status=None` considers every alert, queued or failed too.
        """
        where = "node = $node AND kind = $kind"
        params: dict[str, Any] = {"node": node, "kind": kind}
        if status is not None:
            where += " AND status = $status"
            params["status"] = status
        return self._latest(where, params).get((kind, node))

    def _latest(self, where: str, params: dict[str, Any]) -> dict[tuple[str, str], Alert]:
        if not self.store.exists:
            return {}
        with self.store.connect() as con:
            rows = con.execute(_LATEST.format(where=where), params).fetchall()
        alerts = [_alert(row) for row in rows]
        return {(a.kind, str(a.node)): a for a in alerts}

    # ------------------------------------------------------------------------ delivery

    def record_deliveries(
        self,
        sent: Iterable[str] = (),
        failed: Mapping[str, str] | None = None,
        *,
        rejected: Mapping[str, str] | None = None,
        now: float | None = None,
    ) -> list[str]:
        """Record delivery attempts in one transaction: `sent` were delivered, `failed` and `rejected`
        map key -> why.

        Each counts as one attempt. Sent: status `sent`, sent at `now`, error cleared. Failed:
        status `failed` with the error (cut to 1,000 characters); retried while attempts remain.
        Rejected (the receiver refused it for good): status `rejected` with the error; never offered
        again. Returns the keys with no alert in the outbox (nothing was recorded for them).
        """
        delivered = list(dict.fromkeys(sent))
        outcomes = {
            status: {key: error[:_ERROR_LIMIT] for key, error in (given or {}).items()}
            for status, given in (("failed", failed), ("rejected", rejected))
        }
        errors = {**outcomes["failed"], **outcomes["rejected"]}
        if both := [key for key in delivered if key in errors]:
            raise ValueError(f"alert {both[0]!r} cannot be both sent and failed in one attempt")
        if both := [key for key in outcomes["failed"] if key in outcomes["rejected"]]:
            raise ValueError(f"alert {both[0]!r} cannot be both failed and rejected in one attempt")
        if not (delivered or errors):
            return []
        found: set[str] = set()
        with self.store.writer() as con, transaction(con):
            if delivered:
                found |= _keys(
                    con.execute(_MARK_SENT, {"keys": delivered, "now": time.time() if now is None else now})
                )
            for status, given in outcomes.items():
                if given:
                    params = {"keys": list(given), "errors": list(given.values()), "status": status}
                    found |= _keys(con.execute(_MARK_FAILED, params))
        return [key for key in (*delivered, *errors) if key not in found]

    def mark_sent(self, dedup_key: str, *, now: float | None = None) -> None:
        """Record that the alert was delivered."""
        _must_exist(self.record_deliveries([dedup_key], now=now))

    def mark_failed(self, dedup_key: str, error: str) -> None:
        """Record a failed delivery attempt and why; it is retried while attempts remain."""
        _must_exist(self.record_deliveries(failed={dedup_key: error}))


def _keys(cursor: duckdb.DuckDBPyConnection) -> set[str]:
    return {str(key) for (key,) in cursor.fetchall()}


def _must_exist(missing: Sequence[str]) -> None:
    if missing:
        raise HistoryError(f"no alert with dedup key {missing[0]!r} in the outbox")
