"""What pipewatch knows about each database engine, in one table: how dbt names its adapter, which
DB-API driver modules connect to it, the sqlglot dialect pipewatch writes for it, and how the engine
says a table does not exist. Adding an engine is one `Engine` row."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipewatch.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Engine:
    """One database engine, as pipewatch writes SQL for it and talks to it.

    - `dialect`: the sqlglot dialect; `adapters`: dbt adapter types; `drivers`: DB-API driver modules.
    - `missing_table`: the regex (case-insensitive) its "no such table" errors match ("": none known).
    - `group_each_key_set`: each `unique`/`duplicates` key set of a table is grouped by itself, the
      larger ones over only the rows the smaller ones find duplicated (see `rules.grouping`); else one
      GROUPING SETS pass reads each key column once. On where a scan costs no bill and GROUPING SETS
      costs more than the separate GROUP BYs (DuckDB); off where each column read is billed (BigQuery,
      Snowflake) or the engine's planner is not measured here.
    - `mark_join`: `x IN (SELECT ...)` in a select list runs as one hash (mark) join, so a
      relationships check tests membership in the parent's keys instead of LEFT JOINing their distinct
      values (DuckDB: 0.23 s against 0.27 s on 10M rows; PostgreSQL hashes such a subplan only when it
      fits work_mem, and Spark allows IN subqueries in WHERE only).
    - `noisy_loggers`: Python loggers of its in-process client that pipewatch silences (pyspark logs
      every failed query as a JSON record with the whole JVM stack trace on stderr; the error itself
      reaches pipewatch as the exception it raises).
    - How dbt's adapter finds and drops a relation before a test stores its failures:
      `relation_lookup` is `information_schema` (its `tables` view) or `show_table_extended` (Spark,
      which has no information_schema: dbt-spark's `get_relation` lists `show table extended in
      <schema>` and reads `Type: VIEW` from each row's `information`); `drop_cascade`: its
      `drop_relation` adds `cascade` (dbt-spark's does not; Spark refuses it); `replace_view`: its
      `create_view_as` says `create or replace view` (dbt-spark's does).
    - `one_client`: a local engine lets only one process in at a time (DuckDB's file lock, the Derby
      metastore of a Spark `session`), so a dbt process pipewatch starts (unit tests) must be done
      before pipewatch connects.
    - `schema_database`: dbt names a schema with its database (`create schema db.s`,
      information_schema's `table_catalog`), which dbt-postgres and dbt-redshift leave out.
    """

    dialect: str
    adapters: tuple[str, ...] = ()
    drivers: tuple[str, ...] = ()
    missing_table: str = ""
    group_each_key_set: bool = False
    noisy_loggers: tuple[str, ...] = ()
    relation_lookup: str = "information_schema"
    drop_cascade: bool = True
    replace_view: bool = False
    one_client: bool = False
    schema_database: bool = True
    mark_join: bool = False


ENGINES: tuple[Engine, ...] = (
    Engine(
        "duckdb",
        ("duckdb",),
        ("duckdb", "_duckdb"),
        r"table with name \S+ does not exist",
        group_each_key_set=True,
        one_client=True,
        mark_join=True,
    ),
    Engine(
        "postgres",
        ("postgres", "materialize"),
        ("psycopg2", "psycopg", "pg8000"),
        r"relation \S+ does not exist",
        schema_database=False,
    ),
    Engine(
        "redshift",
        ("redshift",),
        ("redshift_connector",),
        r"relation \S+ does not exist",
        schema_database=False,
    ),
    Engine("snowflake", ("snowflake",), ("snowflake",), r"object \S+ does not exist"),
    Engine("bigquery", ("bigquery",), ("google",), r"not found: table"),
    Engine(
        "databricks", ("databricks",), ("databricks",), r"table or view not found|TABLE_OR_VIEW_NOT_FOUND"
    ),
    # Spark through dbt-spark (thrift, ODBC or an in-process `session`). dbt-spark forces ANSI mode off:
    # a bad cast is NULL, not an error; integer overflow wraps; division by zero is NULL. pipewatch's
    # counts do not depend on it (see README, "Spark").
    Engine(
        "spark",
        ("spark", "glue"),
        ("pyhive", "pyspark"),
        r"table or view not found|TABLE_OR_VIEW_NOT_FOUND",
        noisy_loggers=("py4j", "pyspark", "SQLQueryContextLogger", "DataFrameQueryContextLogger"),
        relation_lookup="show_table_extended",
        drop_cascade=False,
        replace_view=True,
        # Only for the in-process `session` method, but a thrift server loses no more than overlap.
        one_client=True,
    ),
    Engine("trino", ("trino", "starburst"), ("trino",)),
    Engine("athena", ("athena",)),
    Engine("clickhouse", ("clickhouse",)),
    Engine("tsql", ("sqlserver", "fabric", "synapse")),
    Engine("mysql", ("mysql",)),
    Engine("sqlite", ("sqlite",), ("sqlite3",), r"no such table"),
    Engine("oracle", ("oracle",)),
    Engine("teradata", ("teradata",)),
)

#: dbt adapter type -> sqlglot dialect of the SQL pipewatch generates for it.
ADAPTER_DIALECTS: dict[str, str] = {a: e.dialect for e in ENGINES for a in e.adapters}
#: Top-level module of a DB-API connection's class -> its sqlglot dialect.
DRIVER_DIALECTS: dict[str, str] = {d: e.dialect for e in ENGINES for d in e.drivers}
_MISSING_TABLE = re.compile(
    "|".join(dict.fromkeys(e.missing_table for e in ENGINES if e.missing_table)), re.IGNORECASE
)


def dialect_for(adapter_type: str) -> str:
    """The sqlglot dialect for a dbt adapter type; ConfigError for an adapter pipewatch has no dialect for."""
    try:
        return ADAPTER_DIALECTS[adapter_type.lower()]
    except KeyError:
        known = ", ".join(sorted(ADAPTER_DIALECTS))
        raise ConfigError(
            f"dbt adapter `{adapter_type}`: pipewatch has no SQL dialect for it (supported: {known})"
        ) from None


def driver_dialect(module: str) -> str | None:
    """The dialect of a DB-API connection whose class lives in `module` (None when unknown)."""
    return DRIVER_DIALECTS.get(module.split(".")[0])


def noisy_loggers(dialect: str) -> tuple[str, ...]:
    """Python loggers of `dialect`'s in-process client that pipewatch silences (empty for most)."""
    return engine_of(dialect).noisy_loggers


def engine_of(dialect: str) -> Engine:
    """`dialect`'s row (a row of defaults for a dialect pipewatch has none for)."""
    return next((e for e in ENGINES if e.dialect == dialect), Engine(dialect))


def is_missing_table(message: str) -> bool:
    """Whether a database error message says a table or view does not exist, on any known engine."""
    return _MISSING_TABLE.search(message) is not None
