"""The words every view shares: short names, first lines, lists cut to a screen, ages, checks described.

Text, Markdown, JUnit, GitHub, Slack and HTML all put the same things in words; this module is where
each is worded once. It imports no view, so every view can import it. Escaping for a format is not
wording: that lives in `pipewatch.outputs.escaping`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from pipewatch.rules.results import CheckResult, QualityReport, is_pass_fail
from pipewatch.rules.scoring import fails_gate
from pipewatch.schema_changes.model import ColumnChange

# A dbt message's first line (its header peeled) has one home, triage.unwrap; views re-export it.
from pipewatch.triage.unwrap import first_line as first_line

#: How many ids a list shows before it says "and N more": one screen is the point.
LIST_LIMIT = 5
#: A failing-row sample in a view: at most this many columns, each value cut to this many characters.
SAMPLE_COLUMNS = 8
SAMPLE_VALUE_CHARS = 80
#: The gate's reasons in a view: this many, each cut to one line of this width.
GATE_REASONS = 10
GATE_REASON_WIDTH = 200
#: Statuses of checks that did not pass, in the order they are listed after the gate-failing ones.
_ATTENTION = {"fail": 0, "error": 1, "warn": 2}


def short_id(unique_id: str) -> str:
    """`model.shop.stg_orders` -> `stg_orders` (tests keep their whole generated name)."""
    parts = unique_id.split(".")
    if parts[0] == "source" and len(parts) >= 4:
        return f"{parts[-2]}.{parts[-1]}"
    if parts[0] == "test" and len(parts) >= 4:
        return parts[2]
    return parts[-1] if len(parts) >= 3 else unique_id


def shorten_list(ids: Iterable[str], limit: int = LIST_LIMIT) -> str:
    """A comma list of short names, cut with "and N more"."""
    items = ids if isinstance(ids, (list, tuple)) else list(ids)
    # Only the names shown are shortened: a failure can skip tens of thousands of nodes.
    head = ", ".join([short_id(i) for i in items[:limit]])
    return head + (f" and {len(items) - limit} more" if len(items) > limit else "")


def impact_order(ids: Iterable[str]) -> list[str]:
    """Ids ordered by what a reader cares about first: exposures, then models and the like, tests last."""
    rank = {"exposure": 0, "test": 2, "unit_test": 2}
    return sorted(ids, key=lambda uid: (rank.get(uid.partition(".")[0], 1), uid))


def cut(text: str, width: int) -> str:
    """`text` cut to `width` characters, an ellipsis marking the cut."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def plural(n: int, word: str) -> str:
    """`1 row`, `1,234 rows`: a count with its noun."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def iso_utc(ts: float | None) -> str | None:
    """A POSIX timestamp as ISO 8601 UTC with a `Z` (None stays None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def human_age(seconds: float) -> str:
    """How old something is, as people say it: `40 s`, `12 min`, `5 h`, `3 days`, `2.5 years`."""
    s = max(0.0, seconds)
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    if s < 48 * 3600:
        return f"{s / 3600:.0f} h"
    days = s / 86400
    if days < 365:
        return plural(round(days), "day")
    return f"{days / 365.25:.1f} years"


def format_seconds(value: float | None) -> str:
    """`0.42s`, `12.3s`, `4m 05s`, `1h 02m`: durations as the report shows them (`—` when unknown)."""
    if value is None or not math.isfinite(value):
        return "—"
    if value < 10:
        return f"{value:.2f}s"
    if value < 60:
        return f"{value:.1f}s"
    if value < 3600:
        return f"{int(value // 60)}m {int(value % 60):02d}s"
    return f"{int(value // 3600)}h {int(value % 3600 // 60):02d}m"


def duration(seconds: float) -> str:
    """A compact duration for a check's finding: `42s`, `3.5m`, `2.0h`, `1.5d`."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def status_counts(report: QualityReport) -> dict[str, int]:
    """How many checks ended in each status (pass, fail, warn and error always present)."""
    counts = dict.fromkeys(("pass", "fail", "warn", "error"), 0)
    for check in report.checks:
        counts[check.status] = counts.get(check.status, 0) + 1
    return counts


def attention_order(checks: Iterable[CheckResult]) -> list[CheckResult]:
    """The checks that did not pass, those failing the gate first (`rules.scoring.fails_gate`), then
    fail, error, warn (report order within each)."""
    return sorted(
        (c for c in checks if c.status != "pass"),
        key=lambda c: (not fails_gate(c), _ATTENTION.get(c.status, len(_ATTENTION))),
    )


def failing_count(check: CheckResult) -> str | None:
    """What a counted check found: `12 of 1,000 rows` or `1 value in 2 of 4 rows` (None when not counted).

    Whole-table checks (row_count, freshness, not_null_proportion) are not counted this way.
    """
    failing = check.failing_rows
    if failing is None or check.status == "error" or is_pass_fail(check.type):
        return None
    if check.total_rows is None and check.engine == "dbt_sql":  # dbt's query counts failures only
        return f"{failing:,} failing (dbt: {check.threshold.get('fail_calc', 'count(*)')})"
    total = check.total_rows or 0
    if check.failing_unit == "values":
        held = f" in {check.affected_rows:,}" if failing and check.affected_rows is not None else ""
        return f"{plural(failing, 'value')}{held} of {plural(total, 'row')}"
    return f"{failing:,} of {plural(total, 'row')}"


def describe(check: CheckResult) -> str:
    """What a check found, in words: counts and ratio, the row count, the freshness lag or the error."""
    if check.status == "error":
        # The database's first line; the rest (a Spark logical plan) stays in the JSON view.
        return f"could not run: {first_line(check.message, width=400) or 'query failed'}"
    if check.engine == "dbt_unit":  # dbt's verdict: its diff is in the message
        return (
            "actual equals expected"
            if check.status == "pass"
            else "actual differs from expected (dbt's diff)"
        )
    if check.type == "row_count":
        limits = " and ".join(f"{k} {v:,}" for k, v in check.threshold.items())
        return plural(check.total_rows or 0, "row") + (f" (expected {limits})" if limits else "")
    if check.type == "freshness":
        if check.metric is None:
            return check.message or "no timestamp to judge"
        max_age = check.threshold.get("max_age_s")
        limit = f", max {duration(float(max_age))}" if max_age is not None else ""
        return f"newest value {duration(check.metric)} old{limit}"
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


def _allowed(check: CheckResult) -> str:
    parts = []
    if check.threshold.get("max_failures"):
        parts.append(f"{check.threshold['max_failures']:,}")
    if "max_failure_ratio" in check.threshold:
        parts.append(f"{check.threshold['max_failure_ratio']:.2%}")
    return " / ".join(parts)


def sample_cells(
    sample: dict[str, Any], *, columns: int = SAMPLE_COLUMNS, chars: int = SAMPLE_VALUE_CHARS
) -> tuple[dict[str, Any], int]:
    """A failing-row sample cut for a view: its first `columns` columns, text values cut to `chars`;
    and how many columns were left out. (The JSON contract keeps samples whole.)"""
    kept: dict[str, Any] = {}
    for key, value in list(sample.items())[:columns]:
        if value is None or isinstance(value, bool | int | float):
            kept[cut(str(key), chars)] = value
        else:
            kept[cut(str(key), chars)] = cut(str(value), chars)
    return kept, max(0, len(sample) - columns)


def sample_text(sample: dict[str, Any]) -> str:
    """One sample row of a failing check as one line of JSON, cut to a few columns and short values."""
    kept, more = sample_cells(sample)
    text = json.dumps(kept, default=str, ensure_ascii=False)
    return text + (f" … and {plural(more, 'more column')}" if more else "")


def gate_reasons(
    reasons: list[str], *, limit: int = GATE_REASONS, width: int = GATE_REASON_WIDTH
) -> list[str]:
    """The gate's reasons for a view: each cut to its first line, at most `limit`, then "… and N more"."""
    lines = [first_line(r, width) or cut(r.strip(), width) for r in reasons[:limit]]
    if len(reasons) > limit:
        lines.append(f"… and {len(reasons) - limit} more")
    return lines


def caused_by(changes: Sequence[ColumnChange]) -> str | None:
    """`probably caused by: stg_x dropped column y`: the schema changes a failure read, in words."""
    if not changes:
        return None
    return "probably caused by: " + "; ".join(c.phrase() for c in changes[:LIST_LIMIT])


def schema_change_line(change: ColumnChange) -> str:
    """One schema change with who reads it: `stg_x dropped column y · read by orders, orders.y_total`."""
    readers = shorten_list(change.downstream)
    line = change.phrase()
    if readers:
        line += f" · read by {readers}"
    if change.exposures:
        line += f" · exposures {shorten_list(change.exposures)}"
    if change.precision != "column":
        line += " (table-level: some SQL below it could not be parsed)"
    return line
