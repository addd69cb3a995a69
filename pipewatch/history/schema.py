"""The history store's tables, as a list of forward migrations.

`MIGRATIONS[k]` takes a store at schema version `k` to `k + 1`; the version a file is at lives in the
single row of `schema_version`. Opening a store runs the missing steps in one transaction, so an old
file is upgraded in place and a failed upgrade leaves it as it was. Migrations are append-only: a
shipped step is never edited (files in the field were made by it), a change is a new step.

The big per-run tables (`node_results`, `check_results`, `source_freshness`) have no PRIMARY KEY on
purpose: DuckDB keeps a PK as an ART index that, for a year of a 2,000-model project, made the file
six times larger (148 MB instead of 23 MB) and every ingest slower. Their keys, (invocation_id,
unique_id) and (invocation_id, check_id), are kept unique by ingest, which writes each invocation's rows
once, deduplicated, inside the one transaction that records the invocation.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

Migration = Callable[[duckdb.DuckDBPyConnection], None]

_V1 = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE invocations (
    invocation_id VARCHAR PRIMARY KEY,
    project VARCHAR,
    target VARCHAR,
    command VARCHAR,
    dbt_version VARCHAR,
    generated_at TIMESTAMP NOT NULL,
    elapsed_s DOUBLE,
    n_success INTEGER,
    n_error INTEGER,
    n_fail INTEGER,
    n_warn INTEGER,
    n_pass INTEGER,
    n_skipped INTEGER,
    n_other INTEGER,
    ingested_at TIMESTAMP NOT NULL
);
CREATE TABLE node_results (
    invocation_id VARCHAR NOT NULL,
    unique_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    execution_time DOUBLE,
    rows_affected BIGINT,
    bytes_processed BIGINT,
    query_id VARCHAR,
    thread_id VARCHAR,
    started_at TIMESTAMP,
    completed_at TIMESTAMP,
    message VARCHAR
);
CREATE TABLE check_results (
    invocation_id VARCHAR NOT NULL,
    check_id VARCHAR NOT NULL,
    relation VARCHAR,
    type VARCHAR,
    status VARCHAR NOT NULL,
    failing_rows BIGINT,
    total_rows BIGINT,
    metric DOUBLE
);
"""


def _v1_initial(con: duckdb.DuckDBPyConnection) -> None:
    """The first layout: invocations, node results and check results."""
    con.execute(_V1)


def _v2_freshness_alerts_scores(con: duckdb.DuckDBPyConnection) -> None:
    """Source freshness, the Slack alert outbox, check scores and names, and where a run came from."""
    con.execute(
        """
        ALTER TABLE invocations ADD COLUMN source VARCHAR DEFAULT 'artifacts';
        ALTER TABLE check_results ADD COLUMN score DOUBLE;
        ALTER TABLE check_results ADD COLUMN name VARCHAR;
        ALTER TABLE check_results ADD COLUMN column_name VARCHAR;
        ALTER TABLE check_results ADD COLUMN model VARCHAR;
        CREATE TABLE source_freshness (
            invocation_id VARCHAR NOT NULL,
            unique_id VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            age_s DOUBLE,
            max_loaded_at TIMESTAMP,
            snapshotted_at TIMESTAMP
        );
        CREATE TABLE alerts (
            dedup_key VARCHAR PRIMARY KEY,
            invocation_id VARCHAR,
            kind VARCHAR NOT NULL,
            node VARCHAR,
            payload JSON,
            status VARCHAR NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at TIMESTAMP NOT NULL,
            sent_at TIMESTAMP,
            last_error VARCHAR
        );
        """
    )
    # Rows recorded before this version all came from dbt artifacts.
    con.execute("UPDATE invocations SET source = 'artifacts' WHERE source IS NULL")


def _v3_column_snapshots(con: duckdb.DuckDBPyConnection) -> None:
    """Column snapshots: each relation's columns per invocation, each distinct column set stored once.

    `column_snapshots` holds one small row per (invocation, relation) naming a digest; `column_sets`
    holds the columns (a JSON list of [name, type, position]) once per digest, so a year of builds
    whose tables rarely change costs one row per relation per run, not one per column.
    """
    con.execute(
        """
        CREATE TABLE column_snapshots (
            invocation_id VARCHAR NOT NULL,
            unique_id VARCHAR NOT NULL,
            relation VARCHAR,
            digest VARCHAR NOT NULL,
            source VARCHAR NOT NULL
        );
        CREATE TABLE column_sets (
            digest VARCHAR NOT NULL,
            columns JSON NOT NULL
        );
        """
    )


#: Every schema step in order; the store's current version is `len(MIGRATIONS)`.
MIGRATIONS: list[Migration] = [_v1_initial, _v2_freshness_alerts_scores, _v3_column_snapshots]
SCHEMA_VERSION = len(MIGRATIONS)
#: Tables this module creates, for telling a pipewatch store from some other DuckDB database.
TABLES = frozenset(
    {
        "schema_version",
        "invocations",
        "node_results",
        "check_results",
        "source_freshness",
        "alerts",
        "column_snapshots",
        "column_sets",
    }
)
