"""Slack alerts against a real HTTP server on 127.0.0.1 and a real history store (DuckDB outbox).

The server records every request and answers from a script: 200, 429 with Retry-After, 500, 404, a
response that never comes in time, or a dropped connection. Backoffs and timeouts are tiny so the
whole module runs in seconds (after the session's one real dbt build).
"""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipewatch.analysis import analyze
from pipewatch.artifacts import load_run
from pipewatch.artifacts.model import Run
from pipewatch.config import Config
from pipewatch.errors import ConfigError
from pipewatch.history.anomaly import Anomaly
from pipewatch.history.store import HistoryStore
from pipewatch.history.testing import make_run, node_result
from pipewatch.outputs.delivery import (
    SLACK_MASK,
    DeliveryPolicy,
    mask_secrets,
    mask_url,
    post_json,
    retry_after_seconds,
)
from pipewatch.outputs.slack import KIND_MESSAGE, notify
from pipewatch.outputs.slack_message import (
    MAX_BLOCKS,
    MAX_HEADER,
    MAX_TEXT,
    build_alert_message,
    format_handle,
)
from pipewatch.rules.results import CheckResult, QualityReport, TableResult
from tests.conftest import BuiltProject
from tests.test_history_store import CountingStore
from tests.webhook_server import Webhook, serving

SECRET = "T0000/B0000/XXXXsecretXXXX"
HOUR = 3600.0


def replace(obj: Any, **changes: Any) -> Any:
    """A copy with some fields changed, for the model's msgspec Structs and for dataclasses alike."""
    if isinstance(obj, msgspec.Struct):
        return msgspec.structs.replace(obj, **changes)
    return dataclasses.replace(obj, **changes)


# ---------------------------------------------------------------------------- the webhook server


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A real HTTP server on an ephemeral 127.0.0.1 port; its URL has a secret-looking path."""
    with serving(f"/services/{SECRET}") as hook:
        yield hook


@dataclass
class Sleeps:
    """Records the waits a delivery asked for instead of sleeping them."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def fast_policy(sleeps: Sleeps | None = None, **overrides: Any) -> DeliveryPolicy:
    """Tiny timeouts, no real waiting."""
    options: dict[str, Any] = {
        "timeout_s": 0.3,
        "attempts": 3,
        "backoff_s": 0.001,
        "sleep": sleeps or Sleeps(),
    }
    options.update(overrides)
    return DeliveryPolicy(**options)


# ---------------------------------------------------------------------------- runs and outcomes


@pytest.fixture(scope="module")
def faulty_run(faulty_build: BuiltProject) -> Run:
    return load_run(faulty_build.target)


def _config(url: str, **extra: Any) -> Config:
    return Config(slack_webhook=url, **extra)


def passing_again(run: Run, invocation_id: str) -> Run:
    """The same project, next invocation, with every failure fixed (errors succeed, failed tests pass)."""
    fixed = {"error": "success", "fail": "pass", "skipped": "success"}
    results = [replace(r, status=fixed.get(r.status, r.status), message="OK") for r in run.results]
    return replace(run, invocation_id=invocation_id, results=results)


def rerun(run: Run, invocation_id: str) -> Run:
    """The same results under a new invocation id (the same failures again)."""
    return replace(run, invocation_id=invocation_id)


def outbox_rows(store: HistoryStore) -> list[tuple[str, str, str | None, str, int]]:
    with store.connect() as con:
        rows = con.execute(
            "SELECT dedup_key, kind, node, status, attempts FROM alerts ORDER BY created_at, dedup_key"
        ).fetchall()
    return [(str(k), str(kind), node, str(s), int(a)) for k, kind, node, s, a in rows]


def messages(store: HistoryStore) -> list[tuple[str, str, int]]:
    return [(k, s, a) for k, kind, _, s, a in outbox_rows(store) if kind == KIND_MESSAGE]


def texts(message: dict[str, Any]) -> str:
    """Every text of a Block Kit message, joined (for asserting what a reader sees)."""
    out = [message.get("text", "")]
    for block in message["blocks"]:
        if "text" in block:
            out.append(block["text"]["text"])
        for element in block.get("elements", []):
            out.append(element.get("text", ""))
    return "\n".join(out)


def assert_within_slack_limits(message: dict[str, Any]) -> None:
    assert len(message["blocks"]) <= MAX_BLOCKS
    assert len(message["text"]) <= MAX_TEXT
    for block in message["blocks"]:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= MAX_HEADER
        elif "text" in block:
            assert len(block["text"]["text"]) <= MAX_TEXT
        for element in block.get("elements", []):
            assert len(element["text"]) <= MAX_TEXT
    json.dumps(message)  # serialisable as sent


# ---------------------------------------------------------------------------- the message


def test_message_reads_like_the_run(faulty_run: Run) -> None:
    config = Config(
        slack_handles={"analytics-eng@shop.example": "S0ANALYTICS", "finance-data@shop.example": "@fin"},
        report_url="https://ci.example.com/runs/7/report.html",
    )
    outcome = analyze(faulty_run, config)
    message = build_alert_message(outcome, config)
    assert_within_slack_limits(message)
    seen = texts(message)
    assert message["blocks"][0]["type"] == "header"
    assert (
        "shop" in message["blocks"][0]["text"]["text"] and "2 failed" in message["blocks"][0]["text"]["text"]
    )
    # grouped by cause, with category, owner mention and downstream impact
    assert "*data*" in seen and "*quality*" in seen
    assert "`stg_payments`" in seen and "Conversion Error" in seen
    assert "<!subteam^S0ANALYTICS>" in seen  # a user-group id becomes a mention
    assert "@fin" in seen
    assert "skipped 19" in seen and "and 14 more" in seen
    assert "exposures: `executive_revenue_dashboard`" in seen
    assert "<https://ci.example.com/runs/7/report.html|Open the pipewatch report>" in seen
    assert "Gate failed" in seen


def test_meta_slack_on_the_node_wins(faulty_run: Run) -> None:
    nodes = dict(faulty_run.nodes)
    uid = "model.shop.stg_payments"
    nodes[uid] = replace(nodes[uid], meta={**nodes[uid].meta, "slack": "U12345678"})
    run = replace(faulty_run, nodes=nodes)
    config = Config(slack_handles={"finance-data@shop.example": "S0FINANCE1"})
    seen = texts(build_alert_message(analyze(run, config), config))
    assert "<@U12345678>" in seen and "S0FINANCE1" not in seen


def test_handles_and_escaping() -> None:
    assert format_handle("U0ABCDEF1") == "<@U0ABCDEF1>"
    assert format_handle("@W0ABCDEF1") == "<@W0ABCDEF1>"
    assert format_handle("S0ABCDEF1") == "<!subteam^S0ABCDEF1>"
    assert format_handle("@here") == "<!here>"
    assert format_handle("<@U1|jane>") == "<@U1|jane>"
    assert format_handle("@jane & <co>") == "@jane &amp; &lt;co&gt;"


def _many_failures_run(n: int, message: str) -> Run:
    results = [
        node_result(f"model.big.m_{i:04d}", status="error", message=f"{message} #{i}", started=1000.0 + i)
        for i in range(n)
    ]
    return make_run("big-1", 2000.0, results, project="big")


def _quality(n: int, name: str = "check") -> QualityReport:
    checks = [
        CheckResult(
            check_id=f"main.t{i % 7}::{name}_{i}",
            name=f"{name}_{i}",
            type="not_null",
            relation=f"main.t{i % 7}",
            column="c",
            status="fail",
            severity="error",
            failing_rows=i + 1,
            total_rows=1000,
        )
        for i in range(n)
    ]
    tables: dict[str, list[CheckResult]] = {}
    for c in checks:
        tables.setdefault(c.relation, []).append(c)
    return QualityReport([TableResult(rel, cs) for rel, cs in tables.items()])


def test_long_lists_are_cut_within_slack_limits() -> None:
    run = _many_failures_run(400, "Permission denied for table x " * 40)
    outcome = analyze(run, Config(), quality=_quality(300))
    outcome.anomalies = [
        Anomaly(f"model.big.m_{i:04d}", "execution_time", 90.0, 1.0, 2.0, "up", 30) for i in range(100)
    ]
    message = build_alert_message(outcome, Config(report_url="https://r.example/x"))
    assert_within_slack_limits(message)
    seen = texts(message)
    assert "and 380 more" in seen  # one shared message: quoted once, the nodes listed and cut
    assert "and 290 more failing checks" in seen
    assert "and 92 more anomalies" in seen
    assert "Open the pipewatch report" in seen


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    names=st.lists(st.text(min_size=1, max_size=200), min_size=1, max_size=60),
    message=st.text(max_size=5000),
    project=st.text(max_size=400),
)
def test_any_input_stays_within_limits_and_escaped(names: list[str], message: str, project: str) -> None:
    results = [
        node_result(f"model.p.{name}", status="error", message=message, started=float(i))
        for i, name in enumerate(names)
    ]
    run = replace(make_run("inv", 100.0, results), project_name=project or None)
    outcome = analyze(run, Config())
    built = build_alert_message(
        outcome, Config(slack_handles={"x": "y"}), suppressed=[r.unique_id for r in results]
    )
    assert_within_slack_limits(built)
    for block in built["blocks"]:
        if block["type"] == "section":
            # user text can never open a Slack control sequence (<!channel>, <@U..>, <http..|..>)
            assert "<" not in block["text"]["text"].replace("<https://", "")


# ---------------------------------------------------------------------------- delivery


def test_mask_never_shows_the_secret() -> None:
    hook = "https://hooks.slack.com/services/T0/B0/abcdef"
    assert mask_url(hook) == SLACK_MASK
    assert mask_secrets(f"failed to post to {hook}: boom", hook) == f"failed to post to {SLACK_MASK}: boom"
    assert mask_secrets("x https://hooks.slack.com/services/T9/B9/zzz y") == f"x {SLACK_MASK} y"
    assert mask_url("http://127.0.0.1:9/services/T/B/s") == "http://127.0.0.1/***"
    with pytest.raises(ConfigError) as err:
        post_json("file:///etc/passwd", {"text": "x"})
    assert "passwd" not in str(err.value)
    with pytest.raises(ConfigError, match="PIPEWATCH_SLACK_WEBHOOK"):
        notify(analyze(make_run("i", 1.0, [])), Config(), None)


def test_retry_after_parsing() -> None:
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_429_honours_retry_after(webhook: Webhook) -> None:
    sleeps = Sleeps()
    webhook.answer(("status", 429, {"Retry-After": "2"}), ("status", 429, {"Retry-After": "1"}))
    result = post_json(webhook.url, {"text": "hi"}, fast_policy(sleeps))
    assert result.ok and result.attempts == 3
    assert sleeps.waits == [2.0, 1.0]
    assert len(webhook.arrived) == 3 and all(a.body == {"text": "hi"} for a in webhook.arrived)
    assert webhook.arrived[0].headers["Content-Type"].startswith("application/json")


def test_too_long_retry_after_is_not_waited(webhook: Webhook) -> None:
    webhook.answer(("status", 429, {"Retry-After": "3600"}))
    result = post_json(webhook.url, {"text": "hi"}, fast_policy(max_retry_after_s=5))
    assert not result.ok and result.retryable and result.status == 429
    assert len(webhook.arrived) == 1


def test_5xx_retried_with_backoff_then_given_up(webhook: Webhook) -> None:
    sleeps = Sleeps()
    webhook.answer(("status", 500), ("status", 503), ("status", 502))
    # Full jitter draws below the ceiling; drawing the ceiling itself shows the doubling.
    policy = fast_policy(sleeps, backoff_s=0.01, uniform=lambda _low, high: high)
    result = post_json(webhook.url, {"text": "hi"}, policy)
    assert not result.ok and result.retryable and result.attempts == 3
    assert len(webhook.arrived) == 3
    assert sleeps.waits == pytest.approx([0.01, 0.02])  # exponential
    assert "HTTP 502" in (result.error or "") and SECRET not in (result.error or "")


@pytest.mark.parametrize("code", [400, 403, 404, 410])
def test_other_4xx_not_retried(webhook: Webhook, code: int) -> None:
    webhook.answer(("status", code))
    result = post_json(webhook.url, {"text": "hi"}, fast_policy())
    assert not result.ok and not result.retryable and result.status == code
    assert len(webhook.arrived) == 1
    assert f"HTTP {code}: error_{code}" == result.error


def test_url_echoed_by_the_server_is_masked(webhook: Webhook) -> None:
    webhook.answer(("echo", 404), *[("echo", 503)] * 3)
    for _ in range(2):
        result = post_json(webhook.url, {"text": "hi"}, fast_policy())
        assert not result.ok and "no such hook" in (result.error or "")
        assert SECRET not in (result.error or "") and "/***" in (result.error or "")


def test_timeout_then_success(webhook: Webhook) -> None:
    webhook.answer(("slow", 0.6))
    started = time.monotonic()
    result = post_json(webhook.url, {"text": "hi"}, fast_policy(timeout_s=0.15))
    assert result.ok and result.attempts == 2
    assert time.monotonic() - started < 1.0
    assert len(webhook.arrived) == 2


def test_dropped_connection_is_retried(webhook: Webhook) -> None:
    webhook.answer(("drop",), ("drop",))
    result = post_json(webhook.url, {"text": "hi"}, fast_policy())
    assert result.ok and result.attempts == 3 and len(webhook.arrived) == 3


def test_nothing_listening_is_a_retryable_failure() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/{SECRET}"
    result = post_json(url, {"text": "x"}, fast_policy())
    assert not result.ok and result.retryable and result.status is None
    assert "cannot connect" in (result.error or "") and SECRET not in (result.error or "")


# ---------------------------------------------------------------------------- notify: outbox, dedup, suppression


@pytest.fixture
def store(tmp_path: Path) -> HistoryStore:
    return HistoryStore(tmp_path / "history.duckdb")


def test_alert_is_delivered_once_and_never_twice(
    webhook: Webhook, store: HistoryStore, faulty_run: Run
) -> None:
    config = _config(webhook.url)
    outcome = analyze(faulty_run, config)
    report = notify(outcome, config, store, now=1000.0, policy=fast_policy())
    assert report.ok and len(report.sent) == 1 and report.queued == report.sent
    assert sorted(report.alerted) == sorted(f.unique_id for f in outcome.failures)
    assert len(webhook.arrived) == 1
    assert_within_slack_limits(webhook.arrived[0].body)
    assert webhook.arrived[0].path == f"/services/{SECRET}"
    rows = outbox_rows(store)
    assert {r[3] for r in rows} == {"sent"} and all(r[4] == 1 for r in rows)
    assert sorted(r[2] for r in rows if r[1] == "failure") == sorted(report.alerted)
    # The rows are the history store's outbox rows, readable through its own API.
    last = store.alerts.last_alert_for("model.shop.stg_payments", "failure")
    assert last is not None and last.status == "sent" and last.sent_at == 1000.0
    assert store.alerts.pending() == []

    # The same artifacts again, even a day later: the same invocation never alerts twice.
    for later in (1001.0, 1000.0 + 48 * HOUR):
        again = notify(outcome, config, store, now=later, policy=fast_policy())
        assert again.sent == [] and again.queued == []
    assert len(webhook.arrived) == 1
    assert len(outbox_rows(store)) == len(rows)


def test_same_failure_next_run_is_suppressed_until_the_window_ends(
    webhook: Webhook, store: HistoryStore, faulty_run: Run
) -> None:
    config = _config(webhook.url, alert_suppression_s=24 * HOUR)
    notify(analyze(faulty_run, config), config, store, now=0.0, policy=fast_policy())
    second = notify(
        analyze(rerun(faulty_run, "inv-2"), config), config, store, now=6 * HOUR, policy=fast_policy()
    )
    assert second.sent == [] and len(second.suppressed) == 2
    assert len(webhook.arrived) == 1
    third = notify(
        analyze(rerun(faulty_run, "inv-3"), config), config, store, now=25 * HOUR, policy=fast_policy()
    )
    assert len(third.sent) == 1 and third.suppressed == []
    assert len(webhook.arrived) == 2


def test_changed_failure_is_alerted_inside_the_window(
    webhook: Webhook, store: HistoryStore, faulty_run: Run
) -> None:
    config = _config(webhook.url)
    notify(analyze(faulty_run, config), config, store, now=0.0, policy=fast_policy())
    uid = "model.shop.stg_payments"
    results = [
        replace(r, message="Permission Error: access denied for table raw_payments")
        if r.unique_id == uid
        else r
        for r in faulty_run.results
    ]
    changed = replace(faulty_run, invocation_id="inv-changed", results=results)
    report = notify(analyze(changed, config), config, store, now=HOUR, policy=fast_policy())
    assert report.alerted == [uid] and len(report.suppressed) == 1
    body = texts(webhook.arrived[-1].body)
    assert "access denied" in body and "Still failing, already announced" in body
    # A count that differs is not a change: "Got 3 results" after "Got 1 result" stays suppressed.
    test_uid = next(f.unique_id for f in analyze(faulty_run).failures if f.status == "fail")
    recounted = [
        replace(r, message="Got 3 results, configured to fail if != 0") if r.unique_id == test_uid else r
        for r in results
    ]
    recount = replace(faulty_run, invocation_id="inv-recount", results=recounted)
    assert notify(analyze(recount, config), config, store, now=2 * HOUR, policy=fast_policy()).sent == []


def test_failed_delivery_stays_queued_and_goes_out_with_the_next_run(
    webhook: Webhook, store: HistoryStore, faulty_run: Run
) -> None:
    config = _config(webhook.url)
    webhook.answer(*[("status", 500)] * 3)
    first = notify(analyze(faulty_run, config), config, store, now=0.0, policy=fast_policy())
    assert not first.ok and len(first.failed) == 1 and first.sent == []
    assert len(webhook.arrived) == 3  # retried in-process
    error = next(iter(first.failed.values()))
    assert "HTTP 500" in error and SECRET not in error
    [(key, status, attempts)] = messages(store)
    assert (status, attempts) == ("failed", 1)
    assert all(r[3] == "failed" for r in outbox_rows(store))

    # Next run, same failures: the queued message is delivered, and they are not announced again.
    second = notify(
        analyze(rerun(faulty_run, "inv-2"), config), config, store, now=HOUR, policy=fast_policy()
    )
    assert second.sent == [key] and second.queued == [] and len(second.suppressed) == 2
    assert len(webhook.arrived) == 4
    late = texts(webhook.arrived[-1].body)
    assert "Delivered late" in late and "stg_payments" in late
    assert messages(store) == [(key, "sent", 2)]
    third = notify(
        analyze(rerun(faulty_run, "inv-3"), config), config, store, now=2 * HOUR, policy=fast_policy()
    )
    assert third.sent == [] and len(webhook.arrived) == 4


def test_outage_keeps_every_message_in_order(webhook: Webhook, store: HistoryStore, faulty_run: Run) -> None:
    config = _config(webhook.url)
    policy = fast_policy(attempts=1, timeout_s=0.1)
    webhook.answer(("drop",), ("slow", 0.5))
    notify(analyze(faulty_run, config), config, store, now=0.0, policy=policy)
    fixed = notify(
        analyze(passing_again(faulty_run, "inv-2"), config), config, store, now=HOUR, policy=policy
    )
    # The older alert failed again, so the resolution waits behind it rather than overtaking it.
    assert fixed.sent == [] and len(fixed.failed) == 1 and len(fixed.deferred) == 1
    assert len(webhook.arrived) == 2
    recovered = notify(
        analyze(passing_again(faulty_run, "inv-3"), config), config, store, now=2 * HOUR, policy=policy
    )
    assert len(recovered.sent) == 2 and recovered.queued == []  # nothing new: inv-3 has nothing to add
    first, second = (texts(a.body) for a in webhook.arrived[-2:])
    assert "stg_payments" in first and "failed" in first
    assert "Resolved" in second
    assert {s for _, s, _ in messages(store)} == {"sent"}


def test_resolved_once_when_an_alerted_failure_passes_again(
    webhook: Webhook, store: HistoryStore, faulty_run: Run
) -> None:
    config = _config(webhook.url)
    failed = analyze(faulty_run, config)
    notify(failed, config, store, now=0.0, policy=fast_policy())
    report = notify(
        analyze(passing_again(faulty_run, "inv-ok"), config), config, store, now=HOUR, policy=fast_policy()
    )
    assert sorted(report.resolved) == sorted(f.unique_id for f in failed.failures)
    resolved = webhook.arrived[-1].body
    assert_within_slack_limits(resolved)
    assert "Resolved" in texts(resolved) and "`stg_payments`" in texts(resolved)
    assert len(resolved["blocks"]) <= 2
    again = notify(
        analyze(passing_again(faulty_run, "inv-ok2"), config),
        config,
        store,
        now=2 * HOUR,
        policy=fast_policy(),
    )
    assert again.sent == [] and again.resolved == []
    # Failing again after the resolution is news, inside the window or not.
    relapse = notify(
        analyze(rerun(faulty_run, "inv-relapse"), config), config, store, now=3 * HOUR, policy=fast_policy()
    )
    assert len(relapse.sent) == 1 and relapse.suppressed == []
    assert len(webhook.arrived) == 3


def test_quality_checks_and_anomalies_are_alerted_and_resolved(webhook: Webhook, store: HistoryStore) -> None:
    config = _config(webhook.url, min_score=0.99)
    run = make_run("q-1", 100.0, [node_result("model.p.orders", rows_affected=10, started=1.0)])
    outcome = analyze(run, config, quality=_quality(2, "orders_not_null"))
    outcome.anomalies = [Anomaly("model.p.orders", "rows_affected", 10, 900, 1100, "down", 14)]
    report = notify(outcome, config, store, now=0.0, policy=fast_policy())
    assert len(report.sent) == 1
    seen = texts(webhook.arrived[-1].body)
    assert "Quality score" in seen and "(minimum 0.990)" in seen and "`orders_not_null_1`" in seen
    assert "rows_affected 10 ↓" in seen and "expected 900–1,100, 14 runs" in seen
    ok = _quality(2, "orders_not_null")
    for check in ok.checks:
        check.status, check.failing_rows = "pass", 0
    later = analyze(replace(run, invocation_id="q-2"), config, quality=ok)
    fixed = notify(later, config, store, now=HOUR, policy=fast_policy())
    assert sorted(fixed.resolved) == sorted(c.check_id for c in ok.checks)


def test_without_history_the_alert_is_sent_directly(webhook: Webhook, faulty_run: Run) -> None:
    config = _config(webhook.url)
    report = notify(analyze(faulty_run, config), config, None, policy=fast_policy())
    assert len(report.sent) == 1 and len(webhook.arrived) == 1


def test_clean_run_sends_nothing(webhook: Webhook, store: HistoryStore, faulty_run: Run) -> None:
    config = _config(webhook.url)
    report = notify(analyze(passing_again(faulty_run, "clean"), config), config, store, policy=fast_policy())
    assert report.ok and report.sent == [] and webhook.arrived == []


def test_an_outage_of_hundreds_of_models_is_one_message_fast(webhook: Webhook, store: HistoryStore) -> None:
    """Every model failing at once (a revoked grant, say): one message within Slack's limits, in about a second."""
    run = _many_failures_run(300, "permission denied for schema analytics")
    config = _config(webhook.url)
    started = time.perf_counter()
    first = notify(analyze(run, config), config, store, now=0.0, policy=fast_policy())
    elapsed = time.perf_counter() - started
    assert len(first.sent) == 1 and len(first.alerted) == 300
    assert elapsed < 10.0, f"notify took {elapsed:.1f}s for 300 failures"
    assert_within_slack_limits(webhook.arrived[0].body)
    assert "more" in texts(webhook.arrived[0].body)
    again = notify(
        analyze(replace(run, invocation_id="big-2"), config), config, store, now=HOUR, policy=fast_policy()
    )
    assert again.sent == [] and len(again.suppressed) == 300


def test_the_outbox_is_opened_as_often_for_300_failures_as_for_3(webhook: Webhook, tmp_path: Path) -> None:
    """A message and all its item markers are queued, marked and read back in batches, not per item."""
    config = _config(webhook.url)
    opens: dict[int, int] = {}
    for n in (3, 300):
        store = CountingStore(tmp_path / f"history-{n}.duckdb")
        run = _many_failures_run(n, "permission denied for schema analytics")
        webhook.answer(*[("status", 500)] * 3)
        failed = notify(analyze(run, config), config, store, now=0.0, policy=fast_policy())
        retried = notify(
            analyze(replace(run, invocation_id="big-2"), config),
            config,
            store,
            now=HOUR,
            policy=fast_policy(),
        )
        assert len(failed.failed) == 1 and len(retried.sent) == 1 and len(retried.suppressed) == n
        opens[n] = store.opens
        assert {s for _, s, _ in messages(store)} == {"sent"}
    assert opens[3] == opens[300] <= 10, opens


def test_distinct_failures_are_listed_then_cut() -> None:
    results = [
        node_result(
            f"model.big.m_{i:03d}",
            status="error",
            message=f"Conversion Error: row {i} bad value v{i}x",
            started=float(i),
        )
        for i in range(40)
    ]
    outcome = analyze(make_run("inv", 50.0, results, project="big"), Config())
    message = build_alert_message(outcome, Config())
    assert_within_slack_limits(message)
    seen = texts(message)
    assert seen.count("> Conversion Error") == 15  # each its own message, up to the limit
    assert "…and 25 more in this group" in seen
