"""What can go wrong with the history store, as the project's exceptions (each with its exit code)."""

from __future__ import annotations

from pipewatch.errors import EXIT_WAREHOUSE, PipewatchError


class HistoryError(PipewatchError):
    """The history store is missing, not a DuckDB file, not a pipewatch store, or from a newer pipewatch.

    An input problem (exit 2): the file is left exactly as it was found.
    """


class HistoryLockedError(HistoryError):
    """Another process kept the store locked for longer than the lock timeout.

    Not the user's input and not the data: like a busy warehouse, it maps to exit 3.
    """

    exit_code = EXIT_WAREHOUSE


class DamagedStoreError(HistoryError):
    """The store file is damaged: truncated, a table missing, blocks that cannot be read.

    Raised by every open, ingest and read that meets the damage, before anything is written; the file
    is left exactly as it was found (never repaired, re-created or overwritten). Exit 2. Callers that
    must go on without history (after-run) catch it as a `HistoryError`. Recovery (README, "History
    store"): `pipewatch history doctor` says what is wrong; move the file aside; `pipewatch history
    ingest` of the kept target/ dirs (or `--from-warehouse`) rebuilds the history into a new file.
    """

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(
            f"{path}: history store is damaged ({problem}); it was left as it is: see "
            f"`pipewatch history doctor --history {path}`, move the file aside and rebuild it with "
            "`pipewatch history ingest`"
        )
        self.path = str(path)
        self.problem = problem
