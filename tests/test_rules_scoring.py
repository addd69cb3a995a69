"""Scores (docs/contracts.md) and the CI gate: weighted per table, tables weighted by weight sums; warn never gates."""

from __future__ import annotations

import pytest

from pipewatch.rules import gate
from pipewatch.rules.results import CheckResult, QualityReport, TableResult
from pipewatch.rules.scoring import exceeds, thresholds
from pipewatch.rules.spec import NotNull


def check(
    type_: str = "not_null",
    status: str = "pass",
    failing: int | None = 0,
    total: int | None = 100,
    weight: float = 1.0,
    severity: str = "error",
    name: str = "c",
) -> CheckResult:
    return CheckResult(
        check_id=f"t::{name}",
        name=name,
        type=type_,
        relation="t",
        column="x",
        status=status,
        severity=severity,
        failing_rows=failing,
        total_rows=total,
        weight=weight,
    )


def test_check_scores() -> None:
    assert check(failing=0).score == 1.0
    assert check(status="fail", failing=25).score == 0.75
    assert check(status="warn", failing=100).score == 0.0
    assert check(status="error", failing=None).score == 0.0
    assert check("row_count", "pass", None).score == 1.0
    assert check("row_count", "fail", None).score == 0.0
    assert check("freshness", "fail", None).score == 0.0
    assert check(status="pass", failing=0, total=0).score == 1.0  # empty table, nothing failed


def test_table_and_report_scores_are_weighted() -> None:
    a = TableResult("a", [check(failing=50, status="fail", weight=1), check(failing=0, weight=3)])
    assert a.weight == 4 and a.score == pytest.approx((0.5 * 1 + 1.0 * 3) / 4)
    b = TableResult("b", [check("row_count", "fail", None, weight=2)])
    assert b.score == 0.0
    report = QualityReport([a, b])
    assert report.score == pytest.approx((a.score * 4 + b.score * 2) / 6)
    assert QualityReport([]).score == 1.0
    assert TableResult("z", [check(weight=0)]).score == 1.0  # zero weight: counts for nothing


def test_gate() -> None:
    ok = QualityReport(
        [TableResult("t", [check(), check(status="warn", failing=9, severity="warn", name="w")])]
    )
    assert gate(ok) == (True, [])
    assert gate(ok, 0.9) == (True, [])
    passed, reasons = gate(ok, 0.99)
    assert not passed and reasons == ["quality score 0.9550 is below the minimum 0.99"]
    failed = QualityReport([TableResult("t", [check(status="fail", failing=3, name="nn")])])
    assert gate(failed) == (False, ["t::nn: 3 failing rows of 100"])
    errored = QualityReport([TableResult("t", [check(status="error", failing=None, name="e")])])
    errored.checks[0].message = "Binder Error: nope"
    assert gate(errored) == (False, ["t::e: check could not run: Binder Error: nope"])
    warn_error = QualityReport([TableResult("t", [check(status="error", failing=None, severity="warn")])])
    # A check that could not run fails the gate whatever its severity: nothing was seen (dbt exits 1 too).
    assert not gate(warn_error)[0]
    warn_fail = QualityReport([TableResult("t", [check(status="warn", failing=3, severity="warn")])])
    assert gate(warn_fail)[0]  # a warn-severity check that ran and failed only warns
    stale = check("freshness", "fail", None, name="f")
    stale.message = "newest `ts` is 90000s old, max 3600s"
    assert gate(QualityReport([TableResult("t", [stale])]))[1] == [
        "t::f: failed (newest `ts` is 90000s old, max 3600s)"
    ]
    assert gate(None, 0.99) == (True, [])


@pytest.mark.parametrize(
    ("max_failures", "ratio", "failing", "total", "over"),
    [
        (None, None, 0, 10, False),
        (None, None, 1, 10, True),
        (2, None, 2, 10, False),
        (2, None, 3, 10, True),
        (None, 0.2, 2, 10, False),
        (None, 0.2, 3, 10, True),  # ratio alone: no implicit max_failures=0
        (5, 0.1, 2, 10, True),  # either limit breaks it
        (None, 0.0, 1, 0, False),  # empty table: ratio 0
    ],
)
def test_thresholds(
    max_failures: int | None, ratio: float | None, failing: int, total: int, over: bool
) -> None:
    c = NotNull(name="n", column="x", max_failures=max_failures, max_failure_ratio=ratio)
    assert exceeds(c, failing, total) is over
    limits = thresholds(c)
    assert ("max_failures" in limits) == (max_failures is not None or ratio is None)
