"""Recovery with the real dbt on DuckDB (`tests/data/retry_project`, see its README).

A Python model fails on its first run with DuckDB's real lock-conflict error (transient) and succeeds on
the next; a SQL model can be switched to a bad cast (data, the same every time); failures before any node
are made by holding the database's lock from this process or by a Jinja syntax error. Waits go through an
injected sleep (or `--backoff-base 0`), so nothing here really waits.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from pipewatch.backoff import Backoff
from pipewatch.commands.run import retry_plan_command, run_command
from pipewatch.runner import RunSummary, run_with_retries
from tests.conftest import dbt_executable

pytestmark = pytest.mark.dbt

PROJECT = Path(__file__).resolve().parent / "data" / "retry_project"
FLAKY = "model.retry_project.flaky"
AFTER = "model.retry_project.after_flaky"
AFTER_TEST = "test.retry_project.not_null_after_flaky_id.ec07ec2e8f"
BAD_CAST = "model.retry_project.bad_cast"
FLAKY_AND_SKIPPED = {FLAKY, AFTER, AFTER_TEST}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the retry project (no marker yet: `flaky` will fail once)."""
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    for name in ("DBT_PROJECT_DIR", "DBT_PROFILES_DIR", "DBT_TARGET_PATH", "DBT_LOG_PATH", "DBT_STATE"):
        monkeypatch.delenv(name, raising=False)
    copy = tmp_path / "retry_project"
    shutil.copytree(PROJECT, copy, ignore=shutil.ignore_patterns("target", "logs", "state"))
    return copy


def dbt_args(project: Path | str, vars_: str = "{state_dir: state}", *, command: str = "build") -> list[str]:
    """A dbt command line for the project, its profiles.yml inside it."""
    where = str(project)
    return [
        dbt_executable(),
        "--no-use-colors",
        command,
        "--project-dir",
        where,
        "--profiles-dir",
        where,
        "--vars",
        vars_,
    ]


def results_of(path: Path | str | None) -> dict[str, str]:
    """unique_id -> status of a run_results file, read with plain json (the independent truth)."""
    assert path is not None
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return {r["unique_id"]: r["status"] for r in data["results"]}


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"a non-retryable run must not wait (asked for {seconds}s)")


def test_lock_at_start_then_transient_model_failure_then_success(project: Path) -> None:
    """Attempt 1 cannot open the database (this test holds its lock): a transient failure before any node,
    so the whole command runs again. Attempt 2 runs the nodes; `flaky` hits a lock conflict, its children
    are skipped. Attempt 3 reruns just those three and succeeds: here forced to `dbt build --select`, the
    path for dbt < 1.6 (the CLI test below takes the default, `dbt retry`)."""
    (project / "target").mkdir()
    holder = duckdb.connect(str(project / "target" / "retry.duckdb"))
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        holder.close()  # the concurrent job finishes while we back off

    argv = dbt_args(".")
    summary = run_with_retries(
        argv,
        project_dir=project,
        backoff=Backoff(base=2.0, cap=3.0, uniform=lambda low, high: high),
        sleep=sleep,
        strategy="dbt build --select",
    )
    first, second, third = summary.attempts
    assert [a.exit_code for a in summary.attempts] == [2, 1, 0]
    assert summary.exit_code == 0 and summary.stopped == "succeeded on attempt 3"
    assert sleeps == [2.0, 3.0]  # min(cap, base * 2**n) with the jitter pinned to its top
    assert [a.backoff_s for a in summary.attempts] == [0.0, 2.0, 3.0]

    # 1: nothing ran; the error came from dbt's output and is DuckDB's lock conflict.
    assert first.outcome == {} and first.run_results is None
    assert first.plan.before_nodes and first.plan.strategy == "rerun command"
    assert first.plan.failures[0].evidence.signature == "duckdb/file_lock_conflict"
    assert first.error is not None and "Conflicting lock is held" in first.error

    # 2: the same command again, because of attempt 1's transient error.
    assert second.command == tuple(argv) and second.rerun == "command"
    assert [e["category"] for e in second.evidence] == ["transient"]
    assert second.evidence[0]["unique_id"] is None
    assert results_of(second.run_results) == {
        "model.retry_project.base": "success",
        "model.retry_project.bad_cast": "success",
        "test.retry_project.not_null_bad_cast_amount.1dd6785429": "pass",
        FLAKY: "error",
        AFTER: "skipped",
        AFTER_TEST: "skipped",
    }
    assert second.outcome == {"error": 1, "pass": 1, "skipped": 2, "success": 2}
    assert second.plan.retry_nodes == (FLAKY,)
    assert set(second.plan.rerun_selection) == FLAKY_AND_SKIPPED

    # 3: the failed and skipped nodes selected by name, the user's other options kept.
    assert third.command == (
        argv[0], "--no-use-colors", "build", "--select", "after_flaky", "flaky", "not_null_after_flaky_id",
        *argv[3:],
    )  # fmt: skip
    assert third.rerun == "nodes" and set(third.retried) == FLAKY_AND_SKIPPED
    assert third.evidence[0]["unique_id"] == FLAKY
    assert third.evidence[0]["evidence"].startswith("duckdb/file_lock_conflict")
    assert results_of(third.run_results) == {FLAKY: "success", AFTER: "success", AFTER_TEST: "pass"}
    assert results_of(project / "target" / "run_results.json") == results_of(third.run_results)
    assert not (project / "target" / "pipewatch_attempt_1_run_results.json").exists()
    assert {a.run_results.name for a in (second, third) if a.run_results} == {
        "pipewatch_attempt_2_run_results.json",
        "pipewatch_attempt_3_run_results.json",
    }
    # What actually sits in the database: the flaky model's second, successful run.
    with duckdb.connect(str(project / "target" / "retry.duckdb"), read_only=True) as con:
        assert con.execute("select count(*), min(attempt_note) from main.after_flaky").fetchone() == (
            3,
            "second try",
        )


def test_a_permanent_failure_stops_retrying_at_once(project: Path) -> None:
    """`bad_cast` fails with a data error while `flaky` fails transiently: no retry, no wait, exit 1."""
    summary: RunSummary = run_with_retries(
        dbt_args(".", "{state_dir: state, break_cast: true}"), project_dir=project, sleep=no_sleep
    )
    (only,) = summary.attempts
    assert only.exit_code == 1 and summary.exit_code == 1
    assert summary.stopped.startswith(
        "not retried: 1 non-retryable failure: model.retry_project.bad_cast (data)"
    )
    assert [(b.unique_id, b.category, b.escalate_to) for b in only.plan.blocking] == [
        (BAD_CAST, "data", "owner")
    ]
    assert only.plan.blocking[0].message.startswith(
        "Conversion Error: Could not convert string 'not a number'"
    )
    assert only.plan.retry_nodes == (FLAKY,)
    assert results_of(only.run_results)[BAD_CAST] == "error"

    # retry-plan reads the same artifacts and says the same, without running anything.
    shown = CliRunner().invoke(retry_plan_command, ["--project-dir", str(project), "--format", "json"])
    assert shown.exit_code == 0, shown.output
    plan = json.loads(shown.stdout)
    assert plan["should_retry"] is False
    assert [b["unique_id"] for b in plan["blocking"]] == [BAD_CAST]
    assert {f["unique_id"]: f["category"] for f in plan["failures"]} == {BAD_CAST: "data", FLAKY: "transient"}


def test_compile_error_before_any_node_is_escalated_not_retried(project: Path, tmp_path: Path) -> None:
    """A Jinja syntax error: dbt exits 2 before any node, writing no run_results. The stale run_results.json
    of an earlier invocation must not be taken for this one."""
    (project / "models" / "bad_cast.sql").write_text("select * from {{ ref('base' }}\n", encoding="utf-8")
    target = project / "target"
    target.mkdir()
    stale = {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
            "dbt_version": "1.11.16",
            "generated_at": "2026-01-01T00:00:00Z",
            "invocation_id": "00000000-0000-0000-0000-000000000000",
        },
        "results": [{"unique_id": "model.retry_project.base", "status": "success", "execution_time": 0.1}],
        "elapsed_time": 0.1,
        "args": {"which": "build"},
    }
    (target / "run_results.json").write_text(json.dumps(stale), encoding="utf-8")

    # dbt runs from elsewhere: the project and its target come from --project-dir.
    summary = run_with_retries(dbt_args(project), project_dir=tmp_path, sleep=no_sleep)
    (only,) = summary.attempts
    assert only.exit_code == 2 and summary.exit_code == 2
    assert only.outcome == {} and only.run_results is None
    assert only.plan.before_nodes and not only.plan.should_retry
    assert [(b.unique_id, b.category) for b in only.plan.blocking] == [(None, "code")]
    assert (
        only.error
        == "Compilation Error in model bad_cast (models/bad_cast.sql): unexpected '}', expected ')'"
    )
    assert summary.target_dir == target

    # retry-plan finds the failure in dbt.log: its last invocation is newer than run_results.json.
    shown = CliRunner().invoke(retry_plan_command, ["--project-dir", str(project)])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("retry: no - dbt failed before any node ran with a code error")
    assert "(before any node)  code -> owner" in shown.stdout


def test_cli_json_retries_a_transient_failure_with_dbt_retry(project: Path, tmp_path: Path) -> None:
    """`pipewatch run --format json -- dbt build ...`: the default rerun, `dbt retry`, of the failed part."""
    state = tmp_path / "state"
    args = ["--backoff-base", "0", "--format", "json", "--", *dbt_args(project, f"{{state_dir: '{state}'}}")]
    result = CliRunner().invoke(run_command, args)
    assert result.exit_code == 0, result.stderr
    assert "Running with dbt=" in result.stderr  # dbt's own output goes to stderr, the JSON alone to stdout
    summary = json.loads(result.stdout)
    assert summary["exit_code"] == 0 and summary["succeeded"] is True
    first, second = summary["attempts"]
    assert first["exit_code"] == 1 and first["plan"]["should_retry"] is True
    assert first["outcome"] == {"error": 1, "pass": 1, "skipped": 2, "success": 2}
    argv = dbt_args(project, f"{{state_dir: '{state}'}}")
    # `pipewatch run` asks dbt for JSON logs (its live view reads them); retries keep asking.
    assert second["command"] == [argv[0], "--log-format", "json", "--no-use-colors", "retry", *argv[3:]]
    assert second["rerun"] == "nodes"
    assert [(e["unique_id"], e["category"]) for e in second["evidence"]] == [(FLAKY, "transient")]
    assert results_of(first["run_results"])[FLAKY] == "error"
    # The attempt lines go to stderr too, so stdout stays one JSON document.
    assert "attempt 1/3: dbt --log-format json --no-use-colors build" in result.stderr
    assert "attempt 2/3: dbt --log-format json --no-use-colors retry" in result.stderr
    assert set(second["retried"]) == FLAKY_AND_SKIPPED
    assert second["reason"] == "1 failure, all retryable (transient)"
    assert second["backoff_s"] == 0.0
    assert results_of(second["run_results"]) == {FLAKY: "success", AFTER: "success", AFTER_TEST: "pass"}
    assert (state / "flaky.marker").exists()
    # Both attempts are their own dbt invocations, and both land in the history store.
    import duckdb

    with duckdb.connect(str(project / ".pipewatch" / "history.duckdb"), read_only=True) as con:
        stored = {row[0] for row in con.execute("select invocation_id from invocations").fetchall()}
    assert len(stored) == 2
