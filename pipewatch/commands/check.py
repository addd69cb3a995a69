"""`pipewatch check`: run the quality rules (and the project's dbt tests) on the warehouse, then gate.

Loads the last run's artifacts when there are any (for `model:` names and `--dbt-tests`), opens the
warehouse (`--duckdb PATH` natively, else the project's dbt profile through its adapter), runs every
check through the fused engine, prints the report, records it in history against the run's
invocation, and exits 0 when the gate passes, 1 when it fails (an error-severity check failed or the
score is below `--min-score`), 2 for invalid rule files or flags, 3 when the warehouse is unreachable.
"""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipewatch import __version__
from pipewatch.commands.common import (
    handle_errors,
    project_dir_option,
    quality_options,
    resolve_target_dir,
    target_path_option,
    warn,
    write_output,
)
from pipewatch.errors import UsageError
from pipewatch.rules.results import PASS_FAIL_TYPES, CheckResult, QualityReport

if TYPE_CHECKING:
    from pipewatch.artifacts.model import Run

FORMATS = ("text", "json", "markdown", "junit")
_COLOURS = {"pass": "green", "fail": "red", "error": "red", "warn": "yellow", "skipped": "yellow"}


@click.command("check")
@quality_options
@project_dir_option
@target_path_option
@click.option(
    "--format", "fmt", type=click.Choice(list(FORMATS)), default="text", show_default=True, help="The view."
)
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write to FILE."
)
@click.option("--color/--no-color", default=None, help="Colour the terminal view (default: when a terminal).")
@click.option(
    "--history",
    "history_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="History store to record into (default: pipewatch.yml `history`, else .pipewatch/history.duckdb).",
)
@click.option("--no-history", is_flag=True, help="Do not record the checks.")
@handle_errors
def check_command(
    rules_path: Path | None,
    dbt_tests: bool,
    project_dir: Path,
    target_path: str | None,
    duckdb_path: Path | None,
    profiles_dir: Path | None,
    dbt_target: str | None,
    profile: str | None,
    samples: int,
    min_score: float | None,
    fmt: str,
    output: Path | None,
    color: bool | None,
    history_path: Path | None,
    no_history: bool,
) -> None:
    """Run quality rules (and, with --dbt-tests, the dbt tests) inside the warehouse, one scan per table.

    Exit codes: 0 gate passed, 1 gate failed, 2 usage or rule-file error, 3 warehouse unreachable.
    """
    from pipewatch.config import load_config
    from pipewatch.rules.api import run_quality
    from pipewatch.rules.scoring import gate
    from pipewatch.warehouse import open_warehouse

    if duckdb_path is not None and (profiles_dir or dbt_target or profile):
        raise UsageError(
            "--duckdb checks a DuckDB file; --profiles-dir/--target/--profile pick a dbt profile"
        )
    config = load_config(project_dir)
    run = _load_run(resolve_target_dir(project_dir, target_path, config.target_path))
    if run is not None:
        for message in run.warnings:
            warn(message)
    warehouse = open_warehouse(
        duckdb=duckdb_path,
        project_dir=project_dir,
        profiles_dir=profiles_dir,
        target=dbt_target,
        profile=profile,
    )
    try:
        report = run_quality(
            config, rules_path=rules_path, dbt_tests=dbt_tests, run=run, warehouse=warehouse, samples=samples
        )
    finally:
        warehouse.close()
    passed, reasons = gate(report, min_score if min_score is not None else config.min_score)
    if not no_history:
        note = _record(report, run, history_path or config.history_file())
        if note:
            click.echo(f"pipewatch: {note}", err=True)
    if color is None:
        color = output is None and fmt == "text" and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    write_output(render_check(report, fmt, passed=passed, reasons=reasons, color=color), output)
    sys.exit(0 if passed else 1)


def _load_run(target_dir: Path) -> Run | None:
    """The last run's artifacts when dbt left any (checks on `relation:` tables need none)."""
    from pipewatch.artifacts import load_run

    if not target_dir.is_dir() or not any(
        (target_dir / name).is_file() for name in ("manifest.json", "run_results.json")
    ):
        return None
    return load_run(target_dir)


def _record(report: QualityReport, run: Run | None, path: Path | None) -> str | None:
    """Record the checks against the run's invocation; a note for stderr when that was not possible."""
    if path is None or not report.checks:
        return None
    if run is None or not run.results:
        return "history: checks not recorded (no dbt run_results.json to attach them to)"
    from pipewatch.history import HistoryError, HistoryStore

    try:
        result = HistoryStore(path).ingest(run, quality=report)
    except HistoryError as exc:
        return f"history: checks not recorded: {exc}"
    if not result.check_results:
        return f"history: checks of run {result.invocation_id} were already recorded"
    return None


# --- rendering --------------------------------------------------------------------------------------


def render_check(
    report: QualityReport, fmt: str, *, passed: bool, reasons: list[str], color: bool = False
) -> str:
    """The check report in one of FORMATS, with the gate's verdict."""
    if fmt == "json":
        return json.dumps(check_dict(report, passed, reasons), indent=2, default=str) + "\n"
    if fmt == "markdown":
        return _markdown(report, passed, reasons)
    if fmt == "junit":
        return _junit(report, passed, reasons)
    if fmt == "text":
        return _text(report, passed, reasons, color)
    raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


def check_dict(report: QualityReport, passed: bool, reasons: list[str]) -> dict[str, Any]:
    """The JSON of `pipewatch check`: after-run's `quality` object (plus `skipped`) and `gate`."""
    from pipewatch.outputs.json_output import quality_dict

    return {
        "pipewatch_version": __version__,
        "quality": quality_dict(report),
        "gate": {"passed": passed, "reasons": reasons},
    }


def _counts(report: QualityReport) -> dict[str, int]:
    counts = dict.fromkeys(("pass", "fail", "warn", "error"), 0)
    for c in report.checks:
        counts[c.status] = counts.get(c.status, 0) + 1
    return counts


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def describe(check: CheckResult) -> str:
    """What a check found, in words: counts and ratio, the row count, the freshness lag or the error."""
    if check.status == "error":
        return f"could not run: {check.message or 'query failed'}"
    if check.type == "row_count":
        limits = " and ".join(f"{k} {v:,}" for k, v in check.threshold.items())
        return f"{_plural(check.total_rows or 0, 'row')}" + (f" (expected {limits})" if limits else "")
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
    failing = check.failing_rows
    total = check.total_rows or 0
    if failing is None:
        return check.message or "count unknown"
    if check.failing_unit == "values":
        held = f" in {check.affected_rows:,}" if failing and check.affected_rows is not None else ""
        found = f"{_plural(failing, 'value')}{held} of {_plural(total, 'row')}"
    else:
        ratio = f" ({failing / total:.2%})" if total else ""
        found = f"{failing:,} of {_plural(total, 'row')}{ratio}"
    allowed = _allowed(check)
    return found + (f", allowed {allowed}" if allowed else "")


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


def _sample_text(sample: dict[str, Any]) -> str:
    return json.dumps(sample, default=str, ensure_ascii=False)


def _text(report: QualityReport, passed: bool, reasons: list[str], color: bool) -> str:
    def paint(text: str, fg: str | None = None, bold: bool = False) -> str:
        return click.style(text, fg=fg, bold=bold) if color else text

    counts = _counts(report)
    lines = [
        paint(f"QUALITY score {report.score:.3f}", bold=True)
        + f" · {_plural(len(report.checks), 'check')} on {_plural(len(report.tables), 'table')}"
        + f" · {counts['fail']} fail, {counts['warn']} warn, {counts['error']} error"
        + f" · {report.dialect}, {report.elapsed_s:.2f}s"
    ]
    width = max((len(c.name) for c in report.checks), default=0)
    width = min(width, 60)
    for table in report.tables:
        lines += ["", paint(table.relation, bold=True) + f"  score {table.score:.3f}"]
        for check in table.checks:
            status = paint(f"{check.status:<5}", fg=_COLOURS.get(check.status), bold=check.status != "pass")
            severity = " (warn)" if check.severity == "warn" and check.status != "warn" else ""
            lines.append(f"  {status} {check.name:<{width}}  {describe(check)}{severity}")
            for sample in check.samples:
                lines.append(f"        e.g. {_sample_text(sample)}")
    if report.skipped:
        lines += ["", paint(f"SKIPPED dbt tests ({len(report.skipped)})", bold=True)]
        for s in report.skipped:
            lines.append(f"  {s.name}: {s.reason}")
    lines.append("")
    if passed:
        lines.append(paint("GATE passed", fg="green", bold=True))
    else:
        lines.append(paint("GATE failed", fg="red", bold=True) + ": " + "; ".join(reasons))
    return "\n".join(lines) + "\n"


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _markdown(report: QualityReport, passed: bool, reasons: list[str]) -> str:
    counts = _counts(report)
    verdict = "✅ gate passed" if passed else "❌ gate failed"
    lines = [
        f"## pipewatch check: quality score {report.score:.3f} ({verdict})",
        "",
        f"{_plural(len(report.checks), 'check')} on {_plural(len(report.tables), 'table')}: "
        f"{counts['pass']} pass, {counts['fail']} fail, {counts['warn']} warn, {counts['error']} error.",
    ]
    if reasons:
        lines += ["", *[f"- {_md(r)}" for r in reasons]]
    for table in report.tables:
        lines += [
            "",
            f"### `{_md(table.relation)}` · score {table.score:.3f}",
            "",
            "| status | check | type | column | found |",
            "|---|---|---|---|---|",
        ]
        for c in table.checks:
            lines.append(
                f"| {c.status} | {_md(c.name)} | {c.type} | {_md(c.column or '')} | {_md(describe(c))} |"
            )
        shown = [c for c in table.checks if c.samples]
        for c in shown:
            lines += ["", f"<details><summary>samples: {_md(c.name)}</summary>", "", "```json"]
            lines += [_sample_text(s) for s in c.samples]
            lines += ["```", "", "</details>"]
    if report.skipped:
        lines += ["", f"### Skipped dbt tests ({len(report.skipped)})", ""]
        lines += [f"- `{_md(s.check_id)}`: {_md(s.reason)}" for s in report.skipped]
    return "\n".join(lines) + "\n"


def _junit(report: QualityReport, passed: bool, reasons: list[str]) -> str:
    from pipewatch.outputs.junit import xml_text

    root = ET.Element("testsuites", name="pipewatch check")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for index, table in enumerate(report.tables):
        suite = ET.SubElement(root, "testsuite", name=xml_text(table.relation))
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="score", value=f"{table.score:.6f}")
        if index == 0:  # the run's verdict once, on the first suite (testsuites carry no properties)
            ET.SubElement(props, "property", name="quality_score", value=f"{report.score:.6f}")
            ET.SubElement(props, "property", name="gate", value=xml_text(_gate_text(passed, reasons)))
        if table.model:
            ET.SubElement(props, "property", name="model", value=xml_text(table.model))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for c in table.checks:
            counts["tests"] += 1
            case = ET.SubElement(
                suite, "testcase", name=xml_text(c.name), classname=xml_text(c.check_id), time="0.000"
            )
            body = _junit_body(c)
            if c.status == "error":
                counts["errors"] += 1
                child = ET.SubElement(case, "error", message=xml_text(describe(c))[:300], type=c.type)
                child.text = xml_text(body)
            elif c.status == "fail":
                counts["failures"] += 1
                child = ET.SubElement(case, "failure", message=xml_text(describe(c))[:300], type=c.type)
                child.text = xml_text(body)
            elif c.status == "warn":
                ET.SubElement(case, "system-out").text = xml_text(f"warn: {describe(c)}\n{body}")
        _totals(suite, counts, totals)
    if report.skipped:
        suite = ET.SubElement(root, "testsuite", name="dbt tests pipewatch cannot run")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for s in report.skipped:
            counts["tests"] += 1
            counts["skipped"] += 1
            case = ET.SubElement(suite, "testcase", name=xml_text(s.name), classname=xml_text(s.check_id))
            ET.SubElement(case, "skipped", message=xml_text(s.reason))
        _totals(suite, counts, totals)
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{report.elapsed_s:.3f}")
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _gate_text(passed: bool, reasons: list[str]) -> str:
    return "passed" if passed else "failed: " + "; ".join(reasons)


def _junit_body(c: CheckResult) -> str:
    lines = [f"{c.type}" + (f" on {c.column}" if c.column else "") + f" · severity {c.severity}"]
    if c.message:
        lines.append(c.message)
    if c.threshold and c.type not in PASS_FAIL_TYPES:
        lines.append("threshold: " + ", ".join(f"{k}={v}" for k, v in c.threshold.items()))
    if c.samples:
        lines.append("samples:")
        lines += [f"  {_sample_text(s)}" for s in c.samples]
    if c.sql:
        lines += ["sql:", c.sql]
    return "\n".join(lines)


def _totals(suite: ET.Element, counts: dict[str, int], totals: dict[str, int]) -> None:
    for key, value in counts.items():
        suite.set(key, str(value))
        totals[key] += value
    suite.set("time", "0.000")
