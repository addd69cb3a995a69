"""JUnit XML (`--format junit`): what CI systems (GitLab, Jenkins, Azure, CircleCI) show as tests.

An after-run: one testsuite for the dbt invocation with a testcase per node result (an errored node
is an `<error>`, a failed test a `<failure>`, a skipped node `<skipped>` naming what it waited on),
one for source freshness when sources.json belongs to the run, and one for quality checks.
`pipewatch check`: a testsuite per checked relation, and one for the dbt tests it could not run.
Either way a quality check is a testcase built by `quality_case`. Built with xml.etree, so the file
is well-formed whatever the messages hold; characters XML 1.0 cannot carry (NUL, most control
characters, lone surrogates) are dropped first.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable

from pipewatch.analysis import Failure, Outcome
from pipewatch.outputs.escaping import xml_text
from pipewatch.outputs.wording import (
    describe,
    failing_count,
    first_line,
    gate_reasons,
    human_age,
    iso_utc,
    sample_text,
    short_id,
)
from pipewatch.rules.results import CheckResult, QualityReport, is_pass_fail

_MESSAGE_WIDTH = 300
_PASSING = frozenset({"success", "pass", "warn", "no-op", "reused"})


def _set(element: ET.Element, **attrs: object) -> None:
    for key, value in attrs.items():
        if value is not None:
            element.set(key, xml_text(value))


def _seconds(value: float | None) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) and value == value and value >= 0 else "0.000"


def _case(
    suite: ET.Element, *, name: str, classname: str, time: float | None, file: str | None
) -> ET.Element:
    case = ET.SubElement(suite, "testcase")
    _set(case, name=name, classname=classname, time=_seconds(time), file=file or None)
    return case


def _outcome_child(case: ET.Element, tag: str, message: str, kind: str | None, body: str | None) -> None:
    child = ET.SubElement(case, tag)
    _set(child, message=message, type=kind)
    if body:
        child.text = xml_text(body)


def _totals(suite: ET.Element) -> dict[str, int]:
    cases = suite.findall("testcase")
    return {
        "tests": len(cases),
        "failures": sum(1 for c in cases if c.find("failure") is not None),
        "errors": sum(1 for c in cases if c.find("error") is not None),
        "skipped": sum(1 for c in cases if c.find("skipped") is not None),
    }


def _finish(suite: ET.Element, time: float) -> None:
    for key, value in _totals(suite).items():
        suite.set(key, str(value))
    suite.set("time", _seconds(time))


def _properties(suite: ET.Element, values: Iterable[tuple[str, object]]) -> None:
    props = ET.SubElement(suite, "properties")
    for name, value in values:
        if value is not None:
            prop = ET.SubElement(props, "property")
            _set(prop, name=name, value=value)


def _failure_detail(failure: Failure) -> str:
    """The full message, then who must act and what the failure hit downstream."""
    c = failure.classification
    lines = [failure.message or "", "", f"unique_id: {failure.unique_id}"]
    lines.append(
        f"category: {c.category} -> {c.action}"
        + (f" to {failure.escalate_to}" if failure.escalate_to else "")
    )
    lines.append(f"evidence: {c.evidence}")
    if failure.owner:
        lines.append(f"owner: {failure.owner}")
    if failure.skipped_downstream:
        lines.append(
            f"skipped downstream ({len(failure.skipped_downstream)}): {', '.join(failure.skipped_downstream)}"
        )
    if failure.exposures:
        lines.append(f"exposures: {', '.join(failure.exposures)}")
    return "\n".join(lines).strip()


def _node_suite(root: ET.Element, outcome: Outcome) -> None:
    run = outcome.run
    suite = ET.SubElement(root, "testsuite")
    label = " ".join(p for p in (f"dbt {run.command}" if run.command else "dbt", run.project_name) if p)
    _set(suite, name=label, timestamp=iso_utc(run.generated_at))
    _properties(
        suite,
        [
            ("invocation_id", run.invocation_id),
            ("dbt_version", run.dbt_version),
            ("target", run.target),
            ("adapter", run.adapter_type),
            ("gate", _gate_text(outcome.gate.passed, outcome.gate.reasons)),
        ],
    )
    failures = {f.unique_id: f for f in outcome.failures}
    causes = {s.unique_id: s.root_causes for s in outcome.skipped}
    for result in run.results:
        node = run.nodes.get(result.unique_id)
        kind = node.resource_type if node else result.unique_id.partition(".")[0]
        package = node.package if node else result.unique_id.split(".")[1] if "." in result.unique_id else ""
        case = _case(
            suite,
            name=node.name if node else short_id(result.unique_id),
            classname=".".join(p for p in (package, kind) if p),
            time=result.execution_time,
            file=node.path if node else None,
        )
        failure = failures.get(result.unique_id)
        detail = _failure_detail(failure) if failure is not None else None
        message = first_line(result.message, width=_MESSAGE_WIDTH) or result.status
        if result.status == "fail":
            _outcome_child(
                case, "failure", message, failure.classification.category if failure else "test", detail
            )
        elif result.status in ("error", "partial success") or (
            failure is not None and result.status not in _PASSING
        ):
            _outcome_child(
                case, "error", message, failure.classification.category if failure else "error", detail
            )
        elif result.status == "skipped":
            roots = causes.get(result.unique_id, ())
            why = f"skipped: upstream {', '.join(roots)} failed" if roots else "skipped"
            ET.SubElement(case, "skipped").set("message", xml_text(why))
        elif result.status == "warn":
            out = ET.SubElement(case, "system-out")
            out.text = xml_text(f"warn: {result.message or ''}".strip())
    _finish(suite, run.elapsed_time or sum(r.execution_time for r in run.results))


def _freshness_suite(root: ET.Element, outcome: Outcome) -> None:
    if not outcome.freshness:
        return
    suite = ET.SubElement(root, "testsuite")
    _set(suite, name="dbt source freshness")
    for fresh in outcome.freshness:
        node = outcome.run.nodes.get(fresh.unique_id)
        case = _case(
            suite,
            name=short_id(fresh.unique_id),
            classname="source freshness",
            time=fresh.execution_time,
            file=node.path if node else None,
        )
        age = f"loaded {human_age(fresh.age_s)} ago" if fresh.age_s is not None else "age unknown"
        if fresh.status in ("error", "runtime error", "fail"):
            limit = f" (error_after {fresh.error_after_s / 3600:g}h)" if fresh.error_after_s else ""
            _outcome_child(case, "failure", f"stale: {age}{limit}", "freshness", fresh.message)
        elif fresh.status == "warn":
            ET.SubElement(case, "system-out").text = xml_text(f"warn: {age}")
    _finish(suite, sum(f.execution_time or 0.0 for f in outcome.freshness))


def _check_detail(check: CheckResult) -> str:
    """A check's testcase body: what it checked at which severity, the error, threshold, samples, SQL."""
    lines = [check.type + (f" on {check.column}" if check.column else "") + f" · severity {check.severity}"]
    if check.message:
        lines.append(check.message)
    if check.threshold and not is_pass_fail(check.type):
        lines.append("threshold: " + ", ".join(f"{k}={v}" for k, v in check.threshold.items()))
    if check.samples:
        lines.append("samples:")
        lines += [f"  {sample_text(s)}" for s in check.samples]
    if check.sql:
        lines += ["sql:", check.sql]
    return "\n".join(lines)


def quality_case(
    suite: ET.Element,
    check: CheckResult,
    *,
    classname: str,
    headline: Callable[[CheckResult], str] = describe,
) -> ET.Element:
    """One quality check as a testcase of `suite`: fail -> `<failure>`, error -> `<error>`, warn a note.

    `headline` words the finding for the message attribute (`describe` unless the document says less).
    """
    case = _case(suite, name=check.name, classname=classname, time=None, file=None)
    if check.status not in ("fail", "error", "warn"):
        return case
    body = _check_detail(check)
    if check.status == "warn":  # the check found rows but its severity is warn: the testcase passes
        ET.SubElement(case, "system-out").text = xml_text(f"warn: {headline(check)}\n{body}")
    else:
        message = xml_text(headline(check))[:_MESSAGE_WIDTH]
        tag = "error" if check.status == "error" else "failure"
        _outcome_child(case, tag, message, check.type, body)
    return case


def _failing_headline(check: CheckResult) -> str:
    """After-run's short message: `12 of 1,000 rows failing`, else the first line of the check described."""
    found = failing_count(check)
    return f"{found} failing" if found else first_line(describe(check), width=_MESSAGE_WIDTH)


def _quality_suite(root: ET.Element, outcome: Outcome) -> None:
    quality = outcome.quality
    if quality is None:
        return
    suite = ET.SubElement(root, "testsuite")
    _set(suite, name=f"pipewatch quality (score {quality.score:.3f})")
    _properties(suite, [("score", f"{quality.score:.6f}")])
    for check in quality.checks:
        quality_case(suite, check, classname=check.relation, headline=_failing_headline)
    _finish(suite, quality.elapsed_s)


def _gate_text(passed: bool, reasons: list[str]) -> str:
    return "passed" if passed else "failed: " + "; ".join(gate_reasons(reasons))


def _document(root: ET.Element, time: float) -> str:
    """`root` with its suites' totals and `time`, serialised with an XML declaration."""
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in root.findall("testsuite"):
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", _seconds(time))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render_junit(outcome: Outcome) -> str:
    """The outcome as a JUnit XML document (UTF-8, with an XML declaration)."""
    root = ET.Element("testsuites")
    _set(root, name="pipewatch")
    _node_suite(root, outcome)
    _freshness_suite(root, outcome)
    _quality_suite(root, outcome)
    return _document(root, sum(float(suite.get("time", "0")) for suite in root.findall("testsuite")))


def render_quality_junit(report: QualityReport, *, passed: bool, reasons: list[str]) -> str:
    """`pipewatch check` as JUnit XML: a testsuite per relation, a testcase per check, skipped dbt tests.

    The run's score and gate verdict are properties of the first suite (testsuites carry none).
    """
    root = ET.Element("testsuites")
    _set(root, name="pipewatch check")
    for index, table in enumerate(report.tables):
        suite = ET.SubElement(root, "testsuite")
        _set(suite, name=table.relation)
        verdict = [("quality_score", f"{report.score:.6f}"), ("gate", _gate_text(passed, reasons))]
        _properties(
            suite,
            [
                ("score", f"{table.score:.6f}"),
                *(verdict if index == 0 else []),
                ("model", table.model or None),
            ],
        )
        for check in table.checks:
            quality_case(suite, check, classname=check.check_id)
        _finish(suite, 0.0)
    if report.skipped:
        suite = ET.SubElement(root, "testsuite")
        _set(suite, name="dbt tests pipewatch cannot run")
        for skipped in report.skipped:
            case = ET.SubElement(suite, "testcase")
            _set(case, name=skipped.name, classname=skipped.check_id)
            _set(ET.SubElement(case, "skipped"), message=skipped.reason)
        _finish(suite, 0.0)
    return _document(root, report.elapsed_s)
