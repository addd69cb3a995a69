"""The history store: schema, idempotent ingest, retention, the alert outbox, and safety under
contention, crashes, damaged files and old schemas. Real DuckDB files throughout; the concurrency
and crash tests use real second processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipewatch.history import (
    SCHEMA_VERSION,
    HistoryError,
    HistoryLockedError,
    HistoryStore,
)
from pipewatch.history.alerts import NewAlert
from pipewatch.history.testing import freshness_result, make_run, node_result, project_run
from pipewatch.rules.results import QualityReport
from tests.factories import make_check, make_quality

DAY = 86400.0
T0 = 1_780_000_000.0  # 2026-05-28, a fixed clock for every test
TABLES = ("invocations", "node_results", "check_results", "source_freshness", "alerts")


def small_run(inv: str, day: int, *, seconds: float = 1.0, rows: int = 100, models: int = 3) -> Any:
    """A run of `models` models and one test, `day` days after T0."""
    at = T0 + day * DAY
    results = [
        node_result(
            f"model.shop.m{i}", execution_time=seconds + i, rows_affected=rows * (i + 1), started=at - 60
        )
        for i in range(models)
    ]
    results.append(node_result("test.shop.not_null_m0_id.1a2b", status="pass", execution_time=0.1))
    return make_run(inv, at, results, project="shop")


def quality(failing: int = 2) -> QualityReport:
    """A quality report of two checks on one table."""
    return make_quality(
        [
            make_check(
                "not_null",
                "id",
                status="fail" if failing else "pass",
                failing_rows=failing,
                total_rows=1000,
                metric=failing / 1000,
                model="model.shop.m0",
            ),
            make_check("row_count", total_rows=1000, metric=1000.0),
        ]
    )


def snapshot(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: the store's whole observable state."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
    finally:
        con.close()


def count(path: Path, sql: str) -> Any:
    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute(sql).fetchone()
        return row[0] if row else None
    finally:
        con.close()


@pytest.fixture
def store(tmp_path: Path) -> HistoryStore:
    return HistoryStore(tmp_path / ".pipewatch" / "history.duckdb", lock_timeout=5)


# --- schema and ingest -------------------------------------------------------------------------


def test_a_new_store_is_created_at_the_current_schema(store: HistoryStore) -> None:
    assert not store.exists
    assert store.invocation_count() == 0  # reading an absent store creates nothing
    assert not store.exists
    store.ingest(small_run("inv-1", 0))
    assert store.exists
    assert count(store.path, "SELECT version FROM schema_version") == SCHEMA_VERSION
    assert count(store.path, "SELECT count(*) FROM schema_version") == 1


def test_ingest_records_the_run_its_checks_and_freshness(store: HistoryStore) -> None:
    run = small_run("inv-1", 0)
    run.freshness = [freshness_result("source.shop.raw.orders", age_s=3600, snapshotted_at=T0 - 30)]
    result = store.ingest(run, quality=quality(), now=T0 + 5)
    assert (result.recorded, result.node_results, result.check_results, result.source_freshness) == (
        True,
        4,
        2,
        1,
    )
    con = duckdb.connect(str(store.path), read_only=True)
    try:
        inv = con.execute(
            "SELECT project, target, command, dbt_version, generated_at, n_success, n_pass, n_error, "
            "source, ingested_at FROM invocations"
        ).fetchall()
        assert inv == [
            (
                "shop",
                "dev",
                "build",
                "1.11.0",
                datetime.fromtimestamp(T0, tz=timezone.utc).replace(tzinfo=None),
                3,
                1,
                0,
                "artifacts",
                datetime.fromtimestamp(T0 + 5, tz=timezone.utc).replace(tzinfo=None),
            )
        ]
        node = con.execute(
            "SELECT status, execution_time, rows_affected, thread_id, epoch(started_at), epoch(completed_at) "
            "FROM node_results WHERE unique_id = 'model.shop.m1'"
        ).fetchone()
        assert node == ("success", 2.0, 200, "Thread-1", T0 - 60, T0 - 58)
        checks = con.execute(
            "SELECT check_id, type, status, failing_rows, total_rows, metric, score, model FROM check_results "
            "ORDER BY check_id"
        ).fetchall()
        assert checks == [
            ("main.orders::not_null_id", "not_null", "fail", 2, 1000, 0.002, 0.998, "model.shop.m0"),
            ("main.orders::row_count", "row_count", "pass", None, 1000, 1000.0, 1.0, None),
        ]
        fresh = con.execute("SELECT unique_id, age_s, epoch(max_loaded_at) FROM source_freshness").fetchall()
        assert fresh == [("source.shop.raw.orders", 3600.0, T0 - 30 - 3600)]
    finally:
        con.close()


def test_reingesting_a_run_changes_nothing(store: HistoryStore) -> None:
    run = small_run("inv-1", 0)
    run.freshness = [freshness_result("source.shop.raw.orders", age_s=3600, snapshotted_at=T0 - 30)]
    store.ingest(run, quality=quality())
    store.ingest(small_run("inv-2", 1))
    before = snapshot(store.path)
    again = store.ingest(run, quality=quality(), now=T0 + 99 * DAY)
    assert not again.recorded and not again.changed
    assert (again.node_results, again.check_results, again.source_freshness) == (0, 0, 0)
    assert snapshot(store.path) == before


def test_checks_arriving_later_for_a_recorded_invocation_are_added_once(store: HistoryStore) -> None:
    run = small_run("inv-1", 0)
    store.ingest(run)
    later = store.ingest(run, quality=quality())
    assert not later.recorded and later.check_results == 2 and later.changed
    assert store.ingest(run, quality=quality()).check_results == 0
    assert count(store.path, "SELECT count(*) FROM check_results") == 2
    assert count(store.path, "SELECT count(*) FROM node_results") == 4


def test_a_node_reported_twice_keeps_its_last_result(store: HistoryStore) -> None:
    results = [
        node_result("model.shop.a", status="error", execution_time=1.0),
        node_result("model.shop.a", status="success", execution_time=2.0),
    ]
    store.ingest(make_run("inv-1", T0, results))
    con = duckdb.connect(str(store.path), read_only=True)
    try:
        assert con.execute("SELECT status, execution_time FROM node_results").fetchall() == [("success", 2.0)]
        assert con.execute("SELECT n_success, n_error FROM invocations").fetchall() == [(1, 0)]
    finally:
        con.close()


def test_one_sources_json_seen_by_two_runs_is_recorded_once(store: HistoryStore) -> None:
    fresh = [freshness_result("source.shop.raw.orders", age_s=600, snapshotted_at=T0 - 100)]
    first, second = small_run("inv-1", 0), small_run("inv-2", 0)
    first.freshness = second.freshness = fresh
    second.generated_at = T0 + 600
    assert store.ingest(first).source_freshness == 1
    assert store.ingest(second).source_freshness == 0


def test_a_stale_sources_json_is_not_taken_for_this_runs_freshness(store: HistoryStore) -> None:
    run = small_run("inv-1", 0)
    run.freshness = [freshness_result("source.shop.raw.orders", age_s=60, snapshotted_at=T0 - 3 * DAY)]
    assert store.ingest(run).source_freshness == 0
    assert store.ingest(small_run("inv-2", 1), freshness=run.freshness).source_freshness == 1  # explicit wins


def test_a_run_without_invocation_id_gets_a_stable_key(store: HistoryStore) -> None:
    run = small_run("x", 0)
    run.invocation_id = None
    first = store.ingest(run)
    assert first.invocation_id.startswith("derived-") and first.recorded
    assert store.ingest(run).invocation_id == first.invocation_id
    assert not store.ingest(run).recorded


def test_long_messages_are_truncated(store: HistoryStore) -> None:
    store.ingest(make_run("inv-1", T0, [node_result("model.shop.a", status="error", message="x" * 5000)]))
    assert count(store.path, "SELECT length(message) FROM node_results") == 500


def test_an_unknown_source_kind_is_refused(store: HistoryStore) -> None:
    with pytest.raises(ValueError, match="unknown history source"):
        store.ingest(small_run("inv-1", 0), source="carrier-pigeon")
    store.ingest(small_run("inv-1", 0), source="warehouse-audit")
    assert count(store.path, "SELECT source FROM invocations") == "warehouse-audit"


# --- retention ---------------------------------------------------------------------------------


def test_prune_deletes_old_invocations_and_all_their_rows(store: HistoryStore) -> None:
    for day in range(10):
        run = small_run(f"inv-{day}", day)
        run.freshness = [freshness_result("source.shop.raw.orders", 60, T0 + day * DAY - 10)]
        store.ingest(run, quality=quality())
    outbox = store.alerts
    outbox.enqueue("old", kind="failure", node="model.shop.m0", invocation_id="inv-1", now=T0 + DAY)
    outbox.enqueue("new", kind="failure", node="model.shop.m0", invocation_id="inv-9", now=T0 + 9 * DAY)
    result = store.prune(5.5 * DAY, now=T0 + 9 * DAY)  # keeps days 4..9
    assert (result.invocations, result.node_results, result.check_results) == (4, 16, 8)
    assert (result.source_freshness, result.alerts) == (4, 1)
    assert count(store.path, "SELECT min(invocation_id) FROM invocations") == "inv-4"
    for table in ("node_results", "check_results", "source_freshness"):
        orphans = (
            f"SELECT count(*) FROM {table} WHERE invocation_id NOT IN (SELECT invocation_id FROM invocations)"
        )
        assert count(store.path, orphans) == 0
    assert count(store.path, "SELECT count(*) FROM node_results") == 24
    assert [a.dedup_key for a in outbox.pending()] == ["new"]
    assert store.prune(5.5 * DAY, now=T0 + 9 * DAY).invocations == 0


def test_prune_refuses_a_negative_keep(store: HistoryStore) -> None:
    store.ingest(small_run("inv-1", 0))
    with pytest.raises(HistoryError, match="negative"):
        store.prune(-1)


# --- the alert outbox --------------------------------------------------------------------------


def test_alert_outbox_enqueue_is_idempotent_and_tracks_delivery(store: HistoryStore) -> None:
    outbox = store.alerts
    assert outbox.pending() == [] and outbox.last_alert_for("model.shop.m0", "failure") is None
    payload = {"text": "m0 failed", "owner": "@data"}
    assert outbox.enqueue("inv-1:m0:failure", kind="failure", node="model.shop.m0", payload=payload, now=T0)
    assert not outbox.enqueue("inv-1:m0:failure", kind="failure", node="model.shop.m0", payload={"x": 1})
    outbox.enqueue("inv-1:m1:anomaly", kind="anomaly", node="model.shop.m1", now=T0 + 1)
    pending = outbox.pending()
    assert [a.dedup_key for a in pending] == ["inv-1:m0:failure", "inv-1:m1:anomaly"]
    assert pending[0].payload == payload and pending[0].status == "pending" and pending[0].created_at == T0

    outbox.mark_failed("inv-1:m0:failure", "HTTP 500 from Slack")
    failed = outbox.get("inv-1:m0:failure")
    assert failed is not None and (failed.status, failed.attempts, failed.last_error) == (
        "failed",
        1,
        "HTTP 500 from Slack",
    )
    assert len(outbox.pending()) == 2  # retried while attempts remain
    assert [a.dedup_key for a in outbox.pending(max_attempts=1)] == ["inv-1:m1:anomaly"]
    assert outbox.last_alert_for("model.shop.m0", "failure") is None  # nothing delivered yet
    assert outbox.last_alert_for("model.shop.m0", "failure", status=None) is not None

    outbox.mark_sent("inv-1:m0:failure", now=T0 + 60)
    sent = outbox.last_alert_for("model.shop.m0", "failure")
    assert sent is not None and (sent.status, sent.attempts, sent.sent_at, sent.last_error) == (
        "sent",
        2,
        T0 + 60,
        None,
    )
    assert [a.dedup_key for a in outbox.pending()] == ["inv-1:m1:anomaly"]
    with pytest.raises(HistoryError, match="no alert"):
        outbox.mark_sent("nope")


class CountingStore(HistoryStore):
    """A real store that counts how often it opens its file (each open costs tens of milliseconds)."""

    opens = 0

    def _open(self) -> duckdb.DuckDBPyConnection:
        self.opens += 1
        return super()._open()


def test_enqueue_many_queues_a_batch_in_one_open_and_returns_the_new_keys(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "history.duckdb")
    outbox = store.alerts
    assert outbox.enqueue("k-002", kind="failure", node="model.shop.m2", payload={"old": True}, now=T0)
    store.opens = 0
    batch = [
        NewAlert(f"k-{i:03d}", "failure", f"model.shop.m{i}", {"fingerprint": f"fp{i}"}) for i in range(500)
    ]
    batch.insert(0, NewAlert("message", "slack_message", None, {"items": ["k-000"], "n": 1}))
    batch.append(
        NewAlert("k-007", "failure", "model.shop.other", {"fingerprint": "second"})
    )  # first one wins
    inserted = outbox.enqueue_many(batch, invocation_id="inv-1", now=T0 + 5)
    assert store.opens == 1
    assert inserted == ["message"] + [f"k-{i:03d}" for i in range(500) if i != 2]  # in the order given
    assert outbox.enqueue_many(batch, invocation_id="inv-1", now=T0 + 6) == []  # idempotent
    assert outbox.enqueue_many([]) == []
    assert count(store.path, "SELECT count(*) FROM alerts") == 501

    message, kept, seventh = outbox.get("message"), outbox.get("k-002"), outbox.get("k-007")
    assert message is not None and (message.kind, message.node, message.invocation_id) == (
        "slack_message",
        None,
        "inv-1",
    )
    assert message.payload == {"items": ["k-000"], "n": 1} and message.created_at == T0 + 5
    assert (message.status, message.attempts, message.sent_at) == ("pending", 0, None)
    assert kept is not None and kept.payload == {"old": True} and kept.created_at == T0
    assert seventh is not None and (seventh.node, seventh.payload) == (
        "model.shop.m7",
        {"fingerprint": "fp7"},
    )


def test_record_deliveries_marks_sent_and_failed_in_one_transaction(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "history.duckdb")
    outbox = store.alerts
    assert outbox.record_deliveries([], {}) == [] and not store.exists  # nothing to record opens nothing
    outbox.enqueue_many([NewAlert(f"k{i}", "failure", f"model.shop.m{i}") for i in range(300)], now=T0)
    store.opens = 0
    missing = outbox.record_deliveries(
        [f"k{i}" for i in range(200)] + ["gone", "k0"],
        {"k200": "HTTP 500", "k201": "x" * 5000, "lost": "HTTP 500"},
        now=T0 + 60,
    )
    assert store.opens == 1 and missing == ["gone", "lost"]
    sent, failed, cut = outbox.get("k0"), outbox.get("k200"), outbox.get("k201")
    assert sent is not None and (sent.status, sent.attempts, sent.sent_at, sent.last_error) == (
        "sent",
        1,
        T0 + 60,
        None,
    )
    assert failed is not None and (failed.status, failed.attempts, failed.last_error) == (
        "failed",
        1,
        "HTTP 500",
    )
    assert cut is not None and cut.last_error == "x" * 1000
    assert [a.dedup_key for a in outbox.pending()] == sorted(f"k{i}" for i in range(200, 300))

    # A retry that fails again, then one that gets through: each is one more attempt.
    outbox.record_deliveries(failed={"k200": "timed out"})
    outbox.record_deliveries(["k200"], now=T0 + 120)
    again = outbox.get("k200")
    assert again is not None and (again.status, again.attempts, again.sent_at, again.last_error) == (
        "sent",
        3,
        T0 + 120,
        None,
    )
    with pytest.raises(ValueError, match="both sent and failed"):
        outbox.record_deliveries(["k250"], {"k250": "HTTP 500"})
    untouched = outbox.get("k250")
    assert untouched is not None and (untouched.status, untouched.attempts) == ("pending", 0)
    with pytest.raises(HistoryError, match="no alert with dedup key 'gone'"):
        outbox.mark_failed("gone", "HTTP 500")


def test_latest_per_node_answers_every_node_in_one_open(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "history.duckdb")
    outbox = store.alerts
    assert outbox.latest_per_node() == {} and not store.exists
    outbox.enqueue_many(
        [NewAlert("a1", "failure", "m1", {"fingerprint": "one"}), NewAlert("msg", "slack_message")], now=T0
    )
    outbox.enqueue_many([NewAlert("a2", "failure", "m1", {"fingerprint": "two"})], now=T0 + 10)
    outbox.enqueue_many(
        [NewAlert("r1", "failure_resolved", "m1"), NewAlert("b1", "anomaly", "m2")], now=T0 + 20
    )
    outbox.mark_sent("a1", now=T0 + 30)  # sent after a2 was queued: a1 is the latest failure of m1
    for _ in range(5):
        outbox.mark_failed("b1", "HTTP 500")  # given up
    store.opens = 0
    latest = outbox.latest_per_node()
    assert store.opens == 1
    assert sorted(latest) == [("failure", "m1"), ("failure_resolved", "m1")]  # no node, or given up: left out
    first = latest[("failure", "m1")]
    assert (first.dedup_key, first.payload, first.at, first.status) == (
        "a1",
        {"fingerprint": "one"},
        T0 + 30,
        "sent",
    )
    assert latest[("failure_resolved", "m1")].at == T0 + 20
    assert sorted(outbox.latest_per_node(max_attempts=None)) == [
        ("anomaly", "m2"),
        ("failure", "m1"),
        ("failure_resolved", "m1"),
    ]
    assert list(outbox.latest_per_node(["failure", "check"])) == [("failure", "m1")]
    assert outbox.latest_per_node(["anomaly"], max_attempts=6)[("anomaly", "m2")].attempts == 5
    assert outbox.latest_per_node(["nothing"]) == {}


_ALERT = st.tuples(
    st.sampled_from(["failure", "check"]),
    st.sampled_from(["m1", "m2"]),
    st.integers(0, 3),  # queued at T0 + this
    st.sampled_from([None, 2, 4]),  # sent at T0 + this, or not sent (never before it was queued)
    st.integers(0, 2),  # failed deliveries first
)


@settings(max_examples=10, deadline=None)
@given(st.lists(_ALERT, min_size=1, max_size=10))
def test_latest_per_node_agrees_with_last_alert_for_and_a_plain_model(
    alerts: list[tuple[str, str, int, int | None, int]],
) -> None:
    """Recency is sent time, else queue time, then queue time, then dedup key; given-up alerts drop out."""
    queued: dict[float, list[NewAlert]] = {}
    failing: dict[int, dict[str, str]] = {}
    sent: dict[float, list[str]] = {}
    every: dict[tuple[str, str], tuple[float, float, str]] = {}
    live: dict[tuple[str, str], tuple[float, float, str]] = {}
    for i, (kind, node, at_queued, at_sent, failures) in enumerate(alerts):
        key = f"a{i:02d}"
        queued.setdefault(T0 + at_queued, []).append(NewAlert(key, kind, node))
        for attempt in range(failures):
            failing.setdefault(attempt, {})[key] = "HTTP 500"
        at = T0 + at_queued
        if at_sent is not None:
            at = T0 + max(at_queued, at_sent)
            sent.setdefault(at, []).append(key)
        rank = (at, T0 + at_queued, key)
        every[(kind, node)] = max(every.get((kind, node), rank), rank)
        if at_sent is not None or failures < 2:
            live[(kind, node)] = max(live.get((kind, node), rank), rank)
    with tempfile.TemporaryDirectory() as tmp:
        outbox = HistoryStore(Path(tmp) / "history.duckdb").alerts
        for now, batch in queued.items():
            outbox.enqueue_many(batch, now=now)
        for _, errors in sorted(failing.items()):
            outbox.record_deliveries(failed=errors)
        for now, keys in sent.items():
            outbox.record_deliveries(keys, now=now)
        latest = outbox.latest_per_node(max_attempts=None)
        assert {k: (a.at, a.created_at, a.dedup_key) for k, a in latest.items()} == every
        assert {k: a.dedup_key for k, a in outbox.latest_per_node(max_attempts=2).items()} == {
            k: r[2] for k, r in live.items()
        }
        kind, node = alerts[0][:2]
        assert outbox.last_alert_for(node, kind, status=None) == latest[(kind, node)]


# --- damaged, foreign and newer files ----------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"definitely not a database\n" * 200])
def test_a_file_that_is_not_duckdb_is_reported_and_left_alone(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "history.duckdb"
    path.write_bytes(content)
    store = HistoryStore(path)
    with pytest.raises(HistoryError, match="not a DuckDB database") as caught:
        store.ingest(small_run("inv-1", 0))
    assert caught.value.exit_code == 2 and "\n" not in str(caught.value)
    with pytest.raises(HistoryError):
        store.prune(DAY)
    assert path.read_bytes() == content


def test_a_foreign_duckdb_database_is_not_written_to(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE orders AS SELECT 1 AS id")
    con.close()
    with pytest.raises(HistoryError, match="not a pipewatch history store"):
        HistoryStore(path).ingest(small_run("inv-1", 0))
    con = duckdb.connect(str(path), read_only=True)
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    con.close()
    assert tables == {"orders"}


def test_a_store_from_a_newer_pipewatch_is_refused(store: HistoryStore) -> None:
    store.ingest(small_run("inv-1", 0))
    con = duckdb.connect(str(store.path))
    con.execute("UPDATE schema_version SET version = 99")
    con.close()
    with pytest.raises(HistoryError, match="newer than this pipewatch"):
        store.ingest(small_run("inv-2", 1))


def test_a_directory_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="is a directory"):
        HistoryStore(tmp_path).ingest(small_run("inv-1", 0))


# --- migrations --------------------------------------------------------------------------------

# The first schema pipewatch shipped, frozen here as written then: the fixture must not follow
# later edits of the migration code, or it would stop testing an old file.
V1_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1);
CREATE TABLE invocations (
    invocation_id VARCHAR PRIMARY KEY, project VARCHAR, target VARCHAR, command VARCHAR,
    dbt_version VARCHAR, generated_at TIMESTAMP NOT NULL, elapsed_s DOUBLE, n_success INTEGER,
    n_error INTEGER, n_fail INTEGER, n_warn INTEGER, n_pass INTEGER, n_skipped INTEGER,
    n_other INTEGER, ingested_at TIMESTAMP NOT NULL
);
CREATE TABLE node_results (
    invocation_id VARCHAR NOT NULL, unique_id VARCHAR NOT NULL, status VARCHAR NOT NULL,
    execution_time DOUBLE, rows_affected BIGINT, bytes_processed BIGINT, query_id VARCHAR,
    thread_id VARCHAR, started_at TIMESTAMP, completed_at TIMESTAMP, message VARCHAR
);
CREATE TABLE check_results (
    invocation_id VARCHAR NOT NULL, check_id VARCHAR NOT NULL, relation VARCHAR, type VARCHAR,
    status VARCHAR NOT NULL, failing_rows BIGINT, total_rows BIGINT, metric DOUBLE
);
INSERT INTO invocations VALUES
    ('old-1', 'shop', 'dev', 'build', '1.8.0', TIMESTAMP '2026-01-01 03:00:00', 12.5, 3, 0, 0, 0, 1, 0, 0,
     TIMESTAMP '2026-01-01 03:05:00');
INSERT INTO node_results VALUES
    ('old-1', 'model.shop.m0', 'success', 1.5, 100, NULL, NULL, 'Thread-1', NULL, NULL, 'OK'),
    ('old-1', 'model.shop.m1', 'success', 2.5, 200, NULL, NULL, 'Thread-1', NULL, NULL, 'OK');
INSERT INTO check_results VALUES ('old-1', 'main.orders::row_count', 'main.orders', 'row_count', 'pass', NULL, 990, 990);
"""


@pytest.fixture
def v1_store(tmp_path: Path) -> Path:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(V1_SCHEMA)
    con.close()
    return path


def test_an_old_store_is_migrated_forward_keeping_its_rows(v1_store: Path) -> None:
    before = count(v1_store, "SELECT count(*) FROM node_results")
    store = HistoryStore(v1_store)
    run = small_run("inv-new", 200)
    run.freshness = [freshness_result("source.shop.raw.orders", 60, T0 + 200 * DAY - 10)]
    result = store.ingest(run, quality=quality())
    assert result.recorded and result.check_results == 2 and result.source_freshness == 1
    assert count(v1_store, "SELECT version FROM schema_version") == SCHEMA_VERSION
    assert count(v1_store, "SELECT count(*) FROM node_results WHERE invocation_id = 'old-1'") == before
    assert count(v1_store, "SELECT source FROM invocations WHERE invocation_id = 'old-1'") == "artifacts"
    assert count(v1_store, "SELECT score FROM check_results WHERE invocation_id = 'old-1'") is None
    assert count(v1_store, "SELECT metric FROM check_results WHERE invocation_id = 'old-1'") == 990
    assert store.alerts.enqueue("k", kind="failure", node="model.shop.m0")
    assert (
        count(v1_store, "SELECT invocation_id FROM invocations ORDER BY generated_at DESC LIMIT 1")
        == "inv-new"
    )
    # Opening again finds nothing to do.
    assert store.invocation_count() == 2
    assert count(v1_store, "SELECT count(*) FROM schema_version") == 1


def test_a_failed_migration_leaves_the_old_store_as_it_was(v1_store: Path) -> None:
    con = duckdb.connect(str(v1_store))
    con.execute("CREATE TABLE alerts (x INTEGER)")  # makes step 2's CREATE TABLE alerts fail
    con.close()
    with pytest.raises(HistoryError, match=rf"cannot migrate .* from schema v1 to v{SCHEMA_VERSION}"):
        HistoryStore(v1_store).ingest(small_run("inv-new", 200))
    assert count(v1_store, "SELECT version FROM schema_version") == 1
    con = duckdb.connect(str(v1_store), read_only=True)
    columns = {r[0] for r in con.execute("DESCRIBE check_results").fetchall()}
    con.close()
    assert "score" not in columns


# --- other processes: lock contention, concurrent writers, a crash mid-ingest -------------------

_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from pipewatch.history import HistoryStore, store as store_module
    from pipewatch.history.testing import project_run

    path, inv, day, models, marker, hold = sys.argv[1:7]
    def hook(invocation_id):
        Path(marker).write_text(invocation_id)
        if hold.replace(".", "").isdigit():
            time.sleep(float(hold))
        else:  # hold the transaction until the test creates this file
            deadline = time.monotonic() + 60
            while not Path(hold).exists() and time.monotonic() < deadline:
                time.sleep(0.02)
    if marker != "-":
        store_module.in_transaction_hook = hook
    store = HistoryStore(path, lock_timeout=60)
    run = project_run(inv, 1_780_000_000.0 + int(day) * 86400, models=int(models), seed=int(day))
    if len(sys.argv) > 7:
        Path(sys.argv[7]).write_text("ingesting")  # the next line opens the store
    result = store.ingest(run)
    print(json.dumps({"recorded": result.recorded, "rows": result.node_results, "waits": store.lock_waits}))
    """
)


def _child(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child exited early: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("child never reached its transaction")
        time.sleep(0.02)


def test_two_processes_ingesting_at_once_both_land(store: HistoryStore, tmp_path: Path) -> None:
    import json

    store.ingest(small_run("inv-0", -1))
    marker = tmp_path / "a-in-transaction"
    release, ready = tmp_path / "release", tmp_path / "b-ingesting"
    first = _child(store.path, "inv-a", 1, 50, marker, release)  # holds its transaction until released
    try:
        _wait_for(marker, first)
        second = _child(store.path, "inv-b", 2, 50, "-", 0, ready)  # must wait for the first's lock
        _wait_for(ready, second)
        time.sleep(0.5)  # b is past start-up and opening the store: let it meet the lock, then release
        release.write_text("go")
        out_b, err_b = second.communicate(timeout=120)
        out_a, err_a = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 0, err_a
    assert second.returncode == 0, err_b
    a, b = json.loads(out_a), json.loads(out_b)
    assert a["recorded"] and b["recorded"] and a["rows"] == b["rows"] == 150
    assert b["waits"] > 0  # it really met the lock and retried
    ids = count(store.path, "SELECT string_agg(invocation_id, ',' ORDER BY invocation_id) FROM invocations")
    assert ids == "inv-0,inv-a,inv-b"
    assert count(store.path, "SELECT count(*) FROM node_results") == 4 + 300


def test_a_process_killed_mid_ingest_leaves_the_previous_runs_intact(
    store: HistoryStore, tmp_path: Path
) -> None:
    for day in range(3):
        store.ingest(small_run(f"inv-{day}", day))
    before = snapshot(store.path)
    marker = tmp_path / "in-transaction"
    # A big run (20,000 models and 40,000 tests): 60,000 uncommitted rows in flight at the kill.
    child = _child(store.path, "inv-killed", 3, 20000, marker, 600)
    try:
        _wait_for(marker, child, timeout=120)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert snapshot(store.path) == before  # readable, previous runs intact, nothing of the killed run
    assert store.ingest(small_run("inv-4", 4)).recorded  # and still writable
    assert store.invocation_count() == 4


def test_a_store_locked_too_long_is_a_clear_error(store: HistoryStore, tmp_path: Path) -> None:
    store.ingest(small_run("inv-0", 0))
    ready = tmp_path / "holding"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time, pathlib\n"
            "con = duckdb.connect(sys.argv[1])\n"
            "pathlib.Path(sys.argv[2]).write_text('x')\n"
            "time.sleep(120)\n",
            str(store.path),
            str(ready),
        ]
    )
    try:
        _wait_for(ready, holder)  # type: ignore[arg-type]
        impatient = HistoryStore(store.path, lock_timeout=0.4)
        started = time.monotonic()
        with pytest.raises(HistoryLockedError, match=r"locked by process \d+; gave up after 0.4s") as caught:
            impatient.ingest(small_run("inv-1", 1))
        assert time.monotonic() - started >= 0.4
        assert caught.value.exit_code == 3 and impatient.lock_waits > 0
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert store.ingest(small_run("inv-1", 1)).recorded  # the lock is gone with its holder


def test_one_synthetic_project_run_ingests_all_its_results(store: HistoryStore) -> None:
    run = project_run("inv-big", T0, models=300)
    result = store.ingest(run)
    assert result.node_results == 900
    assert count(store.path, "SELECT n_success + n_pass FROM invocations") == 900


def test_awkward_text_and_numbers_round_trip(store: HistoryStore) -> None:
    """Quotes, newlines, unicode, NaN and huge counts survive the trip into DuckDB unchanged (or as NULL)."""
    message = "Database Error in model 'o''rders'\n  column \"x\" → ✗\t\\N ,;\x1f"
    results = [
        node_result("model.shop.o'rders", status="error", execution_time=float("nan"), message=message),
        node_result('model.shop."quoted"', execution_time=1e-9, rows_affected=2**62),
    ]
    store.ingest(make_run("inv-'1'", T0, results))
    con = duckdb.connect(str(store.path), read_only=True)
    try:
        rows = con.execute(
            "SELECT invocation_id, unique_id, message, execution_time, rows_affected FROM node_results ORDER BY 2"
        ).fetchall()
    finally:
        con.close()
    assert rows == [
        ("inv-'1'", 'model.shop."quoted"', None, 1e-9, 2**62),
        ("inv-'1'", "model.shop.o'rders", message, None, None),
    ]
