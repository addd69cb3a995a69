"""What every pipewatch command shares: error handling, output writing, and the options of more than one command."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

# Re-exported for commands/check.py and commands/run.py until they import it from its home, config.
from pipewatch.errors import UsageError
from pipewatch.outputs import FORMATS

F = TypeVar("F", bound=Callable[..., Any])


class ExclusiveOption(click.Option):
    """An option that refuses to be given together with the options named in `excludes`.

    Contradictory flags (`--history X --no-history`) must not be resolved silently in favour of one:
    the user meant something, and guessing which is how a CI job quietly stops recording or checking.
    """

    def __init__(
        self, *args: Any, excludes: Sequence[str] = (), why: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.excludes = tuple(excludes)
        self.why = why  # the refusal's wording, when "cannot be given together" says too little

    def handle_parse_result(
        self, ctx: click.Context, opts: Mapping[str, Any], args: list[str]
    ) -> tuple[Any, list[str]]:
        """Refuse the option next to one it excludes, then process it as click does."""
        if self.name in opts:
            for name in self.excludes:
                if name in opts:
                    pair = f"{_flag(ctx, self.name)} and {_flag(ctx, name)}"
                    raise UsageError(self.why or f"{pair} cannot be given together; give one of them")
        return super().handle_parse_result(ctx, opts, args)


def _flag(ctx: click.Context, name: str | None) -> str:
    """The spelling of parameter `name` on the command line (`--no-history`)."""
    for param in ctx.command.params:
        if param.name == name and param.opts:
            return max(param.opts, key=len)
    return f"--{name}"


def warn(message: str) -> None:
    """Print a one-line warning on stderr."""
    click.echo(f"pipewatch: warning: {message}", err=True)


def write_output(text: str, output: Path | None) -> None:
    """Write a rendered report to FILE (whole or not at all, creating its folder) or to stdout."""
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    from pipewatch.commands.guard import refuse_outputs_over_inputs
    from pipewatch.outputs.files import write_atomic

    # Commands check at their start too; this catches any command that writes through here.
    context = click.get_current_context(silent=True)
    if context is not None:
        refuse_outputs_over_inputs(context.params)
    write_atomic(output, text, what="output")


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
            "--color",
            is_flag=True,
            default=None,
            cls=ExclusiveOption,
            excludes=("no_color",),
            callback=_color_choice,
            help="Colour the terminal view (default: when a terminal).",
        ),
        click.option(
            "--no-color",
            is_flag=True,
            cls=ExclusiveOption,
            excludes=("color",),
            expose_value=False,
            callback=_remember_no_color,
            help="Never colour the terminal view.",
        ),
    ]
    return _apply(func, options)


_NO_COLOR = "pipewatch.no_color"


def _remember_no_color(ctx: click.Context, _param: click.Parameter, value: bool | None) -> None:
    # --no-color is parsed as its own flag so that `--color --no-color` can be refused; it hands its
    # verdict to `color` through the context (a flag given on the command line is processed first).
    if value:
        ctx.meta[_NO_COLOR] = True


def _color_choice(ctx: click.Context, _param: click.Parameter, value: bool | None) -> bool | None:
    """The `color` parameter: True for --color, False for --no-color, None for neither."""
    if ctx.meta.get(_NO_COLOR):
        return False
    return True if value else None


def wants_color(color: bool | None, output: Path | None, fmt: str) -> bool:
    """--color/--no-color as given; else colour the text view only on a terminal, unless NO_COLOR is set."""
    if color is not None:
        return color
    stdout = sys.stdout
    return (
        output is None
        and fmt == "text"
        and stdout is not None
        and stdout.isatty()
        and "NO_COLOR" not in os.environ
    )


def history_path_option(purpose: str) -> Callable[[F], F]:
    """`--history PATH`: the history store the command uses; `purpose` completes "History store ..."."""
    return click.option(
        "--history",
        "history_path",
        cls=ExclusiveOption,
        excludes=("no_history",),
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
        no_history = click.option(
            "--no-history", is_flag=True, cls=ExclusiveOption, excludes=("history_path",), help=without
        )
        return _apply(func, [history_path_option(purpose), no_history])

    return decorate


def _finite_score(_ctx: click.Context, _param: click.Parameter, value: float | None) -> float | None:
    # FloatRange lets NaN through (every comparison with NaN is false), and a NaN minimum never fails.
    if value is not None and not math.isfinite(value):
        raise UsageError(f"--min-score must be a number between 0 and 1, not {value}")
    return value


def quality_options(func: F) -> F:
    """The flags that say which checks to run and where: shared by `check` and `after-run`."""
    options = [
        click.option(
            "--rules",
            "rules_path",
            cls=ExclusiveOption,
            excludes=("no_rules",),
            type=click.Path(path_type=Path),
            default=None,
            help="Rule file or folder (default: pipewatch.yml `rules`, else the project's rules/).",
        ),
        click.option("--dbt-tests", is_flag=True, help="Also run the project's generic dbt tests as checks."),
        click.option(
            "--duckdb",
            "duckdb_path",
            cls=ExclusiveOption,
            excludes=("profiles_dir", "dbt_target", "profile"),
            why="--duckdb checks a DuckDB file; --profiles-dir/--target/--profile pick a dbt profile",
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
            callback=_finite_score,
            help="Fail the gate below this quality score (default: pipewatch.yml `min_score`).",
        ),
    ]
    return _apply(func, options)
