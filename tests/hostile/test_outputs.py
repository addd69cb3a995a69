"""Hostile inputs against the outputs: escape sequences in warehouse text, webhooks that stall or refuse,
targets that cannot hold a byte, and sizes no screen can show.

Each test was written to fail before its fix. Runs are built by hand (no dbt), webhooks are real HTTP
servers on 127.0.0.1, files are real files and devices.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipewatch.analysis import Outcome, analyze
from pipewatch.config import Config
from pipewatch.errors import PipewatchError
from pipewatch.history.store import HistoryStore
from pipewatch.history.testing import freshness_result, make_run, node_result
from pipewatch.outputs import render, render_check
from pipewatch.outputs.delivery import DeliveryPolicy, post_json
from pipewatch.outputs.files import write_atomic, write_stream
from pipewatch.outputs.github import annotations
from pipewatch.outputs.html_report import write_html_report
from pipewatch.outputs.lineage_view import render_lineage
from pipewatch.outputs.slack import notify
from pipewatch.rules.results import QualityReport, TableResult
from tests.conftest import BuiltProject, run_pipewatch
from tests.factories import make_check

# ---------------------------------------------------------------------------- escape sequences

#: What a warehouse row can carry into a dbt message: every kind of terminal instruction.
OSC52 = "\x1b]52;c;ZWNobyBwd25lZA==\x07"  # write the clipboard
OSC0 = "\x1b]0;owned\x1b\\"  # retitle the window, ST-terminated
DCS = "\x1bP+q544e\x1b\\"  # ask the terminal something
APC = "\x1b_apc payload\x1b\\"
CSI = "\x1b[2J\x1b[31m"
C1 = "\x9b2J\x9d0;c1 title\x07\x85"
C0 = "a\rb\x08c\x00d\x7f"
HOSTILE = f"boom {OSC52}{OSC0}{DCS}{APC}{CSI}{C1}{C0} end"
_CONTROL_BYTES = {*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)} - {0x0A, 0x09}


def _controls(text: str) -> list[str]:
    return sorted({repr(ch) for ch in text if ord(ch) in _CONTROL_BYTES})


def _hostile_outcome(big_gate: bool = False) -> Outcome:
    results = [
        node_result(
            f"model.synth.m{HOSTILE}", status="error", message=f"Database Error in model m\n  {HOSTILE}"
        ),
        node_result("model.synth.ok"),
    ]
    fresh = [freshness_result(f"source.synth.raw.t{OSC52}", 79_116_120.0, 1_700_000_000.0, "error")]
    check = make_check(
        "not_null", "id", name=f"not_null({DCS}id)", check_id=f"main.t::nn{OSC0}", relation=f"main.t{CSI}",
        status="fail", failing_rows=3, total_rows=10,
    )  # fmt: skip
    checks = [replace(check, message=HOSTILE, samples=[{"id": None, "note": HOSTILE}])]
    run = make_run("inv-hostile", 1_700_000_000.0, results, freshness=fresh, project=f"p{OSC0}")
    outcome = analyze(run, Config(), quality=QualityReport([TableResult("main.t", checks)]))
    if big_gate:
        outcome.gate.reasons[:] = [f"r{i}: {HOSTILE}\n" + "SELECT x FROM y " * 300 for i in range(30)]
    return outcome


@pytest.mark.parametrize("color", [False, True])
def test_text_view_strips_every_control_sequence(color: bool) -> None:
    out = render(_hostile_outcome(), "text", color=color)
    if color:  # pipewatch's own styling is the only escape left: SGR, nothing else
        out = out.replace("\x1b[0m", "")
        for code in ("1", "2", "22", "31", "32", "33", "35", "36", "91", "92", "93"):
            out = out.replace(f"\x1b[{code}m", "")
    assert _controls(out) == []
    assert "boom" in out and "end" in out


def test_check_text_view_strips_every_control_sequence() -> None:
    outcome = _hostile_outcome()
    assert outcome.quality is not None
    out = render_check(outcome.quality, "text", passed=False, reasons=[HOSTILE])
    assert _controls(out) == []
    assert "boom" in out


def test_lineage_view_strips_every_control_sequence() -> None:
    from pipewatch.lineage import LineageEntry, NodeLineage

    entry = LineageEntry(unique_id=f"model.x.{OSC52}", resource_type="model", distance=1, status=HOSTILE)
    view = NodeLineage(
        unique_id=f"model.x.{OSC0}", resource_type="model", status="error", upstream=(entry,), downstream=()
    )
    assert _controls(render_lineage(view)) == []


def test_markdown_escapes_html_pipes_and_backticks() -> None:
    out = render(_hostile_outcome(), "markdown")
    assert _controls(out) == []
    run = make_run(
        "inv-md",
        1.0,
        [
            node_result(
                "model.s.m", status="error", message="<img src=x onerror=alert(1)> a|b `code` </details>"
            )
        ],
    )
    md = render(analyze(run), "markdown")
    assert "<img" not in md and "</details>" not in md and "&lt;img" in md
    assert "a\\|b" in md and "\\`code\\`" in md


def test_junit_and_github_carry_no_controls() -> None:
    outcome = _hostile_outcome()
    xml = render(outcome, "junit")
    ET.fromstring(xml)
    assert _controls(xml.replace("\n", "")) == []
    for line in annotations(outcome):
        assert _controls(line) == []


# ---------------------------------------------------------------------------- GATE, ages, samples


def test_gate_reasons_are_one_line_each_and_counted() -> None:
    out = render(_hostile_outcome(big_gate=True), "text")
    gate = out[out.index("GATE failed") :].splitlines()
    assert len(gate) == 11  # ten reasons, then the count of the rest
    assert gate[-1].strip() == "… and 20 more"
    assert all(len(line) <= 240 for line in gate)


def test_ages_are_said_in_human_units() -> None:
    outcome = _hostile_outcome()
    text = render(outcome, "text")
    assert "loaded 2.5 years ago" in text and "h ago" not in text
    assert "loaded 2.5 years ago" in render(outcome, "junit")
    assert any("loaded 2.5 years ago" in line for line in annotations(outcome))


def test_failing_row_samples_are_cut_in_views() -> None:
    wide = {f"col{i}": "v" * 200_000 for i in range(40)}
    check = make_check("not_null", "id", relation="main.t", status="fail", failing_rows=1, total_rows=1)
    check = replace(check, samples=[wide])
    report = QualityReport([TableResult("main.t", [check])])
    for fmt in ("text", "markdown", "junit"):
        out = render_check(report, fmt, passed=False, reasons=["x"])
        assert len(out) < 10_000, fmt
        assert "col39" not in out and "more columns" in out
    # The JSON contract keeps samples whole.
    assert "col39" in render_check(report, "json", passed=False, reasons=["x"])


# ---------------------------------------------------------------------------- Slack delivery


class _Server:
    """A real HTTP server on 127.0.0.1 whose handler is given per test; records request count."""

    def __init__(self, handle: Callable[[BaseHTTPRequestHandler], None]) -> None:
        server_self = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                server_self.requests += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02})
        self.thread.daemon = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/services/T0/B0/s3cretS3cret"

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _trickle(h: BaseHTTPRequestHandler) -> None:
    """One byte every 0.2 s of a long answer: each read gets a byte long before any read timeout."""
    body = b"ok" + b" " * 200
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    try:
        for i in range(len(head + body)):
            h.wfile.write((head + body)[i : i + 1])
            h.wfile.flush()
            time.sleep(0.2)
    except OSError:
        pass  # the client gave up: that is the point


def _answer(code: int, body: bytes) -> Callable[[BaseHTTPRequestHandler], None]:
    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(code)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return handle


def _policy(**extra: Any) -> DeliveryPolicy:
    options: dict[str, Any] = {"timeout_s": 1.0, "attempts": 3, "backoff_s": 0.01, "sleep": lambda _s: None}
    return DeliveryPolicy(**{**options, **extra})


def _failing_outcome(invocation: str = "inv-1") -> Outcome:
    run = make_run(invocation, 1_700_000_000.0, [node_result("model.s.m", status="error", message="boom")])
    return analyze(run)


def _messages(store: HistoryStore) -> list[tuple[str, int]]:
    with store.connect() as con:
        rows = con.execute("SELECT status, attempts FROM alerts WHERE kind = 'slack_message'").fetchall()
    return [(str(s), int(a)) for s, a in rows]


def test_a_trickling_webhook_is_cut_off_per_request() -> None:
    with _Server(_trickle) as server:
        started = time.monotonic()
        result = post_json(server.url, {"text": "x"}, _policy(request_s=0.5, attempts=1))
        elapsed = time.monotonic() - started
    assert not result.ok and result.retryable
    assert "within" in (result.error or "") and "s3cret" not in (result.error or "")
    assert elapsed < 30  # the trickle alone would take 40 s


def test_a_trickling_webhook_leaves_the_message_queued(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.duckdb")
    with _Server(_trickle) as server:
        config = Config(slack_webhook=server.url)
        report = notify(_failing_outcome(), config, store, policy=_policy(request_s=0.3), budget_s=0.8)
    assert not report.ok and not report.sent
    assert [status for status, _ in _messages(store)] == ["failed"]
    assert [a.kind for a in store.alerts.pending()].count("slack_message") == 1  # tried again next run
    assert "s3cret" not in report.summary()


def test_200_with_an_error_body_is_not_sent(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.duckdb")
    with _Server(_answer(200, b"invalid_payload")) as server:
        report = notify(_failing_outcome(), Config(slack_webhook=server.url), store, policy=_policy())
    assert report.sent == [] and not report.ok
    assert "invalid_payload" in report.summary()
    assert _messages(store) != [("sent", 1)]


def test_a_400_is_final_kept_and_said_once(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.duckdb")
    with _Server(_answer(400, b"invalid_payload")) as server:
        config = Config(slack_webhook=server.url)
        first = notify(_failing_outcome("inv-1"), config, store, policy=_policy())
        assert server.requests == 1
        second = notify(_failing_outcome("inv-1"), config, store, policy=_policy())
        assert server.requests == 1  # not re-posted on a later run
    assert "invalid_payload" in first.summary() and "not retried" in first.summary()
    assert second.rejected == {} and "invalid_payload" not in second.summary()
    assert _messages(store) == [("rejected", 1)]


def test_summary_does_not_repeat_its_label(tmp_path: Path) -> None:
    with _Server(_answer(500, b"down")) as server:
        report = notify(_failing_outcome(), Config(slack_webhook=server.url), None, policy=_policy())
    assert not report.summary().startswith("slack:")
    assert "s3cret" not in report.summary()


def test_server_text_in_the_summary_is_terminal_safe() -> None:
    with _Server(_answer(500, f"down {OSC52}".encode())) as server:
        report = notify(_failing_outcome(), Config(slack_webhook=server.url), None, policy=_policy())
    assert _controls(report.summary()) == []


# ---------------------------------------------------------------------------- files


@pytest.fixture
def full_device(tmp_path: Path) -> Iterator[Path]:
    """A device that refuses every write with ENOSPC: a private /dev/full, else the system's."""
    node = tmp_path / "full"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except (PermissionError, AttributeError, OSError):
        system = Path("/dev/full")
        if not (system.exists() and stat.S_ISCHR(system.stat().st_mode)):
            pytest.skip("no device that refuses writes here")
        yield system
        return
    yield node


def test_a_write_to_a_full_device_fails_with_one_line(full_device: Path) -> None:
    with pytest.raises(PipewatchError) as caught:
        write_atomic(full_device, "x" * 10, what="metrics file")
    message = str(caught.value)
    assert message.startswith(f"{full_device}: cannot write the metrics file") and "\n" not in message
    assert caught.value.exit_code == 2
    assert stat.S_ISCHR(full_device.stat().st_mode)  # the device is still a device


def test_the_html_report_to_a_full_device_is_an_error(full_device: Path) -> None:
    with pytest.raises(PipewatchError, match="cannot write the report"):
        write_html_report(_failing_outcome(), full_device)
    assert stat.S_ISCHR(full_device.stat().st_mode)


def test_a_write_to_a_fifo_is_written_directly(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    write_atomic(fifo, "hello\n")
    reader.join(timeout=10)
    assert got == [b"hello\n"] and stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_write_into_a_missing_folder_under_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(PipewatchError, match="cannot write the output"):
        write_atomic(tmp_path / "f" / "out.json", json.dumps({}), what="output")


def test_after_run_report_to_a_full_device_exits_2(faulty_build: BuiltProject, full_device: Path) -> None:
    project = str(faulty_build.project_dir)
    done = run_pipewatch("after-run", "--project-dir", project, "--report", str(full_device))
    assert done.returncode == 2, done.stderr
    assert f"{full_device}: cannot write the report" in done.stderr and "wrote" not in done.stderr
    assert stat.S_ISCHR(full_device.stat().st_mode)
    done = run_pipewatch("after-run", "--project-dir", project, "--prometheus", str(full_device))
    assert done.returncode == 2 and "cannot write the metrics file" in done.stderr


def test_a_small_write_to_a_full_stream_is_an_error_now(full_device: Path) -> None:
    stream = open(full_device, "w", encoding="utf-8")  # noqa: SIM115 - its close fails too, on purpose
    try:
        with pytest.raises(PipewatchError) as caught:
            write_stream("GATE passed\n", stream, name="stdout")
    finally:
        with contextlib.suppress(OSError):  # the text still buffered cannot be written either
            stream.close()
    assert str(caught.value) == "stdout: cannot write the output: No space left on device"


def test_stdout_to_a_full_device_exits_2_without_a_traceback(full_device: Path) -> None:
    script = "from pipewatch.outputs.files import write_stream\nwrite_stream('x\\n')\n"
    code = f"import sys\ntry:\n    exec({script!r})\nexcept Exception as e:\n    print(e, file=sys.stderr); sys.exit(2)\n"
    with open(full_device, "w", encoding="utf-8") as out:
        done = subprocess.run(
            [sys.executable, "-c", code], stdout=out, stderr=subprocess.PIPE, text=True, check=False
        )
    assert done.returncode == 2
    assert done.stderr == "stdout: cannot write the output: No space left on device\n"


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_slack_message_escapes_mrkdwn_and_drops_controls() -> None:
    from pipewatch.outputs.slack_message import build_alert_message

    message = f"<!channel> & {HOSTILE}"
    run = make_run("inv-s", 1.0, [node_result("model.s.m", status="error", message=message)])
    texts = list(_strings(build_alert_message(analyze(run), Config())))
    assert not any("<!channel>" in t for t in texts)
    assert any("&lt;!channel&gt; &amp;" in t for t in texts)
    assert [t for t in texts if _controls(t.replace("\n", ""))] == []


def test_history_views_strip_every_control_sequence() -> None:
    from pipewatch.history.anomaly import Anomaly
    from pipewatch.history.trends import HistorySummary, NodeStats, NodeTrend, TrendPoint
    from pipewatch.outputs.trend_view import render_summary, render_trend

    anomaly = Anomaly(f"model.x.{OSC52}", "execution_time", 40.0, 8.0, 12.0, "up", 30)
    stats = NodeStats(f"model.x.{OSC0}", 3, 1.0, 2.0, HOSTILE, [1.0, 2.0])
    summary = HistorySummary(3, 1.0, 2.0, f"inv{DCS}", 30, [stats], [stats], [anomaly])
    point = TrendPoint(f"inv{C1}", 1.0, HOSTILE, 1.0, 10)
    trend = NodeTrend(f"model.x.{CSI}", "node", 1, [point], [anomaly])
    assert _controls(render_summary(summary)) == []
    assert _controls(render_trend(trend)) == []
