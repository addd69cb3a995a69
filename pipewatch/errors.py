"""The exceptions pipewatch raises on purpose, each carrying the exit code the CLI maps it to.

Exit codes (a contract, see the README):
0 ran and the gate passed; 1 ran and the gate failed; 2 usage or input error; 3 warehouse error.
"""

from __future__ import annotations

from typing import IO, Any

import click

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_INPUT = 2
EXIT_WAREHOUSE = 3


def exception_line(exc: BaseException) -> str:
    """The first line of an exception's text (or its type name when it has none), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class PipewatchError(click.ClickException):
    """Base class: a one-line, user-facing message and the process exit code it maps to.

    A ClickException, so that click's own entry point (`main()`, and `CliRunner` on any single
    command) prints it the one way pipewatch prints errors and exits with `exit_code`: the mapping
    from error to exit code lives here and nowhere else.
    """

    exit_code = EXIT_INPUT

    def show(self, file: IO[Any] | None = None) -> None:
        """Print `pipewatch: error: <message>` on stderr (or `file`): one line, never a traceback."""
        click.echo(f"pipewatch: error: {self.message}", file=file, err=file is None)


class UsageError(PipewatchError):
    """A bad flag, option value or command-line combination."""

    exit_code = EXIT_INPUT


class ArtifactError(PipewatchError):
    """A dbt artifact is missing, unreadable, not JSON, or of a schema pipewatch refuses."""

    exit_code = EXIT_INPUT

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


class ConfigError(PipewatchError):
    """An invalid pipewatch.yml or rule file; the message names the file and line."""

    exit_code = EXIT_INPUT


class WarehouseError(PipewatchError):
    """The warehouse could not be reached or a query failed for reasons outside the data."""

    exit_code = EXIT_WAREHOUSE
