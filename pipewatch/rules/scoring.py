"""Thresholds (pass / fail / warn per check) and the CI gate over a quality report.

A counting check fails when its failing rows exceed `max_failures`, or its failing ratio
(failing / total rows) exceeds `max_failure_ratio`; with neither given, any failing row fails.
A `warn`-severity check that would fail is `warn`. The score is the contract of docs/contracts.md: per check
`1 - failing/total` (1/0 for row_count and freshness, 0 for an error), weighted mean per table,
tables weighted by their weight sums (see `results.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipewatch.rules.results import CheckResult, QualityReport, is_pass_fail

if TYPE_CHECKING:  # the gate, all after-run needs here, never touches a check spec
    from pipewatch.rules.spec import Check


def thresholds(check: Check) -> dict[str, Any]:
    """The limits a counting check is judged by, as reported (`max_failures` 0 when none is given)."""
    out: dict[str, Any] = {}
    if check.max_failures is not None or check.max_failure_ratio is None:
        out["max_failures"] = check.max_failures or 0
    if check.max_failure_ratio is not None:
        out["max_failure_ratio"] = check.max_failure_ratio
    if check.warn_above is not None:
        out["warn_above"] = check.warn_above
    return out


def exceeds(check: Check, failing: int, total: int | None) -> bool:
    """Whether `failing` rows out of `total` break the check's thresholds."""
    limits = thresholds(check)
    if "max_failures" in limits and failing > limits["max_failures"]:
        return True
    ratio = failing / total if total else 0.0
    return "max_failure_ratio" in limits and ratio > limits["max_failure_ratio"]


def status_for(check: Check, failed: bool) -> str:
    """`pass`, or `fail` / `warn` by severity when the check failed."""
    if not failed:
        return "pass"
    return "warn" if check.severity == "warn" else "fail"


def fails_gate(check: CheckResult) -> bool:
    """Whether this check alone fails the gate: it could not run (whatever its severity: pipewatch did not
    see the data, and dbt too exits 1 on an errored test), or it failed at error severity."""
    return check.status == "error" or (check.severity != "warn" and check.status == "fail")


def gate(
    report: QualityReport | None, min_score: float | None = None, *, per_check: bool = True
) -> tuple[bool, list[str]]:
    """Whether a run passes the quality gate, and why not: the one quality gate of `check` and `after-run`.

    Fails on a check that `fails_gate` (failed at error severity, or could not run at all), or an overall
    score below `min_score`. `per_check=False` gives one reason for all failed checks (after-run's verdict covers the whole run, and lists the checks in its quality section).
    """
    reasons: list[str] = []
    if report is None:
        return True, reasons
    failed = [c for c in report.checks if fails_gate(c)]
    if failed and not per_check:
        reasons.append(f"{len(failed)} error-severity check(s) failed")
        failed = []
    for c in failed:
        if c.status == "error":
            said = (
                next(iter((c.message or "").splitlines()), "") or "query failed"
            )  # a gate reason is one line
            reasons.append(f"{c.check_id}: check could not run: {said}")
        elif c.status == "fail":
            unit = "rows" if c.failing_unit == "rows" else f"{c.failing_unit}"
            if is_pass_fail(c.type):
                reasons.append(f"{c.check_id}: failed ({c.message or _metric(c.type, c.metric)})")
            elif c.engine == "dbt_unit":  # dbt's verdict on a unit test: no rows to count
                reasons.append(f"{c.check_id}: actual differs from expected")
            else:
                # dbt's own test query counts failures only: there is no total to set them against.
                of = f" of {c.total_rows}" if c.total_rows is not None else ""
                reasons.append(f"{c.check_id}: {c.failing_rows} failing {unit}{of}")
    if min_score is not None and report.score < min_score:
        reasons.append(f"quality score {report.score:.4f} is below the minimum {min_score:g}")
    return not reasons, reasons


def _metric(kind: str, metric: float | None) -> str:
    if metric is None:
        return "no rows"
    return f"{int(metric)} rows" if kind == "row_count" else f"lag {metric:.0f}s"
