"""CI-native outputs from a real dbt build: JUnit XML, GitHub workflow commands and step summary, Prometheus.

The Prometheus file is read back with `prometheus_client`'s own parser (test dependency
`prometheus_client`); the JUnit XML with xml.etree; annotations with a parser that follows the
Actions runner's rules.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import stat
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from pipewatch.analysis import Outcome, analyze
from pipewatch.artifacts import load_run
from pipewatch.errors import PipewatchError, UsageError
from pipewatch.history.testing import make_run, node_result
from pipewatch.outputs.escaping import gh_data, gh_property, terminal_safe
from pipewatch.outputs.github import (
    STEP_SUMMARY_LIMIT,
    annotations,
    command,
    github_report,
    workspace_prefix,
    write_step_summary,
)
from pipewatch.outputs.junit import render_junit
from pipewatch.outputs.prometheus import escape_label_value, render_prometheus, write_prometheus
from pipewatch.rules.results import CheckResult, QualityReport, TableResult
from tests.conftest import BuiltProject


def _quality(
    relation: str = "analytics.main.orders", name: str = "orders_customer_not_null"
) -> QualityReport:
    checks = [
        CheckResult(
            f"{relation}::{name}", name, "not_null", relation, "customer_id", "fail", "error", 12, 1000,
            threshold={"max_failures": 0}, sql="SELECT 1", samples=[{"order_id": 5, "customer_id": None}],
        ),
        CheckResult(f"{relation}::unique", "order_id_unique", "unique", relation, "order_id", "pass", "error", 0, 1000),
        CheckResult(f"{relation}::range", "amount_range", "range", relation, "amount", "warn", "warn", 3, 1000),
        CheckResult(f"{relation}::expr", "broken_expr", "expression", relation, None, "error", "error", None, None,
                    message="Binder Error: column x not found"),
    ]  # fmt: skip
    return QualityReport([TableResult(relation, checks)], elapsed_s=0.25)


@pytest.fixture(scope="module")
def outcome(faulty_build: BuiltProject) -> Outcome:
    return analyze(load_run(faulty_build.target), quality=_quality())


# ---------------------------------------------------------------------------- JUnit


def test_junit_one_case_per_node_and_check(outcome: Outcome) -> None:
    root = ET.fromstring(render_junit(outcome))
    assert root.tag == "testsuites"
    nodes, freshness, quality = root.findall("testsuite")
    cases = nodes.findall("testcase")
    assert len(cases) == len(outcome.run.results)
    by_name = {c.get("name"): c for c in cases}
    error = by_name["stg_payments"].find("error")
    assert error is not None and error.get("type") == "data"
    assert "Could not convert string 'N/A'" in (error.get("message") or "")
    assert "finance-data@shop.example" in (error.text or "")
    assert by_name["stg_payments"].get("file") == "models/staging/stg_payments.sql"
    failed = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["unique_stg_customers_customer_id"]
    skipped = [c.find("skipped") for c in cases if c.find("skipped") is not None]
    assert len(skipped) == outcome.by_status["skipped"]
    assert all(
        "model.shop.stg_payments" in (s.get("message") or "") or "unique_stg" in (s.get("message") or "")
        for s in skipped
    )
    assert (
        nodes.get("tests") == str(len(cases)) and nodes.get("errors") == "1" and nodes.get("failures") == "1"
    )
    # freshness: the stale source fails, the warned one passes with a note
    assert freshness.get("failures") == "1"
    # quality: one testcase per check; fail -> failure, error -> error, warn passes
    qcases = quality.findall("testcase")
    assert len(qcases) == 4
    assert quality.get("failures") == "1" and quality.get("errors") == "1"
    qfail = next(c for c in qcases if c.find("failure") is not None).find("failure")
    assert qfail is not None and qfail.get("message") == "12 of 1,000 rows failing"
    assert "customer_id" in (qfail.text or "")
    totals = {
        k: sum(int(s.get(k, "0")) for s in (nodes, freshness, quality))
        for k in ("tests", "failures", "errors")
    }
    assert {k: int(root.get(k, "-1")) for k in totals} == totals


@settings(max_examples=80, deadline=None)
@given(
    name=st.text(alphabet=st.characters(blacklist_categories=()), min_size=1, max_size=40),
    message=st.text(alphabet=st.characters(blacklist_categories=()), max_size=400),
)
def test_junit_is_well_formed_whatever_the_text(name: str, message: str) -> None:
    results = [
        node_result(f"model.p.{name}", status="error", message=message, started=1.0),
        node_result(f"test.p.{name}.abc", status="fail", message=message, started=2.0),
    ]
    quality = _quality(relation=name, name=message or "x")
    xml = render_junit(analyze(make_run("inv", 10.0, results), quality=quality))
    root = ET.fromstring(xml)  # raises on anything not well-formed
    assert int(root.get("tests", "0")) == 2 + 4


# ---------------------------------------------------------------------------- GitHub


def parse_command(line: str) -> tuple[str, dict[str, str], str]:
    """Split a workflow command as the runner does, and undo the escaping."""
    match = re.fullmatch(r"::(\w+)(?: ([^:]*))?::(.*)", line, re.S)
    assert match, line
    unprop = {"%2C": ",", "%3A": ":", "%0A": "\n", "%0D": "\r", "%25": "%"}
    props = {}
    for part in (match.group(2) or "").split(","):
        if part:
            key, _, value = part.partition("=")
            props[key] = re.sub("%2C|%3A|%0A|%0D|%25", lambda m: unprop[m.group(0)], value)
    message = re.sub("%0A|%0D|%25", lambda m: unprop[m.group(0)], match.group(3))
    return match.group(1), props, message


@given(st.text(), st.text())
def test_workflow_command_escaping_round_trips(title: str, message: str) -> None:
    line = command("error", message, file="models/a,b:c.sql", title=title)
    assert "\n" not in line and "\r" not in line
    level, props, text = parse_command(line)
    # What survives is the text minus terminal controls (the runner's log renders escape sequences).
    assert level == "error" and text == terminal_safe(message, keep="\n\t\r")
    assert props["file"] == "models/a,b:c.sql"
    assert props.get("title", "") == terminal_safe(title, keep="\n\t\r")
    assert ":" not in gh_property(title) and "," not in gh_property(title)
    assert "\n" not in gh_data(message)


def test_annotations_point_at_the_files(outcome: Outcome) -> None:
    lines = annotations(outcome, path_prefix="transform")
    parsed = [parse_command(line) for line in lines]
    errors = {p["title"]: (p, m) for level, p, m in parsed if level == "error"}
    props, message = errors["model stg_payments error (data)"]
    assert props["file"] == "transform/models/staging/stg_payments.sql"
    assert "Could not convert string 'N/A'" in message and "\n" in message  # a multi-line message survives
    assert "escalate to finance-data@shop.example" in message
    assert (
        errors["test unique_stg_customers_customer_id fail (quality)"][0]["file"]
        == "transform/models/staging/_staging.yml"
    )
    assert lines[0].startswith(
        "::error file=transform/models/staging/stg_payments.sql,"
    )  # biggest impact first
    checks = [(level, p, m) for level, p, m in parsed if p["title"].startswith("quality check")]
    assert {(level, p["title"]) for level, p, _ in checks} == {
        ("error", "quality check orders_customer_not_null fail"),
        ("warning", "quality check amount_range warn"),
        ("error", "quality check broken_expr error"),
    }
    assert any(p["title"] == "source freshness error" for _, p, _ in parsed)


def test_step_summary_and_one_call(outcome: Outcome, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    project = tmp_path / "repo" / "transform"
    project.mkdir(parents=True)
    env = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_WORKSPACE": str(tmp_path / "repo")}
    out = io.StringIO()
    done = github_report(outcome, project_dir=project, env=env, stream=out)
    assert done.summary == summary
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n")  # appended, as GitHub expects
    assert "stg_payments" in text and "| status | count |" in text
    printed = out.getvalue().splitlines()
    assert printed == done.annotations and printed[0].startswith("::error file=transform/models/")
    assert write_step_summary("x", env={}) is None
    assert workspace_prefix(tmp_path / "elsewhere", env) == ""
    assert workspace_prefix(tmp_path / "repo", env) == ""
    big = write_step_summary("é" * STEP_SUMMARY_LIMIT, env={"GITHUB_STEP_SUMMARY": str(tmp_path / "big.md")})
    assert big is not None and big.stat().st_size <= STEP_SUMMARY_LIMIT
    with pytest.raises(PipewatchError, match="step summary"):
        write_step_summary("x", env={"GITHUB_STEP_SUMMARY": str(tmp_path)})


# ---------------------------------------------------------------------------- Prometheus


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_prometheus_metrics_parse_and_match_the_run(outcome: Outcome) -> None:
    parsed = families(render_prometheus(outcome, labels={"env": "ci"}))
    run = outcome.run
    [success] = parsed["pipewatch_run_success"].samples
    assert success.value == 0 and success.labels == {"project": "shop", "env": "ci"}
    assert parsed["pipewatch_run_duration_seconds"].samples[0].value == pytest.approx(run.elapsed_time)
    by_status = {s.labels["status"]: s.value for s in parsed["pipewatch_run_nodes"].samples}
    assert by_status == outcome.by_status
    models = [r for r in run.results if r.unique_id.split(".")[0] in ("model", "seed", "snapshot")]
    durations = {s.labels["unique_id"]: s.value for s in parsed["pipewatch_model_duration_seconds"].samples}
    assert durations == {
        r.unique_id: pytest.approx(r.execution_time) for r in models if r.status != "skipped"
    }
    rows = {s.labels["unique_id"]: s.value for s in parsed["pipewatch_model_rows_affected"].samples}
    assert rows and all(
        rows[r.unique_id] == r.adapter_response.rows_affected for r in models if r.unique_id in rows
    )
    failed = {s.labels["unique_id"]: s.value for s in parsed["pipewatch_model_failed"].samples}
    assert failed["model.shop.stg_payments"] == 1 and sum(failed.values()) == 1
    failing = {s.labels["check"]: s.value for s in parsed["pipewatch_check_failing_rows"].samples}
    assert failing == {"orders_customer_not_null": 12, "order_id_unique": 0, "amount_range": 3}
    assert outcome.quality is not None
    assert parsed["pipewatch_quality_score"].samples[0].value == pytest.approx(outcome.quality.score)
    assert {s.labels["category"] for s in parsed["pipewatch_run_failures"].samples} == {"data", "quality"}
    assert {s.labels["source"] for s in parsed["pipewatch_source_age_seconds"].samples} == {
        f.unique_id for f in outcome.freshness
    }
    for family in parsed.values():
        assert family.type == "gauge"
        assert not any(s.timestamp for s in family.samples)  # the textfile collector refuses timestamps


@settings(max_examples=80, deadline=None)
@given(project=st.text(max_size=40), check=st.text(min_size=1, max_size=40))
def test_label_values_round_trip(project: str, check: str) -> None:
    run = dataclasses.replace(
        make_run("inv", 5.0, [node_result("model.p.a", rows_affected=3)]), project_name=project
    )
    text = render_prometheus(analyze(run, quality=_quality(relation='r"\\\n', name=check)))
    parsed = families(text)
    assert parsed["pipewatch_run_success"].samples[0].labels.get("project", "") == project
    names = {s.labels["check"] for s in parsed["pipewatch_check_passed"].samples}
    assert check in names
    assert {s.labels["relation"] for s in parsed["pipewatch_table_quality_score"].samples} == {'r"\\\n'}
    assert escape_label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_bad_extra_label_is_a_usage_error(outcome: Outcome) -> None:
    with pytest.raises(UsageError, match="label name"):
        render_prometheus(outcome, labels={"bad-name": "x"})


def test_prometheus_file_is_replaced_atomically(outcome: Outcome, tmp_path: Path) -> None:
    target = tmp_path / "textfile" / "pipewatch.prom"
    write_prometheus(outcome, target)
    expected = render_prometheus(outcome)
    assert target.read_text(encoding="utf-8") == expected
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    # A reader racing the writer always sees a whole file, never a half-written one.
    stop = threading.Event()
    torn: list[int] = []

    def read_loop() -> None:
        while not stop.is_set():
            text = target.read_text(encoding="utf-8")
            if text != expected:
                torn.append(len(text))

    reader = threading.Thread(target=read_loop)
    reader.start()
    try:
        for _ in range(60):
            write_prometheus(outcome, target)
    finally:
        stop.set()
        reader.join()
    assert torn == []
    assert sorted(os.listdir(target.parent)) == ["pipewatch.prom"]  # no temp files left behind
    with pytest.raises(PipewatchError, match="cannot write the metrics file"):
        write_prometheus(outcome, target / "nested.prom")  # the parent is a file
    assert target.read_text(encoding="utf-8") == expected


# ---------------------------------------------------------------------------- the CI docs


def test_ci_snippets_are_valid_yaml() -> None:
    """The README's GitHub Actions and GitLab CI snippets parse and gate."""
    import yaml

    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "pipewatch after-run" in b]
    docs = [yaml.safe_load(b) for b in blocks]
    github = [d for d in docs if "jobs" in d]
    gitlab = [d for d in docs if "dbt-build" in d]
    assert github and gitlab
    steps = github[0]["jobs"]["build"]["steps"]
    gate = next(s for s in steps if "pipewatch after-run" in str(s.get("run", "")))
    assert "--slack" in gate["run"] and "--report" in gate["run"] and "--github" in gate["run"]
    uploads = [
        s
        for s in steps
        if str(s.get("uses", "")).startswith(("actions/upload-artifact", "actions/cache/save"))
    ]
    assert len(uploads) == 2 and all(s.get("if") == "always()" for s in uploads)
    job = gitlab[0]["dbt-build"]
    assert job["artifacts"]["reports"]["junit"].endswith("pipewatch-junit.xml")
    assert job["cache"]["when"] == "always"
    assert any("pipewatch after-run" in line and "--slack" in line for line in job["script"])
