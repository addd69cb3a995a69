"""The `pipewatch` command line: parse flags, call the library, map errors to exit codes.

Commands stay thin; every decision lives in the library so the Python API and the CLI agree.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from pipewatch import __version__
from pipewatch.errors import PipewatchError

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


def _warn(message: str) -> None:
    click.echo(f"pipewatch: warning: {message}", err=True)


def write_output(text: str, output: Path | None) -> None:
    """Write a rendered report to FILE (creating its folder) or to stdout."""
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise PipewatchError(f"{output}: cannot write: {exc.strerror or exc}") from None


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pipewatch")
def main() -> None:
    """pipewatch: the quality sidecar you run after `dbt build`."""


@main.command("after-run")
@project_dir_option
@target_path_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True
)
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write to FILE."
)
@click.option("--color/--no-color", default=None, help="Colour the terminal view (default: when a terminal).")
@handle_errors
def after_run(
    project_dir: Path, target_path: str | None, fmt: str, output: Path | None, color: bool | None
) -> None:
    """Analyse the artifacts of the last dbt invocation: failures, impact, owners, critical path, gate."""
    from pipewatch.analysis import analyze
    from pipewatch.artifacts import load_run
    from pipewatch.config import load_config
    from pipewatch.outputs import render

    config = load_config(project_dir)
    target = resolve_target_dir(project_dir, target_path, config.target_path)
    run = load_run(target)
    outcome = analyze(run, config)
    for warning in outcome.warnings:
        _warn(warning)
    if color is None:
        color = output is None and fmt == "text" and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    write_output(render(outcome, fmt, color=color), output)
    sys.exit(0 if outcome.gate.passed else 1)


@main.command("lineage")
@click.argument("node")
@project_dir_option
@target_path_option
@click.option("--depth", type=click.IntRange(min=1), default=None, help="Levels up and down (default: all).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@handle_errors
def lineage_cmd(node: str, project_dir: Path, target_path: str | None, depth: int | None, fmt: str) -> None:
    """Print NODE's upstream and downstream with each node's status in the last run.

    NODE is a unique id (`model.shop.orders`) or a bare name (`orders`) when that name is unambiguous.
    """
    from pipewatch.analysis import node_lineage
    from pipewatch.artifacts import load_run
    from pipewatch.config import load_config
    from pipewatch.outputs.lineage_view import render_lineage

    config = load_config(project_dir)
    run = load_run(resolve_target_dir(project_dir, target_path, config.target_path))
    view = node_lineage(run, node, depth)
    write_output(render_lineage(view, fmt), None)


@main.command("classify")
@click.argument("message", required=False)
@click.option(
    "--adapter", default=None, help="The dbt adapter that produced the message (duckdb, postgres, ...)."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@handle_errors
def classify_cmd(message: str | None, adapter: str | None, fmt: str) -> None:
    """Classify an error MESSAGE (or one message per line on stdin) the way after-run triages failures."""
    import json

    from pipewatch.errors import UsageError
    from pipewatch.triage import classify, known_adapters

    if adapter is not None and adapter.lower() not in known_adapters():
        raise UsageError(f"unknown --adapter {adapter!r}; known: {', '.join(known_adapters())}")
    if message is not None:
        messages = [message]
    else:
        # Binary garbage on stdin is still classified (as unknown), never a decode traceback.
        raw = sys.stdin.buffer.read()
        messages = [line for line in raw.decode("utf-8", errors="replace").splitlines() if line.strip()]
    for text in messages:
        verdict = classify(text, adapter)
        if fmt == "json":
            click.echo(json.dumps({"message": text[:500], **verdict.to_dict()}))
        else:
            target = (
                f" to {verdict.escalate_to}" if verdict.escalate_to and verdict.action == "escalate" else ""
            )
            click.echo(f"{verdict.category}\t{verdict.action}{target}\t{verdict.evidence}")


if __name__ == "__main__":  # pragma: no cover
    main()
