"""The HTML report, rendered from a real dbt build and real quality checks, loaded in headless Chromium.

Chromium runs offline (`--host-resolver-rules` resolves nothing) with a net log, so the tests can say
both that the page rendered (the JS ran and marked the DOM) and that it asked for nothing. Screenshots
at laptop and phone width land in `test-artifacts/`. Without Chromium the browser tests skip, except
in CI (CI=true), where they must run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipewatch.analysis import Outcome, analyze
from pipewatch.artifacts import load_run
from pipewatch.commands.report import report_command
from pipewatch.history.anomaly import Anomaly
from pipewatch.history.store import HistoryStore
from pipewatch.history.testing import make_run, node_result
from pipewatch.outputs.html_layout import build_gantt, build_lineage
from pipewatch.outputs.html_report import history_points_from_store, render_html, write_html_report
from pipewatch.outputs.html_trends import build_trends
from pipewatch.rules.engine import run_checks
from pipewatch.rules.loader import parse_rules
from pipewatch.rules.results import CheckResult, QualityReport, TableResult
from pipewatch.warehouse.duckdb import DuckDBWarehouse
from tests.conftest import REPO, BuiltProject

ARTIFACTS = REPO / "test-artifacts"
RULES = r"""
version: 1
tables:
  - model: stg_customers
    checks:
      - unique: customer_id
      - not_null: [email]
      - matches: {column: email, pattern: '^[^@ ]+@[^@ ]+[.][a-z]+$', severity: warn}
      - row_count: {min: 1}
  - model: stg_orders
    checks:
      - accepted_values: {column: status, values: [placed, shipped, completed]}
"""
DAY = 86400.0


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def outcome(faulty_build: BuiltProject) -> Outcome:
    """The faulty build, with real quality checks run on its DuckDB and one anomaly."""
    run = load_run(faulty_build.target)
    rules = parse_rules(RULES, nodes=run.nodes)
    with DuckDBWarehouse(faulty_build.target / "pipewatch_example.duckdb") as wh:
        quality = run_checks(rules, wh)
    result = analyze(run, quality=quality)
    result.anomalies = [Anomaly("model.shop.stg_orders", "rows_affected", 12, 140, 160, "down", 14)]
    return result


def history(outcome: Outcome, runs: int = 14) -> list[dict[str, Any]]:
    """Plain trend points (no store), the last one being this run."""
    now = outcome.run.generated_at or 1.7e9
    points: list[dict[str, Any]] = [
        {
            "invocation_id": f"past-{i}",
            "generated_at": now - (runs - i) * DAY,
            "elapsed_s": 6.0 + (i % 4) * 0.5,
            "rows_affected": 900 + i * 15,
            "score": 0.95 + (i % 3) * 0.01,
        }
        for i in range(runs)
    ]
    points.append(
        {"invocation_id": outcome.run.invocation_id, "generated_at": now, "elapsed_s": 7.4, "score": 0.98}
    )
    return points


# ---------------------------------------------------------------------------- the HTML itself


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text, of an HTML document."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, cls: str | None = None, **attrs: str) -> list[dict[str, str]]:
        out = []
        for t, a in self.tags:
            if t != tag:
                continue
            if cls is not None and not set(cls.split()) <= set(a.get("class", "").split()):
                continue
            if all(a.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                out.append(a)
        return out


def external_references(html: str) -> list[str]:
    """Anything that would make a browser fetch: src/href/url()/@import to a scheme or protocol-relative URL."""
    found = re.findall(
        r"""(?:src|href|xlink:href|action|poster|data)\s*=\s*["']?\s*((?:[a-z][a-z0-9+.-]*:|//)[^"'\s>]*)""",
        html,
        re.I,
    )
    found += re.findall(r"""url\(\s*["']?((?:[a-z][a-z0-9+.-]*:|//)[^)"']*)""", html, re.I)
    found += re.findall(r"@import", html)
    found += re.findall(r"<link\b", html, re.I)
    return [f for f in found if not f.startswith("#")]


def test_report_holds_every_part(outcome: Outcome) -> None:
    html = render_html(outcome, history(outcome))
    doc = Elements(html)
    text = " ".join(doc.text)
    assert external_references(html) == []
    assert "default-src 'none'" in html
    assert len(doc.find("article", "failure")) == len(outcome.failures) == 2
    assert "stg_payments" in text and "finance-data@shop.example" in text and "Conversion Error" in text
    assert "executive_revenue_dashboard" in text
    # lineage: both failures, their skipped models, the exposure
    ids = {a["data-id"] for a in doc.find("g", "node")}
    assert {
        "model.shop.stg_payments",
        "model.shop.fct_orders",
        "exposure.shop.executive_revenue_dashboard",
    } <= ids
    # Gantt: one bar per timed result, the critical path marked
    timed = [r for r in outcome.run.results if r.started is not None and r.completed is not None]
    assert len(doc.find("rect", "bar")) == len(timed)
    crit = {a["data-id"] for a in doc.find("rect", "bar crit")}
    assert crit == set(outcome.critical_path.nodes) & {r.unique_id for r in timed} and crit
    # quality table with the failing samples
    assert len(doc.find("table", "checks")) == 2
    assert outcome.quality is not None
    assert len(doc.find("details", "samples")) == sum(1 for c in outcome.quality.checks if c.samples)
    assert "cancelled" in text  # a sample value of the failing accepted_values check
    assert len(doc.find("figure", "trend")) == 3
    assert len(doc.find("circle", "pt current")) == 2  # this run, in the duration and score charts
    assert "rows_affected" in text  # the anomaly


def test_user_text_cannot_break_out(outcome: Outcome) -> None:
    hostile = '</script><script>alert(1)</script><img src="https://evil.example/x.png">'
    quality = QualityReport(
        [
            TableResult(
                hostile,
                [
                    CheckResult(
                        "c1",
                        hostile,
                        "not_null",
                        hostile,
                        hostile,
                        "fail",
                        "error",
                        1,
                        2,
                        samples=[{hostile: hostile}],
                    )
                ],
            )
        ]
    )
    results = [node_result(f"model.p.{hostile}", status="error", message=hostile, started=1.0)]
    html = render_html(analyze(make_run("inv", 10.0, results), quality=quality))
    assert html.count("<script") == 2  # the JSON data island and the page's own script
    assert external_references(html) == []
    assert "&lt;/script&gt;" in html


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    names=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=12, unique=True),
    message=st.text(max_size=300),
)
def test_any_names_and_messages_render(names: list[str], message: str) -> None:
    results = [
        node_result(f"model.p.{n}", status="error" if i % 2 else "success", message=message, started=float(i))
        for i, n in enumerate(names)
    ]
    html = render_html(analyze(make_run("inv", 100.0, results)))
    assert html.count("<script") == 2
    assert external_references(html) == []
    data = re.search(r'<script type="application/json" id="pw-data">(.*?)</script>', html, re.S)
    assert data is not None
    json.loads(data.group(1))  # the data island is intact whatever the names


def test_layouts_are_sane(outcome: Outcome) -> None:
    view = build_lineage(outcome)
    boxes = {b.uid: b for b in view.boxes}
    for edge in view.edges:
        assert boxes[edge.src].x < boxes[edge.dst].x  # upstream left of downstream
    positions = {(b.x, b.y) for b in view.boxes}
    assert len(positions) == len(view.boxes)  # no two boxes on top of each other
    assert any(e.gate for e in view.edges)  # the failed test's hold on what it gated
    gantt = build_gantt(outcome)
    assert all(bar.x >= 0 and bar.x + bar.width <= gantt.width + 1.5 for bar in gantt.bars)
    assert [label for label, _ in gantt.rows] == sorted(
        {r.thread_id for r in outcome.run.results if r.thread_id}, key=lambda t: int(re.findall(r"\d+", t)[0])
    )
    assert build_trends([{"generated_at": 1.0, "elapsed_s": 2.0}], None) == []  # one point is not a trend
    iso = build_trends(
        [
            {"generated_at": "2026-01-02T00:00:00Z", "score": 0.5},
            {"generated_at": "2026-01-01T00:00:00Z", "score": 0.9},
        ],
        None,
    )
    assert iso[0].values == [0.9, 0.5]  # ordered by time, ISO dates accepted


def test_trend_points_from_a_real_store(tmp_path: Path, outcome: Outcome) -> None:
    store = HistoryStore(tmp_path / "h.duckdb")
    for day in range(3):
        run = make_run(
            f"d{day}", 1.7e9 + day * DAY, [node_result("model.synth.a", rows_affected=100 + day, started=1.0)]
        )
        store.ingest(run)
    points = history_points_from_store(store)
    assert [p["invocation_id"] for p in points] == ["d0", "d1", "d2"]
    assert [p["rows_affected"] for p in points] == [100, 101, 102]
    assert history_points_from_store(HistoryStore(tmp_path / "absent.duckdb")) == []
    written = write_html_report(outcome, tmp_path / "out" / "r.html", store=store)
    assert written.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert not [p for p in written.parent.iterdir() if p.name != "r.html"]  # no temp file left


def test_report_command(faulty_build: BuiltProject, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        report_command, ["--project-dir", str(faulty_build.project_dir), "--output", str(out), "--no-history"]
    )
    assert result.exit_code == 0, result.output
    assert "report written to" in result.output
    assert 'data-failure="model.shop.stg_payments"' in out.read_text(encoding="utf-8")
    missing = CliRunner().invoke(report_command, ["--project-dir", str(tmp_path), "--output", str(out)])
    assert missing.exit_code == 2
    assert "Traceback" not in missing.output and missing.output.count("\n") == 1


# ---------------------------------------------------------------------------- in Chromium


def chromium() -> str:
    """The Chromium binary; skip (or, in CI, fail) when it is not installed."""
    found = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("chromium is required in CI for the HTML report tests (Debian package `chromium`)")
    pytest.skip("chromium not installed (apt-get install chromium); the HTML report is not browser-tested")


@dataclass
class Browsed:
    """What one headless Chromium load produced."""

    dom: str
    console: list[str]
    page_requests: list[str]
    stderr: str = field(repr=False, default="")


# Appended to a copy of the page: after load, records what the page fetched and whether it overflows
# the viewport, then clicks the second failure and records what the lineage highlighted.
PROBE = """
<script>
window.addEventListener("load", function () {
  var root = document.documentElement;
  root.setAttribute("data-probe-resources", String(performance.getEntriesByType("resource").length));
  root.setAttribute("data-probe-overflow", String(root.scrollWidth - window.innerWidth));
  var cards = document.querySelectorAll("article.failure");
  if (cards.length > 1) {
    cards[1].click();
    var lit = Array.prototype.map.call(document.querySelectorAll("#lineage-svg .node.hl"), function (n) {
      return n.getAttribute("data-id");
    });
    root.setAttribute("data-probe-clicked", cards[1].getAttribute("data-failure"));
    root.setAttribute("data-probe-lit", lit.join(" "));
  }
});
</script>
"""


def browse(page: Path, tmp: Path, *, width: int, height: int, screenshot: Path | None = None) -> Browsed:
    """Load a file in headless Chromium, offline, and return the DOM (or take a screenshot)."""
    profile = tmp / f"profile-{width}-{screenshot is not None}"
    netlog = tmp / f"net-{width}-{screenshot is not None}.json"
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-extensions",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # whatever anything asks for, it stays offline
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        f"--log-net-log={netlog}",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
    ]
    cmd += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    done = subprocess.run(
        [*cmd, page.resolve().as_uri()], capture_output=True, text=True, timeout=90, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return Browsed(done.stdout, console, page_requests(netlog), done.stderr)


def page_requests(netlog: Path) -> list[str]:
    """URLs the page itself asked for (the browser's own update/account pings have no page initiator)."""
    if not netlog.exists():
        return []
    log = json.loads(netlog.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        from_page = params.get("initiator", "not an origin") != "not an origin"
        if (
            event.get("type") == start_job
            and from_page
            and not str(params.get("url", "")).startswith("file:")
        ):
            urls.append(str(params.get("url")))
    return urls


def _root_attrs(dom: str) -> dict[str, str]:
    return next(a for t, a in Elements(dom).tags if t == "html")


def test_the_browser_check_catches_a_leaky_page(tmp_path: Path) -> None:
    """The detectors are real: a page that fetches and logs an error is caught."""
    leaky = tmp_path / "leaky.html"
    leaky.write_text(
        '<!doctype html><img src="http://leak.invalid/x.png"><script>console.error("canary")</script>',
        encoding="utf-8",
    )
    seen = browse(leaky, tmp_path, width=800, height=600)
    assert any("canary" in line for line in seen.console)
    assert seen.page_requests == ["http://leak.invalid/x.png"]


@pytest.mark.parametrize("width,height", [(1280, 900), (390, 844)])
def test_renders_in_chromium(outcome: Outcome, tmp_path: Path, width: int, height: int) -> None:
    html = render_html(outcome, history(outcome))
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")

    seen = browse(probed, tmp_path, width=width, height=height)
    assert seen.console == [], seen.console
    assert seen.page_requests == []
    root = _root_attrs(seen.dom)
    assert root.get("data-ready") == "1"  # the page's script ran to the end
    assert root["data-probe-resources"] == "0"
    assert int(root["data-probe-overflow"]) <= 0, f"page wider than a {width}px screen"
    doc = Elements(seen.dom)
    first, second = outcome.failures[0].unique_id, outcome.failures[1].unique_id
    assert root["data-probe-clicked"] == second
    # After the click the second failure is selected and its lineage lit, the first's own node not.
    assert [a["data-failure"] for a in doc.find("article", "failure selected")] == [second]
    lit = set(root["data-probe-lit"].split())
    assert second in lit and first not in lit
    assert set(outcome.failures[1].skipped_downstream) & lit
    svg = doc.find("svg", "lineage")[0]
    assert "focused" in svg["class"] and svg["data-selected"] == second

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"report-{width}.png"
    shot.unlink(missing_ok=True)
    taken = browse(page, tmp_path, width=width, height=height * 4, screenshot=shot)
    assert taken.console == [] and taken.page_requests == []
    assert shot.stat().st_size > 10_000
