"""A dbt profile's warehouse opened with its driver, without dbt's adapter, when that is the same connection.

dbt's adapter costs a second of imports and a share of every query in bookkeeping (connection manager,
events). For the adapters whose credentials map plainly onto their driver, pipewatch opens the driver
itself, exactly as the adapter would (`open_duckdb`, `open_postgres` say what each key becomes), one
connection per worker thread. A profile with any key outside that plain set (dbt-duckdb's `attach`,
`plugins`, `settings`, `secrets`, MotherDuck paths...; an adapter not listed here), or a value of another
type than dbt's credentials declare, is `None` here and goes through dbt's adapter: never a silently
different connection.

A DuckDB database opened here is sealed like `--duckdb` (no file, URL or extension access once open;
see `warehouse.duckdb`): the extensions the profile declares are installed and loaded first, as
dbt-duckdb does, so their functions work. It opens read-write, as dbt-duckdb opens it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from sqlglot import exp

from pipewatch.errors import WarehouseError
from pipewatch.warehouse.base import QueryError, QueryResult, Warehouse, render
from pipewatch.warehouse.dbapi import fetch
from pipewatch.warehouse.dbt_adapter import (
    check_profile_files,
    load_dbt_config,
    profiles_dir_for,
    redact,
    relation_quote_policy,
    secrets_in,
    unreachable,
)
from pipewatch.warehouse.dialects import dialect_for
from pipewatch.warehouse.profile_render import Target, read_target

if TYPE_CHECKING:
    from pipewatch.warehouse.dbt_adapter import DbtAdapterWarehouse

#: dbt-duckdb keys that change nothing about the connection a check run reads through, with their types.
_DUCKDB_TYPES: dict[str, type] = {
    "path": str,
    "database": str,
    "schema": str,
    "extensions": list,
    "external_root": str,
    "keep_open": bool,
}
#: dbt-postgres keys and their types (dbt's PostgresCredentials); `None` allowed where dbt allows it.
_PG_TYPES: dict[str, tuple[type, bool]] = {
    "host": (str, False),
    "user": (str, False),
    "port": (int, False),
    "password": (str, False),
    "database": (str, False),
    "schema": (str, False),
    "connect_timeout": (int, False),
    "role": (str, True),
    "search_path": (str, True),
    "keepalives_idle": (int, False),
    "sslmode": (str, True),
    "sslcert": (str, True),
    "sslkey": (str, True),
    "sslrootcert": (str, True),
    "application_name": (str, True),
    "retries": (int, False),
    "autocommit": (bool, True),
}
_PG_REQUIRED = ("host", "user", "port", "password", "database", "schema")
_EXTENSION = re.compile(r"[A-Za-z0-9_]+")
_ROLE = re.compile(r"[a-z_][a-z0-9_]*")


def open_profile(
    *,
    project_dir: Path,
    profiles_dir: Path | str | None,
    target: str | None,
    profile: str | None,
    vars: Mapping[str, Any] | None,
    threads: int | None,
) -> ProfileWarehouse | DbtAdapterWarehouse:
    """A dbt profile's warehouse (see `warehouse.open_warehouse`): rendered here and opened by its driver
    when both are plain, rendered by dbt and opened by the driver when only the connection is, else dbt's
    adapter for both."""
    from pipewatch.warehouse.dbt_adapter import DbtAdapterWarehouse

    folder = profiles_dir_for(profiles_dir, project_dir)
    target = target or os.environ.get("DBT_TARGET") or None
    profile = profile or os.environ.get("DBT_PROFILE") or None
    check_profile_files(project_dir, folder, profile)
    plain = read_target(project_dir, folder, target, profile, dict(vars or {}))

    def dbt_config() -> Any:
        # Only a test that stores its failures asks (for dbt's quote policy): dbt loads then, not before.
        return load_dbt_config(project_dir, folder, target, profile, dict(vars or {}))

    direct = open_direct(plain, threads, dbt_config) if plain is not None else None
    if direct is not None:
        return direct
    adapter = DbtAdapterWarehouse(
        project_dir=project_dir,
        profiles_dir=folder,
        target=target,
        profile=profile,
        vars=vars,
        threads=threads,
    )
    credentials = adapter.config.credentials
    if adapter.adapter_type not in _OPENERS or not dataclasses.is_dataclass(credentials):
        return adapter
    fields = set_fields(credentials)
    rendered = Target(
        adapter.adapter_type, adapter.profile_name, adapter.target_name, adapter.threads, fields
    )
    direct = open_direct(rendered, threads, lambda: adapter.config)
    return direct if direct is not None else adapter


def set_fields(credentials: Any) -> dict[str, Any]:
    """dbt credentials as the keys a profile set: required fields, and the others that differ from their
    default (empty collections count as unset: dbt-duckdb fills them in after loading)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(credentials):
        value = getattr(credentials, f.name, None)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            out[f.name] = value
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if value in (None, {}, []) or value == default:
            continue
        out[f.name] = value
    return out


def open_direct(
    target: Target, threads: int | None = None, dbt_config: Callable[[], Any] | None = None
) -> ProfileWarehouse | None:
    """The profile's warehouse through its driver, or None when only dbt's adapter opens it the same.
    `dbt_config` loads dbt's RuntimeConfig of the project when something needs it (the quote policy)."""
    opener = _OPENERS.get(target.adapter_type)
    connect = opener(target.fields) if opener is not None else None
    if connect is None:
        return None
    return ProfileWarehouse(target, connect, threads or target.threads, dbt_config)


def open_duckdb(fields: dict[str, Any]) -> Callable[[], Any] | None:
    """dbt-duckdb's local connection: `duckdb.connect(path, read_only=False)`, then each extension
    installed and loaded; None for any other key (see the module docstring)."""
    if any(type(value) is not _DUCKDB_TYPES.get(key) for key, value in fields.items()):
        return None  # another key, or a value dbt's credentials would refuse (in dbt's words)
    path, extensions = fields.get("path", ":memory:"), fields.get("extensions") or []
    if not isinstance(path, str) or path == ":memory:" or len(urlparse(path).scheme) > 1:
        return None  # in-memory, md:, s3:, ducklake: ... are dbt-duckdb's business
    if "database" in fields and fields["database"] != _duckdb_catalog(path):
        return None  # dbt refuses it, in its words
    if not isinstance(extensions, list) or not all(
        isinstance(e, str) and _EXTENSION.fullmatch(e) for e in extensions
    ):
        return None

    def connect() -> Any:
        from pipewatch.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(path, read_only=False, extensions=extensions)

    return connect


def _duckdb_catalog(path: str) -> str:
    # dbt-duckdb's DuckDBCredentials.path_derived_database_name for a plain file path.
    from pathlib import PurePath

    return PurePath(path).name.lstrip(".").split(".")[0]


def open_postgres(fields: dict[str, Any]) -> Callable[[], Any] | None:
    """dbt-postgres's `open`: `psycopg2.connect` with the same arguments, `retries` on OperationalError,
    `SET ROLE` after; None for any other key or a value of another type than dbt declares."""
    for key, value in fields.items():
        kind, nullable = _PG_TYPES.get(key, (None, False))
        if kind is None or not (
            (value is None and nullable) or (type(value) is kind)  # bool is not an int to dbt's schema
        ):
            return None
    if any(k not in fields for k in _PG_REQUIRED) or not 0 <= fields["port"] <= 65535:
        return None
    role = fields.get("role")
    if role is not None and not _ROLE.fullmatch(role):
        return None  # dbt pastes it unquoted; only a plain lower-case name reads the same as a literal
    kwargs: dict[str, Any] = {
        "dbname": fields["database"],
        "user": fields["user"],
        "host": fields["host"],
        "password": fields["password"],
        "port": fields["port"],
        "connect_timeout": fields.get("connect_timeout", 10),
    }
    if fields.get("keepalives_idle"):
        kwargs["keepalives_idle"] = fields["keepalives_idle"]
    search_path = fields.get("search_path")
    if search_path:
        kwargs["options"] = "-c search_path={}".format(search_path.replace(" ", "\\ "))
    for key in ("sslmode", "sslcert", "sslkey", "sslrootcert"):
        if fields.get(key) is not None and (key != "sslmode" or fields[key]):
            kwargs[key] = fields[key]
    application_name = fields.get("application_name", "dbt")
    if application_name:
        kwargs["application_name"] = application_name
    retries, autocommit = int(fields.get("retries", 1)), bool(fields.get("autocommit"))

    def connect() -> Any:
        return _PgConnections(kwargs, retries, role, autocommit)

    return connect


#: The adapters pipewatch can open with their driver, and how.
_OPENERS: dict[str, Callable[[dict[str, Any]], Callable[[], Any] | None]] = {
    "duckdb": open_duckdb,
    "postgres": open_postgres,
}


class ProfileWarehouse:
    """A dbt profile's warehouse opened by its driver: connects on first use (the profile is read and
    checked already), then runs statements like any `Warehouse`, one connection per worker thread."""

    def __init__(
        self,
        target: Target,
        connect: Callable[[], Any],
        threads: int,
        dbt_config: Callable[[], Any] | None = None,
    ) -> None:
        self.adapter_type = target.adapter_type
        self.profile_name = target.profile_name
        self.target_name = target.target_name
        self.dialect: str = dialect_for(target.adapter_type)
        #: How many connections independent statements may use at once: the profile's `threads`, as dbt.
        self.threads = threads
        self._connect = connect
        self._dbt_config = dbt_config
        self._inner: Any = None
        self._secrets = secrets_in(target.fields)

    def __repr__(self) -> str:
        return (
            f"ProfileWarehouse({self.adapter_type}, profile={self.profile_name}, target={self.target_name})"
        )

    @property
    def label(self) -> str:
        """`postgres (profile shop, target dev)`: how messages name this warehouse."""
        return f"{self.adapter_type} (profile `{self.profile_name}`, target `{self.target_name}`)"

    def connect(self) -> None:
        """Open the run's connection (WarehouseError with the database's message if it cannot)."""
        if self._inner is not None:
            return
        try:
            self._inner = self._connect()
            if isinstance(self._inner, _PgConnections):
                self._inner.main()
        except Exception as exc:
            raise unreachable(
                "cannot connect to", self.label, self._message(exc), self.adapter_type
            ) from None

    @contextlib.contextmanager
    def session(self) -> Iterator[Warehouse]:
        """A connection of its own for the calling worker thread (`warehouse.base.run_concurrently`)."""
        self.connect()
        if isinstance(self._inner, _PgConnections):
            try:
                own = self._inner.open()
            except Exception as exc:
                raise unreachable(
                    "cannot connect to", self.label, self._message(exc), self.adapter_type
                ) from None
            try:
                yield _PgSession(self, own)
            finally:
                with contextlib.suppress(Exception):
                    own.close()
        else:
            with self._inner.session() as cursor:
                yield _DuckDBSession(self, cursor)

    def execute(self, statement: exp.Expr | str) -> QueryResult:
        """Run one statement on the run's connection and fetch every row."""
        self.connect()
        if isinstance(self._inner, _PgConnections):
            return self.run_pg(self._inner.main(), render(statement, self.dialect))
        with self.redacted():
            result: QueryResult = self._inner.execute(statement)
        return result

    def run_pg(self, connection: Any, sql: str) -> QueryResult:
        """One statement on a psycopg2 connection, errors as the adapter path words them."""
        try:
            return fetch(connection, sql)
        except Exception as exc:
            if connection.closed:
                raise unreachable(
                    "lost the connection to", self.label, self._message(exc), self.adapter_type
                ) from None
            lines = [" ".join(line.split()) for line in str(exc).strip().splitlines()]
            message = "\n".join(line for line in lines if line) or type(exc).__name__
            raise QueryError(redact(message, self._secrets), sql) from None

    def commit(self) -> None:
        """Commit what the run's connection wrote (a test that stores its failures writes a table, which
        dbt's test materialization commits); DuckDB commits each statement by itself."""
        if isinstance(self._inner, _PgConnections):
            self._inner.main().commit()

    def quote_policy(self) -> dict[str, bool]:
        """How dbt quotes the relations it creates: the adapter's default policy with the project's
        `quoting:` over it, read through dbt (loaded on first use: only tests storing failures ask)."""
        if self._dbt_config is None:
            return {"database": True, "schema": True, "identifier": True}
        from dbt.adapters.factory import get_adapter_class_by_name, load_plugin

        config = self._dbt_config()
        load_plugin(self.adapter_type)
        return relation_quote_policy(get_adapter_class_by_name(self.adapter_type).Relation, config)

    def close(self) -> None:
        """Close every connection (checks only read; failures dbt stores are committed by `commit`)."""
        inner, self._inner = self._inner, None
        if inner is not None:
            with contextlib.suppress(Exception):
                inner.close()

    def __enter__(self) -> ProfileWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def redacted(self) -> Iterator[None]:
        """DuckDB's errors with every secret masked, as the adapter path masks them."""
        try:
            yield
        except QueryError as exc:
            raise QueryError(redact(str(exc), self._secrets), exc.sql) from None
        except WarehouseError as exc:
            raise WarehouseError(redact(str(exc), self._secrets)) from None

    def _message(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split()) or type(exc).__name__
        return redact(text, self._secrets)


class _DuckDBSession:
    """One worker's DuckDB cursor as a `Warehouse`, its errors masked like the run's connection's."""

    def __init__(self, owner: ProfileWarehouse, cursor: Warehouse) -> None:
        self._owner = owner
        self._cursor = cursor
        self.dialect = owner.dialect

    def execute(self, statement: exp.Expr | str) -> QueryResult:
        """Run one statement on this worker's cursor."""
        with self._owner.redacted():
            return self._cursor.execute(statement)

    def commit(self) -> None:
        """DuckDB commits each statement by itself."""

    def quote_policy(self) -> dict[str, bool]:
        """The run's quote policy (`ProfileWarehouse.quote_policy`)."""
        return self._owner.quote_policy()

    def close(self) -> None:
        """The session closes the cursor."""


class _PgSession:
    """One worker's PostgreSQL connection as a `Warehouse`."""

    def __init__(self, owner: ProfileWarehouse, connection: Any) -> None:
        self._owner = owner
        self._connection = connection
        self.dialect = owner.dialect

    def execute(self, statement: exp.Expr | str) -> QueryResult:
        """Run one statement on this worker's connection."""
        return self._owner.run_pg(self._connection, render(statement, self.dialect))

    def commit(self) -> None:
        """Commit what this worker's connection wrote."""
        self._connection.commit()

    def quote_policy(self) -> dict[str, bool]:
        """The run's quote policy (`ProfileWarehouse.quote_policy`)."""
        return self._owner.quote_policy()

    def close(self) -> None:
        """The session closes the connection."""


class _PgConnections:
    """psycopg2 connections opened as dbt-postgres opens them: the run's own, and one per worker."""

    def __init__(self, kwargs: dict[str, Any], retries: int, role: str | None, autocommit: bool) -> None:
        self._kwargs = kwargs
        self._retries = retries
        self._role = role
        self._autocommit = autocommit
        self._main: Any = None
        self._lock = threading.Lock()

    def main(self) -> Any:
        """The run's own connection, opened once."""
        with self._lock:
            if self._main is None:
                self._main = self.open()
            return self._main

    def open(self) -> Any:
        """A new connection; OperationalError retried `retries` times after attempt² seconds, as dbt."""
        import psycopg2

        attempt = 0
        while True:
            try:
                handle = psycopg2.connect(**self._kwargs)
                break
            except psycopg2.OperationalError:
                if attempt >= self._retries:
                    raise
                time.sleep(attempt * attempt)
                attempt += 1
        if self._autocommit:
            handle.autocommit = True
        if self._role is not None:
            with handle.cursor() as cursor:
                cursor.execute("SET ROLE %s", (self._role,))
        return handle

    def close(self) -> None:
        """Close the run's connection."""
        if self._main is not None:
            self._main.close()
            self._main = None
