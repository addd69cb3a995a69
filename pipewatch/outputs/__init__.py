"""Renderers of pipewatch's results, and the one dispatcher that picks a format.

An after-run `Outcome` (`render`) and `pipewatch check`'s `QualityReport` (`render_check`) each have
a view per format: text for terminals, JSON (a contract), Markdown and JUnit for CI. Each format's
module is imported only when asked for, and no view imports this package's dispatcher back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipewatch.errors import UsageError

if TYPE_CHECKING:
    from pipewatch.analysis import Outcome
    from pipewatch.rules.results import QualityReport

FORMATS = ("text", "json", "markdown", "junit")


def _unknown(fmt: str) -> UsageError:
    return UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


def render(outcome: Outcome, fmt: str, *, color: bool = False, full_lists: bool = False) -> str:
    """Render an after-run outcome in one of FORMATS (`full_lists`: JSON lists uncut)."""
    if fmt == "json":
        from pipewatch.outputs.json_output import render_json

        return render_json(outcome, full_lists=full_lists)
    if fmt == "markdown":
        from pipewatch.outputs.markdown import render_markdown

        return render_markdown(outcome)
    if fmt == "junit":
        from pipewatch.outputs.junit import render_junit

        return render_junit(outcome)
    if fmt == "text":
        from pipewatch.outputs.text import render_text

        return render_text(outcome, color=color)
    raise _unknown(fmt)


def render_check(
    report: QualityReport, fmt: str, *, passed: bool, reasons: list[str], color: bool = False
) -> str:
    """Render `pipewatch check`'s quality report in one of FORMATS, with the gate's verdict."""
    if fmt == "json":
        from pipewatch.outputs.json_output import render_check_json

        return render_check_json(report, passed=passed, reasons=reasons)
    if fmt == "markdown":
        from pipewatch.outputs.markdown import render_quality_markdown

        return render_quality_markdown(report, passed=passed, reasons=reasons)
    if fmt == "junit":
        from pipewatch.outputs.junit import render_quality_junit

        return render_quality_junit(report, passed=passed, reasons=reasons)
    if fmt == "text":
        from pipewatch.outputs.text import render_quality_text

        return render_quality_text(report, passed=passed, reasons=reasons, color=color)
    raise _unknown(fmt)


__all__ = ["FORMATS", "render", "render_check"]
