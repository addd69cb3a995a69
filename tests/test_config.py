"""pipewatch.yml against its schema (issue 13): every mistake is refused with the file, line and key.

Each refusal used to be silent: an unknown key switched its feature off, an out-of-range score
never failed the gate, and a history value that is no path created a store file named after it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipewatch.config import load_config
from pipewatch.errors import ConfigError
from tests.conftest import run_pipewatch


def _refused(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    (tmp_path / "pipewatch.yml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, env=env or {})
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "platform_owner: a@x\nrules: rules\nmin_scroe: 0.99\n",
            "pipewatch.yml:3: unknown key 'min_scroe' (did you mean 'min_score'?)",
        ),
        ("rulez: rules\n", "pipewatch.yml:1: unknown key 'rulez' (did you mean 'rules'?)"),
        (
            "slack:\n  webhook: https://hooks.slack.com/x\n",
            "pipewatch.yml:2: unknown key 'slack.webhook' (did you mean 'webhook_url'?)",
        ),
        (
            "anomalies:\n  windw: 14\n",
            "pipewatch.yml:2: unknown key 'anomalies.windw' (did you mean 'window'?)",
        ),
        (
            "owners:\n  - {owner: a, path: x}\n  - {owner: b, tags: y}\n",
            "pipewatch.yml:3: unknown key 'owners.tags' (did you mean 'tag'?)",
        ),
    ],
)
def test_unknown_keys_are_refused_with_the_line_and_a_suggestion(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert _refused(tmp_path, text).endswith(expected)


@pytest.mark.parametrize("value", [".nan", "-1", "5", ".inf", "'0.9'", "true"])
def test_min_score_must_be_a_finite_number_between_0_and_1(tmp_path: Path, value: str) -> None:
    message = _refused(tmp_path, f"platform_owner: a@x\nmin_score: {value}\n")
    assert "pipewatch.yml:2: `min_score` must be a number between 0 and 1" in message


@pytest.mark.parametrize("value", ["nan", "-0.5", "2", "high"])
def test_pipewatch_min_score_must_be_a_finite_number_between_0_and_1(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"PIPEWATCH_MIN_SCORE=.* must be a number between 0 and 1"):
        load_config(tmp_path, env={"PIPEWATCH_MIN_SCORE": value})


def test_a_duplicate_key_is_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, "min_score: 0.5\nplatform_owner: a@x\nmin_score: 0.99\n")
    assert message.endswith("pipewatch.yml:3: invalid YAML: duplicate key `min_score`")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("anomalies:\n  window: -3\n", "pipewatch.yml:2: `anomalies`: expected a whole number of at least 1"),
        (
            "anomalies:\n  min_points: 0\n",
            "pipewatch.yml:2: `anomalies`: expected a whole number of at least 1",
        ),
        ("anomalies:\n  sensitivity: -1\n", "pipewatch.yml:2: `anomalies`: expected a positive number"),
        (
            "anomalies:\n  relative_floor: -0.1\n",
            "pipewatch.yml:2: `anomalies`: expected a number of at least 0",
        ),
        ("anomalies:\n  floors: {rows_affected: -1}\n", "pipewatch.yml:2: `anomalies`: expected a mapping"),
    ],
)
def test_negative_anomaly_settings_are_refused(tmp_path: Path, text: str, needle: str) -> None:
    assert needle in _refused(tmp_path, text)


@pytest.mark.parametrize("value", ["42", "true", "'no'", "''", "1.5"])
def test_history_must_be_a_path_or_false(tmp_path: Path, value: str) -> None:
    message = _refused(tmp_path, f"history: {value}\n")
    assert "pipewatch.yml:1: `history` must be the path of the history store, or false" in message


@pytest.mark.parametrize("value", ["no", "yes", "42", "true"])
def test_pipewatch_history_must_be_a_path_or_an_off_word(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=f"PIPEWATCH_HISTORY='{value}' is not a path"):
        load_config(tmp_path, env={"PIPEWATCH_HISTORY": value})
    assert not (tmp_path / value).exists()


def test_history_false_and_off_turn_history_off(tmp_path: Path) -> None:
    (tmp_path / "pipewatch.yml").write_text("history: false\n", encoding="utf-8")
    assert load_config(tmp_path, env={}).history_file() is None
    (tmp_path / "pipewatch.yml").write_text("history: runs/h.duckdb\n", encoding="utf-8")
    assert load_config(tmp_path, env={}).history_file() == tmp_path / "runs" / "h.duckdb"
    assert load_config(tmp_path, env={"PIPEWATCH_HISTORY": "off"}).history_file() is None


def test_a_valid_file_reads_every_key(tmp_path: Path) -> None:
    (tmp_path / "pipewatch.yml").write_text(
        "target_path: out\nhistory: h.duckdb\nrules: checks\nmin_score: 1\nplatform_owner: p@x\n"
        "owners:\n  - {path: 'models/*', owner: o@x}\nslack:\n  webhook_url: https://h\n"
        "  handles: {o@x: '@o'}\nreport_url: https://r\nalert_suppression: 2h\n"
        "anomalies: {window: 10, sensitivity: 2.5, seasonality: true, floors: {rows_affected: 3}}\n",
        encoding="utf-8",
    )
    config = load_config(tmp_path, env={})
    assert (config.target_path, config.history_path, config.rules_path) == ("out", "h.duckdb", "checks")
    assert config.min_score == 1.0 and config.alert_suppression_s == 7200
    assert config.slack_handles == {"o@x": "@o"} and config.owners[0].path == "models/*"
    assert config.extra["anomalies"]["floors"] == {"rows_affected": 3.0}


def test_the_cli_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "pipewatch.yml").write_text("platform_owner: a@x\n\nmin_scroe: 0.99\n", encoding="utf-8")
    done = run_pipewatch("after-run", "--project-dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"pipewatch: error: {tmp_path / 'pipewatch.yml'}:3: unknown key 'min_scroe' (did you mean 'min_score'?)"
    ]


def test_resolve_target_dir_precedence(tmp_path: Path) -> None:
    from pipewatch.config import resolve_target_dir

    (tmp_path / "dbt_project.yml").write_text("name: x\ntarget-path: from_project\n", encoding="utf-8")
    env = {"DBT_TARGET_PATH": "from_env"}
    assert resolve_target_dir(tmp_path, "flag", "cfg", env) == tmp_path / "flag"
    assert resolve_target_dir(tmp_path, None, "cfg", env) == tmp_path / "from_env"
    assert resolve_target_dir(tmp_path, None, "cfg", {}) == tmp_path / "cfg"
    assert resolve_target_dir(tmp_path, None, None, {}) == tmp_path / "from_project"
    assert resolve_target_dir(tmp_path / "none", None, None, {}) == tmp_path / "none" / "target"
    assert resolve_target_dir(tmp_path, "~/t", None, {}) == Path.home() / "t"
    assert resolve_target_dir(tmp_path, "/abs/t", None, {}) == Path("/abs/t")
