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
