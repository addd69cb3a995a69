"""Renderers of an after-run `Outcome`: text for terminals, JSON (a contract), Markdown and JUnit for CI."""

from __future__ import annotations

from pipewatch.analysis import Outcome
from pipewatch.errors import UsageError

FORMATS = ("text", "json", "markdown", "junit")


def render(outcome: Outcome, fmt: str, *, color: bool = False) -> str:
    """Render an outcome in one of FORMATS."""
    if fmt == "json":
        from pipewatch.outputs.json_output import render_json

        return render_json(outcome)
    if fmt == "markdown":
        from pipewatch.outputs.markdown import render_markdown

        return render_markdown(outcome)
    if fmt == "junit":
        from pipewatch.outputs.junit import render_junit

        return render_junit(outcome)
    if fmt == "text":
        from pipewatch.outputs.text import render_text

        return render_text(outcome, color=color)
    raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


__all__ = ["FORMATS", "render"]
