"""The `pipewatch` command line: the group that maps every error to an exit code, and its commands.

Each command lives in `pipewatch.commands` and calls one library function; this module only registers
them and owns the group where exceptions become one line on stderr and an exit code (README, "Exit
codes"), so no command needs its own error handling.
"""

from __future__ import annotations

import sys

from pipewatch.runner.early import spawn_from_argv

# `pipewatch run -- dbt ...`: dbt starts now, while the rest of pipewatch is still being imported.
spawn_from_argv(sys.argv)

import atexit  # noqa: E402 - after dbt is started, on purpose
import contextlib  # noqa: E402
import errno  # noqa: E402
import importlib  # noqa: E402
import os  # noqa: E402
import threading  # noqa: E402
from typing import Any, NoReturn  # noqa: E402

import click  # noqa: E402

from pipewatch import __version__  # noqa: E402
from pipewatch.errors import EXIT_INPUT, PipewatchError  # noqa: E402


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"pipewatch: error: {message}", err=True)
    sys.exit(code)


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's own flush at exit cannot fail a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
    finally:
        os.close(devnull)


def _flush_stdout() -> None:
    """Flush stdout now, while a failure can still be reported: a full disk shows only on flush."""
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        # `pipewatch ... | head` closes stdout early; the reader has what it wanted.
        _silence_stdout()
    except OSError as exc:
        _silence_stdout()
        raise PipewatchError(f"cannot write to standard output: {exc.strerror or exc}") from None


class PipewatchGroup(click.Group):
    """A click group that turns every failure of a command into one line on stderr and its exit code.

    pipewatch's own errors (`PipewatchError`, a ClickException) carry their code (2 input, 3 warehouse)
    and are printed by click's entry point through their `show`; this group adds the rest: an
    interrupt is 130, any other operating-system error (a file that cannot be read or written) is an
    input error, 2. Stdout is flushed before the process ends so that a write the disk refused is
    reported, not lost.
    """

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; report what went wrong in one line, never a traceback."""
        if sys.stdout is None:
            # Started with fd 1 closed (`pipewatch ... >&-`): every report would vanish silently.
            _fail("standard output is closed; redirect it to a file or /dev/null instead", EXIT_INPUT)
        try:
            try:
                return super().invoke(ctx)
            finally:
                _flush_stdout()
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:
            _silence_stdout()
            sys.exit(0)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EBADF) and exc.filename is None:
                _silence_stdout()
                _fail(f"cannot write to standard output: {exc.strerror or exc}", EXIT_INPUT)
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(f"{where}{exc.strerror or exc}", EXIT_INPUT)


#: Every command: its module and object in `pipewatch.commands`, and the first paragraph of its help
#: (what `pipewatch --help` lists). A command's module is imported only when that command runs (or
#: its own help is asked for), so no command pays for another's imports at start-up;
#: tests/test_cli_lazy.py keeps the help lines equal to the commands' own.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "after-run": (
        "after_run",
        "after_run_command",
        "Analyse the artifacts of the last dbt invocation: failures, impact, owners, critical path, gate.",
    ),
    "check": (
        "check",
        "check_command",
        "Run quality rules (and, with --dbt-tests, the dbt tests) inside the warehouse, one scan per table.",
    ),
    "classify": (
        "classify",
        "classify_command",
        "Classify an error MESSAGE (or one message per line on stdin) the way after-run triages failures.",
    ),
    "history": (
        "history",
        "history",
        "The run history store: backfill it, look at trends, prune it, check it.",
    ),
    "init": (
        "init",
        "init_command",
        "Scaffold pipewatch.yml, a sample rules/pipewatch.yml and the packages.yml entry into a dbt project.",
    ),
    "lineage": (
        "lineage",
        "lineage_command",
        "Print NODE's upstream and downstream with each node's status in the last run.",
    ),
    "report": (
        "report",
        "report_command",
        "Write the HTML report of the last dbt invocation: failures, lineage, timeline, quality, trends.",
    ),
    "retry-plan": (
        "run",
        "retry_plan_command",
        "Print what `pipewatch run` would do about the last dbt invocation, without running anything.",
    ),
    "run": (
        "run",
        "run_command",
        "Run a dbt command and retry its transient failures: `pipewatch run -- dbt build [dbt args...]`.",
    ),
    "watch": (
        "watch",
        "watch_command",
        "Follow a running dbt build (SOURCE: `-` for stdin, or dbt's JSON log file) and alert as it runs.",
    ),
}


class LazyGroup(PipewatchGroup):
    """The top-level group: commands are imported when they run, and listed from `COMMANDS`."""

    def list_commands(self, _ctx: click.Context) -> list[str]:
        """Every command name, sorted (as click lists them)."""
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, _ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command object, importing its module on first use."""
        command = self.commands.get(cmd_name)
        if command is None and cmd_name in COMMANDS:
            module, attribute, _ = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(f"pipewatch.commands.{module}"), attribute)
            self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The `Commands:` section from `COMMANDS`' help lines, without importing any command."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            # A bare Command carrying the help line shortens it exactly as the real one would.
            command = self.commands.get(name) or click.Command(name, help=COMMANDS[name][2])
            rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pipewatch")
def main() -> None:
    """pipewatch: the quality sidecar you run after `dbt build`."""


def run() -> None:
    """The `pipewatch` console script: `main`, then an exit that does not free the heap first.

    A process that has decoded a 70 MB manifest holds millions of objects; freeing them one by one
    at interpreter exit is pure waste (~40 ms of an after-run), so, as mypy's fast exit does, the
    exit handlers run, the standard streams are flushed and the process ends with `os._exit`. A
    non-daemon thread still running (none should be) gets the interpreter's ordinary exit instead.
    """
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    else:  # pragma: no cover - click's standalone mode always exits
        code = 0
    if isinstance(code, str) or any(t.is_alive() and not t.daemon for t in _other_threads()):
        raise SystemExit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken pipe was reported by the group
            if stream is not None:
                stream.flush()
    os._exit(code or 0)


def _other_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t is not threading.main_thread()]


if __name__ == "__main__":  # pragma: no cover
    run()
