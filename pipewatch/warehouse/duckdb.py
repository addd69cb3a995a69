"""Native DuckDB warehouse: a database file, or an in-memory database with DataFrames/Parquet registered.

A connection pipewatch opens cannot reach outside its database: rule files name relations, and DuckDB
would read `"secrets/creds.csv"` or a URL as a table (and download an extension to do it). So once the
database file is attached (and any Parquet the caller registered is allowed), external access and
extension autoloading are switched off and the configuration is locked before the first query runs.
A connection handed in by the caller stays as the caller configured it.
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from pipewatch.errors import WarehouseError
from pipewatch.warehouse.base import QueryError, QueryResult, render


class DuckDBWarehouse:
    """A DuckDB connection held for the whole check run.

    `DuckDBWarehouse("warehouse.duckdb")` opens a database file (read-only by default: checks only read,
    and a read-only handle does not lock out other readers; `extensions` are installed and loaded before
    the seal, for a dbt profile that declares them); `DuckDBWarehouse()` is an in-memory database
    to which `register` adds pandas DataFrames and `register_parquet` Parquet files as named relations.
    """

    dialect = "duckdb"

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        read_only: bool = True,
        connection: Any | None = None,
        catalog: str | None = None,
        threads: int | None = None,
        extensions: Sequence[str] = (),
    ) -> None:
        #: How many connections (cursors) independent statements may use at once (`run_concurrently`).
        self.threads = threads or max(2, min(8, os.cpu_count() or 2))
        # Only connections pipewatch opened are locked down; the caller's own connection is theirs.
        self._sealed = connection is not None
        # Parquet registered before the lock, by DuckDB setting (allowed_paths / allowed_directories).
        self._allowed: dict[str, list[str]] = {"allowed_paths": [], "allowed_directories": []}
        if connection is not None:
            self._con = connection
        else:
            self._con = self._connect(path, read_only)
            if path is not None and catalog and catalog != self._catalog():
                self._con = self._attach_as(path, catalog, read_only)
            self._load(extensions)
        # DuckDB draws a progress bar on the terminal for long queries; pipewatch's output is its own.
        self._con.execute("SET enable_progress_bar = false")
        if path is not None:
            self._seal()  # the file is attached: nothing else needs the file system

    def _load(self, extensions: Sequence[str]) -> None:
        """Install and load the extensions a dbt profile declares, as dbt-duckdb does, before the seal
        (which stops only automatic loading: what is loaded stays usable)."""
        for name in extensions:
            try:
                self._con.install_extension(name)
                self._con.load_extension(name)
            except duckdb.Error as exc:
                self._con.close()
                raise WarehouseError(f"cannot load DuckDB extension `{name}`: {_message(exc)}") from None

    def _seal(self) -> None:
        """Switch off file, URL and extension access and lock the configuration (once)."""
        if self._sealed:
            return
        self._sealed = True
        try:
            for name, value in _LOCKDOWN:
                self._con.execute(_set(name, value))
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot restrict DuckDB's file access: {_message(exc)}") from None

    @staticmethod
    def _connect(path: str | Path | None, read_only: bool) -> Any:
        target = ":memory:" if path is None else str(path)
        if path is not None and read_only and not Path(path).exists():
            raise WarehouseError(f"{path}: DuckDB database file not found")
        try:
            return duckdb.connect(target, read_only=read_only and path is not None)
        except duckdb.Error as exc:
            raise WarehouseError(f"{target}: cannot open DuckDB database: {_message(exc)}") from None

    def _catalog(self) -> str | None:
        row = self._con.execute("SELECT current_database()").fetchone()
        return str(row[0]) if row else None

    def _attach_as(self, path: str | Path, catalog: str, read_only: bool) -> Any:
        """The file attached under `catalog`: DuckDB names a file's catalog after the file, so a copy
        (`ci.duckdb` of a `dev.duckdb` build) has another name than the one dbt compiled into its SQL."""
        self._con.close()
        con = duckdb.connect(":memory:")
        options = [exp.AttachOption(this=exp.var("READ_ONLY"))] if read_only else []
        attach = exp.Attach(
            this=exp.alias_(exp.Literal.string(str(path)), exp.to_identifier(catalog, quoted=True)),
            exists=False,
            expressions=options,
        )
        use = exp.Use(this=exp.Table(this=exp.to_identifier(catalog, quoted=True)))
        try:
            con.execute(attach.sql(dialect="duckdb"))
            con.execute(use.sql(dialect="duckdb"))
        except duckdb.Error as exc:
            con.close()
            raise WarehouseError(f"{path}: cannot attach as catalog `{catalog}`: {_message(exc)}") from None
        return con

    @contextlib.contextmanager
    def session(self) -> Iterator[_Cursor]:
        """A cursor of its own for one worker thread (see `warehouse.base.run_concurrently`)."""
        self._seal()
        try:
            cursor = self._con.cursor()
        except duckdb.Error as exc:  # a closed connection has no cursors either
            raise WarehouseError(f"DuckDB connection lost: {_message(exc)}") from None
        try:
            yield _Cursor(cursor)
        finally:
            cursor.close()

    def execute(self, statement: exp.Expr | str) -> QueryResult:
        """Run one statement and fetch its rows; a database error becomes `QueryError`."""
        self._seal()
        return _run(self._con, render(statement, self.dialect))

    def register(self, name: str, frame: Any) -> None:
        """Expose a pandas (or Arrow) DataFrame as the relation `name`."""
        try:
            self._con.register(name, frame)
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot register DataFrame as `{name}`: {_message(exc)}") from None

    def register_parquet(self, name: str, path: str | Path) -> None:
        """Expose Parquet file(s) (a path or glob) as the view `name`; call it before the first query."""
        if self._sealed:
            raise WarehouseError(
                f"cannot read Parquet {path}: register Parquet files before the first query"
                " (file access is switched off then)"
            )
        text = str(Path(path).absolute())
        # A glob is allowed by its fixed leading directory; a plain path by itself.
        key = "allowed_directories" if glob.has_magic(text) else "allowed_paths"
        allowed = _glob_root(text) if key == "allowed_directories" else text
        view = exp.Create(
            this=exp.Table(this=exp.to_identifier(name, quoted=True)),
            kind="VIEW",
            replace=True,
            expression=exp.select(exp.Star()).from_(
                exp.Anonymous(this="read_parquet", expressions=[exp.Literal.string(text)])
            ),
        )
        try:
            self._con.execute(view.sql(dialect="duckdb"))
            self._allowed[key].append(allowed)
            self._con.execute(_set(key, self._allowed[key]))
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot read Parquet {path}: {_message(exc)}") from None

    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    def __enter__(self) -> DuckDBWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Cursor:
    """One worker's DuckDB cursor as a `Warehouse`."""

    dialect = "duckdb"

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, statement: exp.Expr | str) -> QueryResult:
        """Run one statement on this cursor."""
        return _run(self._cursor, render(statement, self.dialect))

    def close(self) -> None:
        """The session closes the cursor."""


#: The settings that keep a sealed connection inside its database (DuckDB 1.1+ names).
_LOCKDOWN: tuple[tuple[str, object], ...] = (
    ("enable_external_access", False),
    ("autoload_known_extensions", False),
    ("autoinstall_known_extensions", False),
    ("lock_configuration", True),
)


def _set(name: str, value: object) -> str:
    """`SET name = value` as SQL, the value a literal (a list of paths becomes a list literal)."""
    if isinstance(value, bool):
        literal: exp.Expr = exp.Boolean(this=value)
    elif isinstance(value, list):
        literal = exp.Array(expressions=[exp.Literal.string(str(v)) for v in value])
    else:
        literal = exp.Literal.string(str(value))
    item = exp.SetItem(this=exp.EQ(this=exp.column(name), expression=literal))
    return exp.Set(expressions=[item]).sql(dialect="duckdb")


def _glob_root(pattern: str) -> str:
    """The directory a glob cannot leave: the path up to its first wildcard part."""
    parts = Path(pattern).parts
    first = next(i for i, p in enumerate(parts) if glob.has_magic(p))
    return str(Path(*parts[:first]))


def _run(con: Any, sql: str) -> QueryResult:
    """Run `sql` on a DuckDB connection or cursor; database errors as pipewatch's."""
    try:
        cur = con.execute(sql)
        rows = cur.fetchall()
        columns = [d[0] for d in (cur.description or [])]
    except duckdb.ConnectionException as exc:  # the connection is gone: nothing else can run either
        raise WarehouseError(f"DuckDB connection lost: {_message(exc)}") from None
    except duckdb.Error as exc:
        raise QueryError(_message(exc), sql) from None
    return QueryResult(columns, [tuple(r) for r in rows])


def _message(exc: BaseException) -> str:
    """The database's message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__
