"""Quality results in words, shared by every view, and `pipewatch check`'s report in each format.

`describe(check)` is the one way a check's finding is put in words (values vs rows, the freshness
lag, the row count, the error); `failing_checks` the one order the checks that did not pass are
listed in. The text, Markdown and JUnit views of a `QualityReport` live with their format
(`text.render_quality_text`, `markdown.render_quality_markdown`, `junit.render_quality_junit`),
next to the after-run view that shares their helpers; `render_check` picks one, as
`pipewatch.outputs.render` does for an after-run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pipewatch import __version__
from pipewatch.errors import UsageError
from pipewatch.outputs import FORMATS
from pipewatch.rules.results import PASS_FAIL_TYPES, CheckResult, QualityReport

#: Statuses of checks that did not pass, in the order they are listed: what breaks the gate first.
_ATTENTION = {"fail": 0, "error": 1, "warn": 2}


def plural(n: int, word: str) -> str:
    """`1 row`, `1,234 rows`: a count with its noun."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def status_counts(report: QualityReport) -> dict[str, int]:
    """How many checks ended in each status (pass, fail, warn and error always present)."""
    counts = dict.fromkeys(("pass", "fail", "warn", "error"), 0)
    for check in report.checks:
        counts[check.status] = counts.get(check.status, 0) + 1
    return counts


def failing_checks(checks: Iterable[CheckResult]) -> list[CheckResult]:
    """The checks that did not pass: fail first, then error, then warn (report order within each)."""
    return sorted(
        (c for c in checks if c.status != "pass"), key=lambda c: _ATTENTION.get(c.status, len(_ATTENTION))
    )


def failing_count(check: CheckResult) -> str | None:
    """What a counted check found: `12 of 1,000 rows` or `1 value in 2 of 4 rows` (None when not counted).

    Whole-table checks (row_count, freshness, not_null_proportion) are not counted this way.
    """
    failing = check.failing_rows
    if failing is None or check.status == "error" or check.type in PASS_FAIL_TYPES:
        return None
    total = check.total_rows or 0
    if check.failing_unit == "values":
        held = f" in {check.affected_rows:,}" if failing and check.affected_rows is not None else ""
        return f"{plural(failing, 'value')}{held} of {plural(total, 'row')}"
    return f"{failing:,} of {plural(total, 'row')}"


def describe(check: CheckResult) -> str:
    """What a check found, in words: counts and ratio, the row count, the freshness lag or the error."""
    if check.status == "error":
        return f"could not run: {check.message or 'query failed'}"
    if check.type == "row_count":
        limits = " and ".join(f"{k} {v:,}" for k, v in check.threshold.items())
        return plural(check.total_rows or 0, "row") + (f" (expected {limits})" if limits else "")
    if check.type == "freshness":
        if check.metric is None:
            return check.message or "no timestamp to judge"
        max_age = check.threshold.get("max_age_s")
        limit = f", max {_duration(float(max_age))}" if max_age is not None else ""
        return f"newest value {_duration(check.metric)} old{limit}"
    if check.type == "not_null_proportion":
        if check.metric is None:
            return "no rows"
        lo, hi = check.threshold.get("at_least"), check.threshold.get("at_most")
        return f"{check.metric:.2%} not NULL (expected {lo:g} to {hi:g})"
    found = failing_count(check)
    if found is None:
        return check.message or "count unknown"
    if check.failing_unit != "values" and check.total_rows:
        found += f" ({(check.failing_rows or 0) / check.total_rows:.2%})"
    allowed = _allowed(check)
    return found + (f", allowed {allowed}" if allowed else "")


def sample_text(sample: dict[str, Any]) -> str:
    """One sample row of a failing check as one line of JSON."""
    return json.dumps(sample, default=str, ensure_ascii=False)


def _allowed(check: CheckResult) -> str:
    parts = []
    if check.threshold.get("max_failures"):
        parts.append(f"{check.threshold['max_failures']:,}")
    if "max_failure_ratio" in check.threshold:
        parts.append(f"{check.threshold['max_failure_ratio']:.2%}")
    return " / ".join(parts)


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def check_dict(report: QualityReport, passed: bool, reasons: list[str]) -> dict[str, Any]:
    """The JSON of `pipewatch check`: after-run's `quality` object (plus `skipped`) and `gate`."""
    from pipewatch.outputs.json_output import quality_dict

    return {
        "pipewatch_version": __version__,
        "quality": quality_dict(report),
        "gate": {"passed": passed, "reasons": reasons},
    }


def render_check(
    report: QualityReport, fmt: str, *, passed: bool, reasons: list[str], color: bool = False
) -> str:
    """The check report in one of FORMATS, with the gate's verdict."""
    # Each format's module is imported only when asked for, as `pipewatch.outputs.render` does; those
    # modules import this one for `describe`.
    if fmt == "json":
        return json.dumps(check_dict(report, passed, reasons), indent=2, default=str) + "\n"
    if fmt == "markdown":
        from pipewatch.outputs.markdown import render_quality_markdown

        return render_quality_markdown(report, passed=passed, reasons=reasons)
    if fmt == "junit":
        from pipewatch.outputs.junit import render_quality_junit

        return render_quality_junit(report, passed=passed, reasons=reasons)
    if fmt == "text":
        from pipewatch.outputs.text import render_quality_text

        return render_quality_text(report, passed=passed, reasons=reasons, color=color)
    raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
