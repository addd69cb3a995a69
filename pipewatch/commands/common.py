"""What every pipewatch command shares: error handling, output writing, and the options of more than one command."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from pipewatch.errors import PipewatchError
from pipewatch.outputs import FORMATS

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int) -> None:
    click.echo(f"pipewatch: error: {message}", err=True)
    sys.exit(code)


def handle_errors(func: F) -> F:
    """Turn the project's own exceptions into one line on stderr and their exit code (never a traceback)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PipewatchError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:
            # `pipewatch ... | head` closes stdout early; that is not an error worth a traceback.
            sys.stderr.close()
            sys.exit(0)

    return wrapper  # type: ignore[return-value]


def warn(message: str) -> None:
    """Print a one-line warning on stderr."""
    click.echo(f"pipewatch: warning: {message}", err=True)


def write_output(text: str, output: Path | None) -> None:
    """Write a rendered report to FILE (whole or not at all, creating its folder) or to stdout."""
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    from pipewatch.outputs.files import write_atomic

    write_atomic(output, text, what="output")


def resolve_target_dir(project_dir: Path, target_path: str | None, config_target: str | None) -> Path:
    """Where dbt wrote its artifacts: --target-path, DBT_TARGET_PATH, pipewatch.yml, dbt_project.yml, `target`."""
    from pipewatch.config import read_target_path

    chosen = (
        target_path or os.environ.get("DBT_TARGET_PATH") or config_target or read_target_path(project_dir)
    )
    path = Path(chosen)
    return path if path.is_absolute() else project_dir / path


project_dir_option = click.option(
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The dbt project directory (where dbt_project.yml and pipewatch.yml live).",
)
target_path_option = click.option(
    "--target-path",
    default=None,
    help="dbt's target dir, relative to the project dir (default: DBT_TARGET_PATH, dbt_project.yml, `target`).",
)


def _apply(func: F, options: Sequence[Callable[[F], F]]) -> F:
    """Decorate `func` with `options` so that --help lists them in the order given."""
    for option in reversed(options):
        func = option(func)
    return func


def output_option(
    description: str = "Write to FILE.", default: Path | None = None, *, short: bool = False
) -> Callable[[F], F]:
    """`--output FILE` (and `-o` when `short`): where the command writes what it renders."""
    return click.option(
        "--output",
        *(("-o",) if short else ()),
        type=click.Path(dir_okay=False, path_type=Path),
        default=default,
        show_default=default is not None,
        help=description,
    )


def view_options(func: F) -> F:
    """--format, --output and --color: how a report is shown; shared by `check` and `after-run`."""
    options = [
        click.option(
            "--format",
            "fmt",
            type=click.Choice(list(FORMATS)),
            default="text",
            show_default=True,
            help="The view.",
        ),
        output_option(),
        click.option(
            "--color/--no-color", default=None, help="Colour the terminal view (default: when a terminal)."
        ),
    ]
    return _apply(func, options)


def wants_color(color: bool | None, output: Path | None, fmt: str) -> bool:
    """--color/--no-color as given; else colour the text view only on a terminal, unless NO_COLOR is set."""
    if color is not None:
        return color
    return output is None and fmt == "text" and sys.stdout.isatty() and "NO_COLOR" not in os.environ


def history_path_option(purpose: str) -> Callable[[F], F]:
    """`--history PATH`: the history store the command uses; `purpose` completes "History store ..."."""
    return click.option(
        "--history",
        "history_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"History store {purpose} (default: pipewatch.yml `history`, else .pipewatch/history.duckdb "
        "in the project dir).",
    )


def history_options(purpose: str, without: str) -> Callable[[F], F]:
    """`--history PATH` and `--no-history`: the store a command uses unless told to leave it out.

    `purpose` completes "History store ..." (e.g. "to record into"); `without` is --no-history's help.
    """

    def decorate(func: F) -> F:
        return _apply(
            func, [history_path_option(purpose), click.option("--no-history", is_flag=True, help=without)]
        )

    return decorate


def quality_options(func: F) -> F:
    """The flags that say which checks to run and where: shared by `check` and `after-run`."""
    options = [
        click.option(
            "--rules",
            "rules_path",
            type=click.Path(path_type=Path),
            default=None,
            help="Rule file or folder (default: pipewatch.yml `rules`, else the project's rules/).",
        ),
        click.option("--dbt-tests", is_flag=True, help="Also run the project's generic dbt tests as checks."),
        click.option(
            "--duckdb",
            "duckdb_path",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Check this DuckDB database file natively (instead of the dbt profile's warehouse).",
        ),
        click.option(
            "--profiles-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Where profiles.yml is (as dbt: DBT_PROFILES_DIR, the current dir, ~/.dbt).",
        ),
        click.option("--target", "dbt_target", default=None, help="The dbt target (default: the profile's)."),
        click.option("--profile", default=None, help="The dbt profile (default: dbt_project.yml's)."),
        click.option(
            "--samples",
            type=click.IntRange(min=0),
            default=5,
            show_default=True,
            help="Failing rows to fetch per failing check (0: none).",
        ),
        click.option(
            "--min-score",
            type=click.FloatRange(0.0, 1.0),
            default=None,
            help="Fail the gate below this quality score (default: pipewatch.yml `min_score`).",
        ),
    ]
    return _apply(func, options)
