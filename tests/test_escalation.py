"""Escalation: who must act on each failure (manifest owners, group owners, pipewatch.yml routing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipewatch.analysis import analyze
from pipewatch.artifacts.model import Run
from pipewatch.config import load_config, parse_duration
from pipewatch.errors import ConfigError
from pipewatch.outputs import render
from tests.factories import make_node, make_result, make_run


def _run() -> Run:
    nodes = [
        make_node("model.shop.payments", path="models/finance/payments.sql", owner="finance@shop.example"),
        make_node("model.shop.orders", path="models/core/orders.sql"),
        make_node("model.shop.ads", path="models/growth/ads.sql", tags=("marketing",)),
        make_node("model.shop.locked", path="models/core/locked.sql"),
        make_node("model.shop.child", path="models/core/child.sql", depends_on=("model.shop.orders",)),
    ]
    results = [
        make_result(
            "model.shop.payments", "error", "Conversion Error: Could not convert string 'N/A' to INT32"
        ),
        make_result("model.shop.orders", "error", 'Binder Error: Referenced column "amout" not found'),
        make_result(
            "model.shop.ads", "error", "Out of Memory Error: failed to allocate data of size 2.0 GiB"
        ),
        make_result(
            "model.shop.locked",
            "error",
            'IO Error: Could not set lock on file "/data/shop.duckdb": Conflicting lock is held in /usr/bin/python3 (PID 4242)',
        ),
        make_result("model.shop.child", "skipped"),
    ]
    return make_run(nodes, results, elapsed=4.0)


def test_failures_are_routed_and_grouped_by_who_must_act(tmp_path: Path) -> None:
    (tmp_path / "pipewatch.yml").write_text(
        "platform_owner: platform@shop.example\n"
        "owners:\n"
        "  - {path: 'models/core/*', owner: core@shop.example}\n"
        "  - {tag: marketing, owner: growth@shop.example}\n",
        encoding="utf-8",
    )
    outcome = analyze(_run(), load_config(tmp_path, env={}))
    by_id = {f.unique_id: f for f in outcome.failures}
    # The manifest's owner wins; pipewatch.yml routes by path and by tag.
    assert by_id["model.shop.payments"].escalate_to == "finance@shop.example"
    assert by_id["model.shop.orders"].owner == "core@shop.example"
    assert by_id["model.shop.orders"].classification.category == "code"
    assert by_id["model.shop.orders"].escalate_to == "core@shop.example"
    # Resources go to the platform team even when the model has an owner.
    assert by_id["model.shop.ads"].classification.category == "resource"
    assert by_id["model.shop.ads"].escalate_to == "platform@shop.example"
    assert by_id["model.shop.locked"].classification.action == "retry"
    groups = outcome.failures_by_actor()
    assert {who: [f.unique_id for f in fs] for who, fs in groups.items()} == {
        "core@shop.example": ["model.shop.orders"],
        "finance@shop.example": ["model.shop.payments"],
        "platform@shop.example": ["model.shop.ads"],
        "retry (transient)": ["model.shop.locked"],
    }
    text = render(outcome, "text")
    assert text.index("→ core@shop.example") < text.index("model.shop.orders")
    assert "→ retry (transient)" in text
    assert outcome.gate.passed is False


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    (tmp_path / "pipewatch.yml").write_text("platform_owner: a@x\nmin_score: 0.5\n", encoding="utf-8")
    config = load_config(tmp_path, env={"PIPEWATCH_PLATFORM_OWNER": "b@x", "PIPEWATCH_MIN_SCORE": "0.9"})
    assert config.platform_owner == "b@x" and config.min_score == 0.9


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("owners: [\n  {path: x\n", "pipewatch.yml:"),
        ("- just\n- a list\n", "mapping"),
        ("owners:\n  - {owner: a}\n", "`path` or `tag`"),
        ("min_score: high\n", "min_score"),
        ("alert_suppression: soon\n", "alert_suppression"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "pipewatch.yml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, env={})
    message = str(caught.value)
    assert needle in message and "\n" not in message and str(tmp_path / "pipewatch.yml") in message


def test_yaml_errors_carry_the_line(tmp_path: Path) -> None:
    (tmp_path / "pipewatch.yml").write_text("platform_owner: a\nowners: [\n  {path: x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"pipewatch\.yml:\d+: invalid YAML"):
        load_config(tmp_path, env={})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("48h", 172800), ("2d", 172800), ("1w", 604800), (15, 15)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "3x", "-1h", "1.5.2h", True])
def test_bad_durations(text: str | bool) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_after_run_and_check_share_the_quality_gate() -> None:
    from pipewatch.analysis import decide_gate
    from pipewatch.rules.scoring import gate
    from tests.factories import make_check, make_quality

    # A warn-severity check that could not run fails both gates alike: pipewatch did not see the data.
    quality = make_quality([make_check("range", column="amount", status="error", severity="warn")])
    run = make_run([make_node("model.shop.ok")], [make_result("model.shop.ok", "success")])
    assert not gate(quality)[0]
    assert not decide_gate(run, [], [], quality).passed
    assert not analyze(run, load_config(Path("."), env={}), quality=quality).gate.passed
    # One that ran and failed only warns, in both.
    warned = make_quality([make_check("range", column="amount", status="warn", severity="warn")])
    assert gate(warned) == (True, [])
    assert decide_gate(run, [], [], warned).passed
