"""The history store: a DuckDB file every run is recorded into, opened briefly and shared safely.

DuckDB lets one process at a time open a file for writing. `HistoryStore` therefore holds no
connection: each operation opens the file, does its work in one transaction and closes it, and an
open that finds the file locked by another pipewatch waits and retries with backoff up to
`lock_timeout` seconds before giving up with `HistoryLockedError`. Opening migrates an older
schema forward (`schema.MIGRATIONS`). A file that is not a DuckDB database, or a DuckDB database
that is not a pipewatch store, is reported in one line and never written to.

Readers (`connect(create=False)`: `history show`, trends) open the file read-only, so they work on a
read-only file and beside another reader. A damaged store (truncated, a table missing, unreadable
blocks) raises `DamagedStoreError` on open, ingest or read, and is never written to: a writer reads
every table once before its first write (`verify`). `diagnose` is `pipewatch history doctor`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from pipewatch.backoff import Backoff
from pipewatch.errors import exception_line
from pipewatch.history import ingest as _ingest
from pipewatch.history.errors import DamagedStoreError, HistoryError, HistoryLockedError
from pipewatch.history.ingest import sql_timestamp
from pipewatch.history.schema import MIGRATIONS, SCHEMA_VERSION, TABLES

if TYPE_CHECKING:
    from pipewatch.artifacts.model import Run, SourceFreshness
    from pipewatch.history.alerts import AlertOutbox
    from pipewatch.rules.results import QualityReport

#: How long an open waits for another process's lock before giving up (seconds).
DEFAULT_LOCK_TIMEOUT_S = 30.0
#: The waits between lock attempts: up to 20 ms, doubling, never more than a second.
LOCK_BACKOFF = Backoff(base=0.02, cap=1.0)
_LOCK_MESSAGE = re.compile(r"could not set lock|conflicting lock", re.IGNORECASE)
_PID = re.compile(r"\(PID (\d+)\)")
# DuckDB's words for a file it cannot read back: truncated (`Could not read enough bytes`), a bad
# block checksum (`Corrupt database file`), a block it cannot deserialize.
_DAMAGE = re.compile(r"could not read|corrupt|checksum|serializ|invalid block|out of range", re.IGNORECASE)

# DuckDB shares one database instance between the connections of a process, so the file lock does
# not keep two threads of one process apart; this does, for the operations that write.
_process_write_lock = threading.RLock()

#: Test seam: called inside the ingest transaction, just before COMMIT, with the invocation id.
#: The crash and contention tests use it to hold a transaction open deterministically.
in_transaction_hook: Callable[[str], None] | None = None


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What `HistoryStore.prune` removed."""

    cutoff: float  # POSIX seconds: invocations generated before this were removed
    invocations: int
    node_results: int
    check_results: int
    source_freshness: int
    alerts: int
    column_snapshots: int = 0


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """What `HistoryStore.diagnose` found: the schema version, each readable table's rows, the problems."""

    path: Path
    size_bytes: int
    schema_version: int | None  # None when it could not be read
    rows: dict[str, int]  # table -> row count, for the tables that read back whole
    problems: tuple[str, ...]  # one line each; empty for a healthy store

    @property
    def healthy(self) -> bool:
        """True when nothing is wrong with the store."""
        return not self.problems


class HistoryStore:
    """A pipewatch history file: ingest runs, prune old ones, and open it for queries.

    Holds only the path; every call opens the file for as short a time as it can.
    """

    def __init__(self, path: Path | str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        #: How many times an open found the file locked and waited (observability and tests).
        self.lock_waits = 0
        self._verified = False  # every table was read back once by this instance (see `verify`)

    def __repr__(self) -> str:
        return f"HistoryStore({str(self.path)!r})"

    @property
    def exists(self) -> bool:
        """Whether the store file is there (nothing has been recorded yet when it is not)."""
        return self.path.is_file()

    @contextmanager
    def connect(self, *, create: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the store (waiting out another writer's lock), bring its schema up to date, close after.

        With `create=False` the caller only reads: a missing store is a `HistoryError` instead of a new
        empty file, and the file is opened read-only (it may be read-only, or open in another reader),
        unless its schema is older and must be migrated first. Damage met while the block runs (a
        truncated file) is a `DamagedStoreError`.
        """
        if not create and not self.exists:
            raise HistoryError(
                f"{self.path}: no history store here yet; `pipewatch after-run` or "
                "`pipewatch history ingest TARGET_DIR` records runs into it"
            )
        if not create:
            con = self._open(read_only=True)
            try:
                if _read_version(con, self.path) == SCHEMA_VERSION:
                    _check_tables(con, self.path)
                    with _damage_reported(self.path):
                        yield con
                    return
            finally:
                con.close()
        con = self._open()
        try:
            _ensure_schema(con, self.path)
            with _damage_reported(self.path):
                yield con
        finally:
            con.close()

    def _open(self, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        if self.path.is_dir():
            raise HistoryError(
                f"{self.path}: is a directory; the history store is a file (e.g. history.duckdb)"
            )
        if not read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HistoryError(f"{self.path}: cannot create its folder: {exc.strerror or exc}") from None
        deadline = time.monotonic() + max(0.0, self.lock_timeout)
        waits = 0  # of this open: each open starts with short waits again
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.Error as exc:
                message = exception_line(exc)
                if not _LOCK_MESSAGE.search(message):
                    raise HistoryError(_unusable(self.path, message)) from None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    holder = _PID.search(message)
                    by = f" by process {holder.group(1)}" if holder else " by another process"
                    raise HistoryLockedError(
                        f"{self.path}: history store is locked{by}; gave up after {self.lock_timeout:g}s "
                        "(another pipewatch is writing to it, or hung holding it)"
                    ) from None
                # Jitter keeps two waiting writers from retrying in lockstep.
                time.sleep(LOCK_BACKOFF.delay(waits, at_most=remaining))
                waits += 1
                self.lock_waits += 1

    def ensure(self) -> None:
        """Create the store if absent and bring it up to date, or fail now if it is unusable or locked.

        Worth calling before slow work whose result is to be recorded (a backfill loading artifacts).
        """
        with self.writer():
            pass

    def ingest(
        self,
        run: Run,
        *,
        quality: QualityReport | None = None,
        freshness: list[SourceFreshness] | None = None,
        source: str = "artifacts",
        now: float | None = None,
    ) -> _ingest.IngestResult:
        """Record one run (and its quality checks and source freshness) in one transaction.

        Keyed by invocation id: recording a run that is already there changes nothing. `freshness`
        defaults to the run's own sources.json results when they were checked with this run.
        `source` says where the run came from: `artifacts` or `warehouse-audit`.
        """
        rows = _ingest.build_rows(run, quality=quality, freshness=freshness, source=source, now=now)
        with self.writer() as con:
            return record(con, rows)

    @contextmanager
    def writer(self, *, create: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """`connect()` for a writer: also keeps other threads of this process from writing meanwhile,
        and, before this instance's first write, reads the store back whole (`verify`), so a damaged
        store is reported and left as it is instead of being written to."""
        if not create and not self.exists:
            raise HistoryError(f"{self.path}: no history store here yet")
        with _process_write_lock, self.connect() as con:
            if not self._verified:
                _verify(con, self.path)
                self._verified = True
            yield con

    def verify(self) -> None:
        """Read every table of the store back whole; `DamagedStoreError` if any of it cannot be read."""
        with self.connect(create=False) as con:
            _verify(con, self.path)

    def prune(self, keep_seconds: float, *, now: float | None = None) -> PruneResult:
        """Delete invocations generated more than `keep_seconds` ago, their rows, and alerts as old.

        One transaction; the file's freed space is reclaimed by a checkpoint afterwards.
        """
        if keep_seconds < 0:
            raise HistoryError(f"keep must not be negative (got {keep_seconds:g}s)")
        cutoff = (time.time() if now is None else now) - keep_seconds
        params = {"cutoff": cutoff}
        before = sql_timestamp("$cutoff")
        old = f"SELECT invocation_id FROM invocations WHERE generated_at < {before}"
        deletes = {
            "node_results": f"DELETE FROM node_results WHERE invocation_id IN ({old})",
            "check_results": f"DELETE FROM check_results WHERE invocation_id IN ({old})",
            "source_freshness": f"DELETE FROM source_freshness WHERE invocation_id IN ({old})",
            "column_snapshots": f"DELETE FROM column_snapshots WHERE invocation_id IN ({old})",
            "alerts": f"DELETE FROM alerts WHERE created_at < {before}",
            "invocations": f"DELETE FROM invocations WHERE generated_at < {before}",  # last: the others use it
        }
        with self.writer(create=False) as con:
            with transaction(con):
                counts = {table: _count(con.execute(sql, params)) for table, sql in deletes.items()}
                # A column set no snapshot names any more is gone with the last invocation that had it.
                con.execute(
                    "DELETE FROM column_sets WHERE digest NOT IN (SELECT DISTINCT digest FROM column_snapshots)"
                )
            if counts["invocations"]:
                con.execute("CHECKPOINT")
        return PruneResult(
            cutoff=cutoff,
            invocations=counts["invocations"],
            node_results=counts["node_results"],
            check_results=counts["check_results"],
            source_freshness=counts["source_freshness"],
            alerts=counts["alerts"],
            column_snapshots=counts["column_snapshots"],
        )

    def invocation_count(self) -> int:
        """How many invocations the store holds (0 when the file is absent)."""
        if not self.exists:
            return 0
        with self.connect(create=False) as con:
            row = con.execute("SELECT count(*) FROM invocations").fetchone()
        return int(row[0]) if row else 0

    def diagnose(self) -> Diagnosis:
        """Check the store without changing it (`pipewatch history doctor`): open it read-only, read its
        schema version, check every table is there and read each one back whole, counting rows.

        A store that cannot be opened at all (missing, not DuckDB, locked) is a `HistoryError`.
        """
        if not self.exists:
            raise HistoryError(f"{self.path}: no history store here (nothing has been recorded yet)")
        con = self._open(read_only=True)
        try:
            return _diagnose(con, self.path)
        finally:
            con.close()

    @property
    def alerts(self) -> AlertOutbox:
        """The Slack alert outbox kept in this store."""
        from pipewatch.history.alerts import AlertOutbox

        return AlertOutbox(self)


def record(
    con: duckdb.DuckDBPyConnection,
    rows: _ingest.RunRows,
    also: Callable[[_ingest.IngestResult], None] | None = None,
) -> _ingest.IngestResult:
    """Write one run's rows in one transaction on an open store connection (see `ingest.write_rows`);
    `also` writes more of the same run (its column snapshot) inside that transaction."""
    with transaction(con):
        result = _ingest.write_rows(con, rows)
        if also is not None:
            also(result)
        if in_transaction_hook is not None:
            in_transaction_hook(rows.invocation_id)
    return result


def latest_invocation(con: duckdb.DuckDBPyConnection) -> str | None:
    """The id of the most recently generated invocation on an open store connection."""
    row = con.execute(
        "SELECT invocation_id FROM invocations ORDER BY generated_at DESC, ingested_at DESC LIMIT 1"
    ).fetchone()
    return str(row[0]) if row else None


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT around a block; ROLLBACK if it raises (including a DuckDB error)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _count(cursor: duckdb.DuckDBPyConnection) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row else 0


def _unusable(path: Path, message: str) -> str:
    if "not a valid DuckDB database" in message:
        return f"{path}: not a DuckDB database, so not a history store; move it aside or pass --history PATH"
    return f"{path}: cannot open the history store: {message}"


def _read_version(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """The store's schema version (0 for an empty database); HistoryError if it is not a pipewatch store."""
    try:
        try:
            versions = con.execute("SELECT version FROM main.schema_version").fetchall()
        except duckdb.CatalogException:
            versions = None
        tables = [str(name) for (name,) in con.execute(_TABLES_SQL).fetchall()] if versions is None else []
    except duckdb.Error as exc:
        raise HistoryError(f"{path}: cannot read the history store: {exception_line(exc)}") from None
    if versions is None:
        if tables:
            listed = ", ".join(tables[:3]) + (", ..." if len(tables) > 3 else "")
            raise HistoryError(
                f"{path}: a DuckDB database with other tables ({listed}), not a pipewatch history store; "
                "pass --history PATH to keep history elsewhere"
            )
        return 0
    if len(versions) != 1 or not isinstance(versions[0][0], int):
        raise HistoryError(f"{path}: history store has a damaged schema_version table; move it aside")
    return int(versions[0][0])


@contextmanager
def _damage_reported(path: Path) -> Iterator[None]:
    """Turn DuckDB's error for a file it cannot read back into `DamagedStoreError`; others pass."""
    try:
        yield
    except duckdb.Error as exc:
        message = exception_line(exc)
        if isinstance(exc, duckdb.IOException | duckdb.SerializationException) and _DAMAGE.search(message):
            raise DamagedStoreError(path, message) from None
        raise


def _check_tables(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """`DamagedStoreError` when a table of the current schema is missing (cheap: the catalog only)."""
    present = {str(name) for (name,) in con.execute(_TABLES_SQL).fetchall()}
    missing = sorted(TABLES - present)
    if missing:
        raise DamagedStoreError(path, f"missing table(s): {', '.join(missing)}")


def _verify(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Read every value of every table (DuckDB checks each block as it reads it); see `scan_table`."""
    for table in sorted(TABLES):
        try:
            scan_table(con, table)
        except duckdb.Error as exc:
            raise DamagedStoreError(path, f"table {table}: {exception_line(exc)}") from None


def scan_table(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Read every value of `table` back and return its row count; a DuckDB error if any block is bad.

    `count(*)` alone is answered from metadata, so each column is cast and measured to make DuckDB
    read (and checksum) its data blocks.
    """
    columns = [
        str(name)
        for (name,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND table_name = $t ORDER BY column_index",
            {"t": table},
        ).fetchall()
    ]
    reads = "".join(f', max(length(CAST("{c}" AS VARCHAR)))' for c in columns)
    row = con.execute(f'SELECT count(*){reads} FROM main."{table}"').fetchone()
    return int(row[0]) if row else 0


_TABLES_SQL = (
    "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
    "AND schema_name = 'main' ORDER BY table_name"
)


def _diagnose(con: duckdb.DuckDBPyConnection, path: Path) -> Diagnosis:
    problems: list[str] = []
    version: int | None = None
    try:
        version = _read_version(con, path)
    except HistoryError as exc:
        problems.append(str(exc).removeprefix(f"{path}: "))
    if version is not None and version > SCHEMA_VERSION:
        problems.append(f"schema v{version} is newer than this pipewatch knows (v{SCHEMA_VERSION})")
    try:
        present = {str(name) for (name,) in con.execute(_TABLES_SQL).fetchall()}
    except duckdb.Error as exc:
        present = set()
        problems.append(f"cannot list its tables: {exception_line(exc)}")
    if version == SCHEMA_VERSION:
        problems.extend(f"table {table} is missing" for table in sorted(TABLES - present))
    rows: dict[str, int] = {}
    for table in sorted(TABLES & present):
        try:
            rows[table] = scan_table(con, table)
        except duckdb.Error as exc:
            problems.append(f"table {table} cannot be read back: {exception_line(exc)}")
    return Diagnosis(path, path.stat().st_size, version, rows, tuple(problems))


def _ensure_schema(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Check the file is a pipewatch store and run the migrations it is missing (one transaction)."""
    version = _read_version(con, path)
    if version > SCHEMA_VERSION:
        raise HistoryError(
            f"{path}: history store has schema v{version}, newer than this pipewatch knows (v{SCHEMA_VERSION}); "
            "upgrade pipewatch"
        )
    if version == SCHEMA_VERSION:
        _check_tables(con, path)
        return
    with _process_write_lock:
        # Another thread of this process may have migrated while this one waited for the lock.
        version = _read_version(con, path)
        if version == SCHEMA_VERSION:
            _check_tables(con, path)
            return
        try:
            with transaction(con):
                for step in MIGRATIONS[version:]:
                    step(con)
                if version == 0:
                    con.execute("INSERT INTO schema_version VALUES ($v)", {"v": SCHEMA_VERSION})
                else:
                    con.execute("UPDATE schema_version SET version = $v", {"v": SCHEMA_VERSION})
        except duckdb.Error as exc:
            raise HistoryError(
                f"{path}: cannot migrate the history store from schema v{version} to v{SCHEMA_VERSION}: "
                f"{exception_line(exc)}"
            ) from None
