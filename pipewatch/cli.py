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

import errno  # noqa: E402 - after dbt is started, on purpose
import os  # noqa: E402
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


@click.group(cls=PipewatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pipewatch")
def main() -> None:
    """pipewatch: the quality sidecar you run after `dbt build`."""


def _register() -> None:
    from pipewatch.commands.after_run import after_run_command
    from pipewatch.commands.check import check_command
    from pipewatch.commands.classify import classify_command
    from pipewatch.commands.history import history
    from pipewatch.commands.init import init_command
    from pipewatch.commands.lineage import lineage_command
    from pipewatch.commands.report import report_command
    from pipewatch.commands.run import retry_plan_command, run_command
    from pipewatch.commands.watch import watch_command

    main.add_command(after_run_command, "after-run")
    main.add_command(lineage_command, "lineage")
    main.add_command(classify_command, "classify")
    main.add_command(run_command, "run")
    main.add_command(retry_plan_command, "retry-plan")
    main.add_command(history, "history")
    main.add_command(report_command, "report")
    main.add_command(check_command, "check")
    main.add_command(init_command, "init")
    main.add_command(watch_command, "watch")


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
