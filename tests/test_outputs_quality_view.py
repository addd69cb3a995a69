"""Quality results in words and in every view, on hand-built QualityReports (no warehouse, no dbt)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipewatch.analysis import analyze
from pipewatch.errors import UsageError
from pipewatch.history.testing import make_run, node_result
from pipewatch.outputs import render, render_check
from pipewatch.outputs.json_output import check_dict
from pipewatch.outputs.wording import attention_order, describe, failing_count, sample_text
from pipewatch.rules.results import CheckResult, QualityReport, SkippedCheck, TableResult

ORDERS = "main.orders"


def check(name: str, status: str = "pass", **fields: Any) -> CheckResult:
    """A not_null check on main.orders unless `fields` say otherwise."""
    values: dict[str, Any] = {
        "check_id": f"{ORDERS}::{name}",
        "name": name,
        "type": "not_null",
        "relation": ORDERS,
        "column": "order_id",
        "status": status,
        "severity": "error",
        "failing_rows": 0,
        "total_rows": 4,
    }
    return CheckResult(**{**values, **fields})


def report() -> QualityReport:
    """orders: two fails, a warn, an error, passes; customers: one pass; one skipped dbt test."""
    orders = [
        check("not_null(order_id)", "fail", failing_rows=12, total_rows=1000, samples=[{"order_id": None}]),
        check("unique(order_id)", "fail", type="unique", failing_rows=1, failing_unit="values", affected_rows=2),
        check("range(amount)", "warn", type="range", severity="warn", column="amount", failing_rows=3,
              total_rows=1000, threshold={"max_failures": 2, "max_failure_ratio": 0.001}),
        check("broken", "error", type="expression", column=None, failing_rows=None, total_rows=None,
              message="Binder Error: column x not found\nLINE 1: SELECT x"),
        check("row_count", type="row_count", column=None, failing_rows=0, total_rows=4, threshold={"min": 1}),
    ]  # fmt: skip
    customers = [check("not_null(id)", relation="main.customers", check_id="main.customers::nn")]
    return QualityReport(
        [TableResult(ORDERS, orders, model="model.shop.orders"), TableResult("main.customers", customers)],
        elapsed_s=0.5,
        skipped=[SkippedCheck("test.shop.singular", "singular", "singular tests are SQL of their own")],
    )


# ---------------------------------------------------------------------------- describe


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"failing_rows": 12, "total_rows": 1000}, "12 of 1,000 rows (1.20%)"),
        ({"failing_rows": 0, "total_rows": 1}, "0 of 1 row (0.00%)"),
        ({"failing_rows": 0, "total_rows": 0}, "0 of 0 rows"),
        ({"failing_rows": 1, "failing_unit": "values", "affected_rows": 2}, "1 value in 2 of 4 rows"),
        ({"failing_rows": 0, "failing_unit": "values", "affected_rows": 0}, "0 values of 4 rows"),
        (
            {
                "failing_rows": 3,
                "total_rows": 1000,
                "threshold": {"max_failures": 2, "max_failure_ratio": 0.001},
            },
            "3 of 1,000 rows (0.30%), allowed 2 / 0.10%",
        ),
        ({"failing_rows": None, "message": "count unknown here"}, "count unknown here"),
        ({"failing_rows": None}, "count unknown"),
        ({"status": "error", "message": "Binder Error"}, "could not run: Binder Error"),
        ({"status": "error"}, "could not run: query failed"),
        ({"type": "row_count", "total_rows": 0, "threshold": {"min": 1}}, "0 rows (expected min 1)"),
        ({"type": "row_count", "total_rows": 1234567}, "1,234,567 rows"),
        (
            {"type": "freshness", "metric": 400000.0, "threshold": {"max_age_s": 172800}},
            "newest value 4.6d old, max 2.0d",
        ),
        ({"type": "freshness", "metric": 90.0}, "newest value 1.5m old"),
        ({"type": "freshness", "metric": None}, "no timestamp to judge"),
        (
            {
                "type": "not_null_proportion",
                "metric": 0.5,
                "failing_rows": 1,
                "threshold": {"at_least": 0.9, "at_most": 1},
            },
            "50.00% not NULL (expected 0.9 to 1)",
        ),
        ({"type": "not_null_proportion", "metric": None}, "no rows"),
    ],
)
def test_describe_puts_each_kind_of_finding_in_words(fields: dict[str, Any], expected: str) -> None:
    assert describe(check("c", **fields)) == expected


def test_failing_count_is_for_counted_checks_only() -> None:
    assert failing_count(check("c", failing_rows=2)) == "2 of 4 rows"
    assert failing_count(check("c", "error", failing_rows=None)) is None
    # not_null_proportion counts one "row" when out of bounds, as dbt does: not a count to show
    assert failing_count(check("c", type="not_null_proportion", failing_rows=1)) is None


@settings(max_examples=200, deadline=None)
@given(
    failing=st.none() | st.integers(min_value=0, max_value=10**12),
    total=st.none() | st.integers(min_value=0, max_value=10**12),
    unit=st.sampled_from(["rows", "values"]),
    kind=st.sampled_from(["not_null", "unique", "row_count", "freshness", "not_null_proportion"]),
    status=st.sampled_from(["pass", "fail", "warn", "error"]),
    metric=st.none() | st.floats(min_value=-1e9, max_value=1e9),
)
def test_describe_always_says_something_on_one_line(
    failing: int | None, total: int | None, unit: str, kind: str, status: str, metric: float | None
) -> None:
    threshold = {"at_least": 0.1, "at_most": 1.0} if kind == "not_null_proportion" else {}
    c = check("c", status, type=kind, failing_rows=failing, total_rows=total, failing_unit=unit,
              affected_rows=failing, metric=metric, threshold=threshold)  # fmt: skip
    words = describe(c)
    assert words and "None" not in words and "\n" not in words


def test_failing_checks_list_fail_then_error_then_warn() -> None:
    checks = [check("w1", "warn"), check("e1", "error"), check("p", "pass"), check("f1", "fail"),
              check("w2", "warn"), check("f2", "fail")]  # fmt: skip
    assert [c.name for c in attention_order(checks)] == ["f1", "f2", "e1", "w1", "w2"]


def test_sample_text_is_one_json_line() -> None:
    assert sample_text({"a": None, "d": "é", "n": 2}) == '{"a": null, "d": "é", "n": 2}'


# ---------------------------------------------------------------------------- pipewatch check's views


def test_text_lists_every_check_by_table_with_samples_skips_and_gate() -> None:
    out = render_check(report(), "text", passed=False, reasons=["r1", "r2"])
    lines = out.splitlines()
    assert (
        lines[0].startswith("QUALITY score ") and "6 checks on 2 tables · 2 fail, 1 warn, 1 error" in lines[0]
    )
    assert "  fail  not_null(order_id)  12 of 1,000 rows (1.20%)" in lines
    assert '        e.g. {"order_id": null}' in lines
    assert "  pass  row_count           4 rows (expected min 1)" in lines
    assert "  singular: singular tests are SQL of their own" in lines
    assert lines[-2:] == ["GATE failed: r1", "             r2"]
    assert "\x1b[" not in out
    coloured = render_check(report(), "text", passed=True, reasons=[], color=True)
    assert "\x1b[31m\x1b[1mfail \x1b[0m" in coloured and coloured.rstrip().endswith("GATE passed\x1b[0m")


def test_markdown_has_a_table_per_relation_and_escapes_cells() -> None:
    rep = report()
    rep.tables[0].checks[0].name = "a|b"
    out = render_check(rep, "markdown", passed=False, reasons=["x|y"])
    assert out.startswith("## pipewatch check: quality score ") and "(❌ gate failed)" in out
    assert "6 checks on 2 tables: 2 pass, 2 fail, 1 warn, 1 error." in out
    assert "- x\\|y" in out
    assert "| fail | a\\|b | not_null | order_id | 12 of 1,000 rows (1.20%) |" in out
    # the database's first line; the rest of its message is in the JSON view
    assert "| error | broken | expression |  | could not run: Binder Error: column x not found |" in out
    assert "<details><summary>samples: a\\|b</summary>" in out
    assert "- `test.shop.singular`: singular tests are SQL of their own" in out


def test_junit_has_a_suite_per_relation_and_the_verdict_once() -> None:
    root = ET.fromstring(render_check(report(), "junit", passed=False, reasons=["r1"]))
    assert root.get("name") == "pipewatch check" and root.get("time") == "0.500"
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "7", "failures": "2", "errors": "1", "skipped": "1"
    }  # fmt: skip
    orders, customers, skipped = root.findall("testsuite")
    props = {p.get("name"): p.get("value") for p in orders.iter("property")}
    assert (
        props["gate"] == "failed: r1" and props["model"] == "model.shop.orders" and "quality_score" in props
    )
    assert {p.get("name") for p in customers.iter("property")} == {"score"}
    cases = {c.get("name"): c for c in orders.findall("testcase")}
    failure = cases["not_null(order_id)"].find("failure")
    assert failure is not None and failure.get("message") == "12 of 1,000 rows (1.20%)"
    assert cases["not_null(order_id)"].get("classname") == f"{ORDERS}::not_null(order_id)"
    assert 'samples:\n  {"order_id": null}' in (failure.text or "")
    error = cases["broken"].find("error")
    assert error is not None and (error.get("message") or "").startswith("could not run: Binder Error")
    out = cases["range(amount)"].find("system-out")
    assert out is not None and (out.text or "").startswith("warn: 3 of 1,000 rows (0.30%), allowed 2 / 0.10%")
    assert list(cases["row_count"]) == []
    assert skipped.get("skipped") == "1" and skipped.find("testcase/skipped") is not None


@settings(max_examples=60, deadline=None)
@given(name=st.text(max_size=40), message=st.text(max_size=400))
def test_junit_is_well_formed_whatever_the_text(name: str, message: str) -> None:
    c = check(name, "error", relation=name, check_id=name, message=message, failing_rows=None)
    rep = QualityReport([TableResult(name, [c], model=name)], skipped=[SkippedCheck(name, name, message)])
    root = ET.fromstring(render_check(rep, "junit", passed=False, reasons=[message]))
    assert root.get("errors") == "1"


def test_json_is_the_quality_object_with_the_gate() -> None:
    doc = json.loads(render_check(report(), "json", passed=True, reasons=[]))
    assert doc == json.loads(json.dumps(check_dict(report(), True, []), default=str))
    assert set(doc) == {"pipewatch_version", "quality", "gate"} and doc["gate"] == {
        "passed": True,
        "reasons": [],
    }


def test_an_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown format 'html'"):
        render_check(report(), "html", passed=True, reasons=[])


# ---------------------------------------------------------------------------- after-run's quality sections


def _after_run(quality: QualityReport) -> Any:
    run = make_run("inv", 10.0, [node_result("model.p.a", started=1.0)])
    return analyze(run, quality=quality)


def many_failing() -> QualityReport:
    """Twelve not-passing checks: 4 warn, 4 error, 4 fail, in that order in the report."""
    checks = [check(f"w{i}", "warn", severity="warn", failing_rows=i + 1) for i in range(4)]
    checks += [check(f"e{i}", "error", failing_rows=None, message=f"boom {i}\nmore") for i in range(4)]
    checks += [check(f"f{i}", "fail", type="unique", failing_rows=i + 1, failing_unit="values",
                     affected_rows=2 * (i + 1)) for i in range(4)]  # fmt: skip
    return QualityReport([TableResult(ORDERS, checks)])


def test_after_run_text_describes_the_failing_checks_fail_first_and_cut() -> None:
    text = render(_after_run(many_failing()), "text")
    section = text[text.index("QUALITY score") :].splitlines()
    assert "12 checks on 1 table · 4 fail, 4 warn, 4 error" in section[0]
    assert section[1].startswith("  fail  f0 on main.orders") and section[1].endswith(
        "1 value in 2 of 4 rows"
    )
    assert section[5].startswith("  error e0 on main.orders") and section[5].endswith("could not run: boom 0")
    assert section[6] == "  and 7 more"
    assert "None" not in text


def test_after_run_text_reads_freshness_and_row_count_right() -> None:
    checks = [
        check("freshness(ts)", "fail", type="freshness", failing_rows=None, metric=7200.0,
              threshold={"max_age_s": 3600}),
        check("row_count", "fail", type="row_count", failing_rows=None, total_rows=0, threshold={"min": 1}),
    ]  # fmt: skip
    text = render(_after_run(QualityReport([TableResult(ORDERS, checks)])), "text")
    assert "newest value 2.0h old, max 1.0h" in text and "0 rows (expected min 1)" in text
    assert "and " not in text[text.index("QUALITY") :]


def test_after_run_markdown_lists_failing_checks_in_words_and_cuts() -> None:
    md = render(_after_run(many_failing()), "markdown")
    section = md[md.index("### Quality") :].splitlines()
    rows = [line for line in section if line.startswith("| ") and "---" not in line][1:]
    assert [r.split(" | ")[1] for r in rows] == ["f0", "f1", "f2", "f3", "e0", "e1", "e2", "e3", "w0", "w1"]
    assert rows[0] == "| fail | f0 | main.orders | 1 value in 2 of 4 rows |"
    assert "and 2 more" in section
    clean = render(_after_run(QualityReport([TableResult(ORDERS, [check("ok")])])), "markdown")
    assert clean.endswith(
        "### Quality: score 1.000\n\n1 check on 1 table: 1 pass, 0 fail, 0 warn, 0 error.\n"
    )


def test_after_run_junit_builds_check_cases_the_same_way() -> None:
    root = ET.fromstring(render(_after_run(report()), "junit"))
    quality = root.findall("testsuite")[-1]
    cases = {c.get("name"): c for c in quality.findall("testcase")}
    assert len(cases) == 6 and cases["broken"].get("classname") == ORDERS
    failure = cases["unique(order_id)"].find("failure")
    assert failure is not None and failure.get("message") == "1 value in 2 of 4 rows failing"
    assert (failure.text or "").startswith("unique on order_id · severity error")
    error = cases["broken"].find("error")
    assert error is not None and error.get("message") == "could not run: Binder Error: column x not found"
