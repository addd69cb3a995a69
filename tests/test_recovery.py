"""Recovery without running dbt: the retry plan, backoff, dbt command lines, and the CLI's usage errors.

The real dbt runs (a model that fails transiently, one that fails for good, failures before any node)
are in `test_recovery_dbt.py`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from pipewatch.artifacts.model import Run
from pipewatch.backoff import Backoff
from pipewatch.commands.run import attempt_line, render_plan, render_summary, retry_plan_command, run_command
from pipewatch.config import resolve_target_dir
from pipewatch.errors import UsageError
from pipewatch.runner import (
    Attempt,
    DbtInvocation,
    RunSummary,
    map_exit_code,
    resolve_project_dir,
    run_with_retries,
    selectors,
    stop_reason,
)
from pipewatch.triage.retry import (
    RetryPlan,
    choose_strategy,
    error_text,
    last_log_invocation,
    plan_retry,
    supports_dbt_retry,
)
from tests.factories import make_node, make_result, make_run

LOCK = (
    "Runtime Error in model flaky (models/flaky.py)\n"
    '  IO Error: Could not set lock on file "/data/w.duckdb": Conflicting lock is held in /usr/bin/python3 '
    "(PID 4242). See also https://duckdb.org/docs/current/connect/concurrency"
)
RESET = "Database Error in model orders (models/orders.sql)\n  could not receive data from server: Connection reset by peer"
CAST = "Runtime Error in model bad_cast (models/bad_cast.sql)\n  Conversion Error: Could not convert string 'x' to INT32"


def run_of(
    results: list[tuple[str, str, str | None]],
    parents: dict[str, tuple[str, ...]] | None = None,
    *,
    dbt_version: str | None = "1.11.2",
    command: str | None = "build",
) -> Run:
    """A Run as load_run would build it: nodes (with their parents) and one result per entry."""
    parents = parents or {}
    ids = {uid for uid, _, _ in results} | set(parents)
    return make_run(
        [make_node(uid, depends_on=parents.get(uid, ())) for uid in ids],
        [make_result(uid, status, message=message, execution_time=0.1) for uid, status, message in results],
        dbt_version=dbt_version,
        command=command,
        elapsed=1.0,
        schema_versions={"run_results": 6},
    )


# ---------------------------------------------------------------------------------------------- the plan


def test_every_failure_transient_retries_the_failed_and_skipped_nodes() -> None:
    run = run_of(
        [
            ("model.shop.base", "success", None),
            ("model.shop.flaky", "error", LOCK),
            ("model.shop.orders", "error", RESET),
            ("model.shop.after", "skipped", None),
            ("test.shop.not_null_after_id.abc", "skipped", None),
        ],
        {"model.shop.after": ("model.shop.flaky",)},
    )
    plan = plan_retry(run, exit_code=1)
    assert plan.should_retry
    assert plan.strategy == "dbt retry"
    assert plan.retry_nodes == ("model.shop.flaky", "model.shop.orders")
    assert plan.rerun_selection == (
        "model.shop.after",
        "model.shop.flaky",
        "model.shop.orders",
        "test.shop.not_null_after_id.abc",
    )
    assert plan.blocking == ()
    assert {f.category for f in plan.failures} == {"transient"}
    signatures = {f.unique_id: f.evidence.signature for f in plan.failures}
    assert signatures["model.shop.flaky"] == "duckdb/file_lock_conflict"
    # The message kept is the line that says what happened, not dbt's `Runtime Error in model` header.
    flaky = next(f for f in plan.failures if f.unique_id == "model.shop.flaky")
    assert flaky.message.startswith("IO Error: Could not set lock")


def test_one_non_retryable_failure_blocks_the_retry() -> None:
    run = run_of(
        [
            ("model.shop.flaky", "error", LOCK),
            ("model.shop.bad_cast", "error", CAST),
            ("model.shop.after", "skipped", None),
        ]
    )
    plan = plan_retry(run, exit_code=1)
    assert not plan.should_retry
    assert plan.strategy == "none"
    assert [(b.unique_id, b.category) for b in plan.blocking] == [("model.shop.bad_cast", "data")]
    assert plan.blocking[0].escalate_to == "owner"
    assert plan.retry_nodes == ("model.shop.flaky",)
    assert plan.rerun_selection == ()
    assert "model.shop.bad_cast (data)" in plan.reason


def test_a_failed_test_is_quality_and_blocks() -> None:
    plan = plan_retry(run_of([("test.shop.unique_x.1", "fail", "Got 3 results, configured to fail if != 0")]))
    assert not plan.should_retry
    assert plan.blocking[0].category == "quality"


def test_warnings_and_successes_need_nothing() -> None:
    plan = plan_retry(run_of([("model.shop.a", "success", None), ("test.shop.t.1", "warn", "Got 1 result")]))
    assert not plan.should_retry
    assert plan.reason == "nothing failed"
    assert plan.failures == ()


@pytest.mark.parametrize(
    ("version", "command", "expected"),
    [
        ("1.11.2", "build", "dbt retry"),
        ("1.6.0", "run", "dbt retry"),
        ("1.5.9", "build", "dbt build --select"),
        ("1.5.9", "run-operation", "rerun command"),
        (None, "build", "dbt build --select"),
        ("1.8.0", "source-freshness", "rerun command"),
        ("garbage", None, "dbt build --select"),
    ],
)
def test_strategy_follows_the_dbt_version(version: str | None, command: str | None, expected: str) -> None:
    assert choose_strategy(version, command) == expected


def test_old_dbt_plans_a_select_of_the_failed_nodes() -> None:
    run = run_of(
        [("model.shop.flaky", "error", RESET), ("model.shop.after", "skipped", None)], dbt_version="1.5.4"
    )
    plan = plan_retry(run, exit_code=1)
    assert plan.should_retry and plan.strategy == "dbt build --select"
    assert selectors(plan.rerun_selection, run) == ["after", "flaky"]


def test_dbt_retry_arrived_in_1_6() -> None:
    assert supports_dbt_retry("1.6.0") and supports_dbt_retry("v1.10.3") and supports_dbt_retry("2.0.0")
    assert not supports_dbt_retry("1.5.11") and not supports_dbt_retry(None) and not supports_dbt_retry("")


def test_transient_failure_before_any_node_reruns_the_whole_command() -> None:
    output = (
        "09:33:58  Concurrency: 2 threads (target='dev')\n"
        "09:33:59  Encountered an error:\n"
        "could not connect to server: Connection refused\n"
        '\tIs the server running on host "db" and accepting TCP/IP connections on port 5432?\n'
        "09:33:59  Traceback (most recent call last):\n"
        '  File "x.py", line 1\n'
    )
    plan = plan_retry(None, exit_code=2, output=output)
    assert plan.should_retry and plan.before_nodes
    assert plan.strategy == "rerun command"
    assert plan.failures[0].unique_id is None
    assert plan.failures[0].category == "transient"
    assert "Connection refused" in plan.reason


def test_compile_error_before_any_node_escalates() -> None:
    output = (
        "09:34:09  Encountered an error:\n"
        "Compilation Error in model bad_cast (models/bad_cast.sql)\n"
        "  unexpected '}', expected ')'\n"
        "    line 1\n"
    )
    plan = plan_retry(run_of([]), exit_code=2, output=output)
    assert not plan.should_retry and plan.before_nodes
    assert [(b.unique_id, b.category) for b in plan.blocking] == [(None, "code")]
    assert "before any node ran" in plan.reason


def test_silent_crash_before_any_node_is_unknown_and_not_retried() -> None:
    plan = plan_retry(None, exit_code=2, output="")
    assert not plan.should_retry
    assert plan.blocking[0].category == "unknown"


def test_crash_after_the_nodes_is_classified_from_the_output() -> None:
    run = run_of([("model.shop.a", "success", None)])
    plan = plan_retry(run, exit_code=2, output="Encountered an error:\nconnection reset by peer\n")
    assert plan.should_retry and plan.before_nodes
    assert "outside any node" in plan.reason


def test_nothing_known_is_nothing_to_retry() -> None:
    plan = plan_retry(None)
    assert not plan.should_retry and plan.reason == "no node results and no dbt error found"


def test_plan_serializes_to_json_ready_data() -> None:
    data = plan_retry(run_of([("model.shop.flaky", "error", LOCK)]), exit_code=1).to_dict()
    assert data["should_retry"] is True
    assert data["failures"][0]["evidence"]["signature"] == "duckdb/file_lock_conflict"
    assert set(data) >= {"reason", "strategy", "retry_nodes", "rerun_selection", "blocking", "before_nodes"}


# ---------------------------------------------------------------------------------------------- dbt output


def test_error_text_takes_the_block_after_encountered_an_error() -> None:
    output = (
        "\x1b[0m09:33:59  Finished running in 0.17s.\n"
        "\x1b[0m09:33:59  Encountered an error:\n"
        'IO Error: Could not set lock on file "t.duckdb": Conflicting lock is held in python (PID 1).\n'
        "\x1b[0m09:33:59  Traceback (most recent call last):\n"
        "  File ...\n"
    )
    assert error_text(output) == (
        'IO Error: Could not set lock on file "t.duckdb": Conflicting lock is held in python (PID 1).'
    )


def test_error_text_without_a_marker_is_the_tail() -> None:
    lines = [f"line {i}" for i in range(100)]
    text = error_text("\n".join(lines))
    assert text.splitlines()[0] == "line 60" and text.endswith("line 99")


@given(st.text(max_size=3000))
def test_error_text_is_bounded_and_never_fails(output: str) -> None:
    text = error_text(output)
    assert len(text) <= 16 * 1024
    assert "\x1b[" not in text or "\x1b[" in output


def test_last_log_invocation_is_the_last_header() -> None:
    log = (
        "============================== 09:32:15.044477 | ef6a6b6f-7a88-443b-b95b-32f9ce30947f ==============\n"
        "09:32:15.0 [info ] [MainThread]: Running with dbt=1.11.16\n"
        "============================== 09:34:06.441536 | 460b71b4-8ccd-4f4c-a783-b218321230e7 ==============\n"
        "09:34:09.669229 [error] [MainThread]: Encountered an error:\n"
        "Compilation Error in model x (models/x.sql)\n"
    )
    invocation, text = last_log_invocation(log)
    assert invocation == "460b71b4-8ccd-4f4c-a783-b218321230e7"
    assert "Running with" not in text and "Compilation Error" in text
    assert last_log_invocation("no headers") == (None, "no headers")


# ---------------------------------------------------------------------------------------------- backoff


def test_backoff_doubles_up_to_the_cap() -> None:
    backoff = Backoff(base=2.0, cap=10.0, uniform=lambda low, high: high)
    assert [backoff.ceiling(n) for n in range(5)] == [2.0, 4.0, 8.0, 10.0, 10.0]
    assert [backoff.delay(n) for n in range(5)] == [2.0, 4.0, 8.0, 10.0, 10.0]


def test_backoff_jitter_is_full() -> None:
    calls: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        calls.append((low, high))
        return 0.25 * high

    assert Backoff(base=1.0, cap=60.0, uniform=uniform).delay(3) == 2.0
    assert calls == [(0.0, 8.0)]


def test_backoff_never_waits_past_a_deadline() -> None:
    backoff = Backoff(base=1.0, cap=60.0, uniform=lambda low, high: high)
    assert backoff.delay(5, at_most=0.5) == 0.5
    assert backoff.delay(5, at_most=-1.0) == 0.0
    assert backoff.delay(0, at_most=10.0) == 1.0


def test_zero_backoff_never_waits() -> None:
    assert Backoff(base=0.0, cap=5.0).delay(10) == 0.0
    assert Backoff(base=5.0, cap=0.0).delay(0) == 0.0


@pytest.mark.parametrize("bad", [-1.0, math.inf, math.nan])
def test_backoff_refuses_bad_settings(bad: float) -> None:
    with pytest.raises(UsageError, match="backoff base"):
        Backoff(base=bad)
    with pytest.raises(UsageError, match="backoff cap"):
        Backoff(cap=bad)


@given(
    base=st.floats(min_value=0, max_value=1e6),
    cap=st.floats(min_value=0, max_value=1e6),
    retry=st.integers(min_value=0, max_value=10_000),
    fraction=st.floats(min_value=0, max_value=1),
)
def test_backoff_delay_stays_within_its_ceiling(base: float, cap: float, retry: int, fraction: float) -> None:
    backoff = Backoff(base=base, cap=cap, uniform=lambda low, high: low + fraction * (high - low))
    ceiling = backoff.ceiling(retry)
    assert 0.0 <= backoff.delay(retry) <= ceiling <= cap
    assert ceiling == min(cap, base * 2.0 ** min(retry, 64))


# ---------------------------------------------------------------------------------------------- command lines


def test_parse_splits_global_options_command_and_the_rest() -> None:
    inv = DbtInvocation.parse(
        [
            "/venv/bin/dbt",
            "--log-level",
            "debug",
            "--no-use-colors",
            "build",
            "-s",
            "a",
            "b",
            "--vars",
            "{x: 1}",
        ]
    )
    assert inv.executable == "/venv/bin/dbt"
    assert inv.global_args == ("--log-level", "debug", "--no-use-colors")
    assert inv.command == ("build",)
    assert inv.which == "build"
    assert inv.options == ("-s", "a", "b", "--vars", "{x: 1}")
    assert inv.option("--vars") == "{x: 1}"
    assert DbtInvocation.parse(["dbt", "docs", "generate", "--threads=4"]).command == ("docs", "generate")
    assert DbtInvocation.parse(["dbt", "build", "--target-path=out"]).option("--target-path") == "out"


@pytest.mark.parametrize("argv", [[], ["python", "build"], ["./not-dbt-at-all", "run"]])
def test_parse_refuses_what_is_not_dbt(argv: list[str]) -> None:
    with pytest.raises(UsageError):
        DbtInvocation.parse(argv)


def test_retry_command_repeats_what_dbt_retry_does_not_inherit() -> None:
    inv = DbtInvocation.parse(
        [
            "dbt", "--no-use-colors", "build", "--select", "state:modified+", "--state", "prod/",
            "--project-dir", "p", "--profiles-dir", "p", "--target", "ci", "--vars", "{a: 1}",
            "--target-path", "out", "--full-refresh", "--threads", "8",
        ]
    )  # fmt: skip
    assert inv.retry_argv() == [
        "dbt", "--no-use-colors", "retry", "--project-dir", "p", "--profiles-dir", "p", "--target", "ci",
        "--vars", "{a: 1}", "--target-path", "out", "--threads", "8",
    ]  # fmt: skip


def test_select_command_replaces_the_selection() -> None:
    inv = DbtInvocation.parse(
        [
            "dbt",
            "run",
            "--select",
            "tag:nightly",
            "orders",
            "--exclude",
            "x",
            "--vars",
            "{a: 1}",
            "--full-refresh",
        ]
    )
    assert inv.select_argv(["flaky", "after"]) == [
        "dbt", "run", "--select", "flaky", "after", "--vars", "{a: 1}", "--full-refresh",
    ]  # fmt: skip


_TOKEN = st.text(alphabet="abc-=: {}/", min_size=1, max_size=8)


@given(st.lists(_TOKEN, max_size=12))
def test_parse_keeps_every_token(rest: list[str]) -> None:
    argv = ["dbt", *rest]
    inv = DbtInvocation.parse(argv)
    assert inv.argv == argv
    # Rebuilt commands never lose the executable nor grow a selection they were not given.
    assert inv.retry_argv()[0] == "dbt" and "retry" in inv.retry_argv()
    assert inv.select_argv(["x"])[inv.select_argv(["x"]).index("--select") + 1] == "x"


def test_selectors_use_node_names() -> None:
    run = run_of([("model.shop.orders", "error", RESET)])
    ids = ["model.shop.orders", "test.shop.not_null_orders_id.0a1b", "unit_test.shop.orders.t1"]
    assert selectors(ids, run) == ["orders", "not_null_orders_id", "unit_test:t1"]


def test_project_and_target_dirs_resolve_like_dbt(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: p\ntarget-path: build_out\n")
    inv = DbtInvocation.parse(["dbt", "build"])
    # From a subdirectory dbt finds the project above, and its target-path.
    assert resolve_project_dir(inv, project / "models", {}) == project
    assert resolve_target_dir(project, inv.option("--target-path"), env={}) == project / "build_out"
    assert resolve_target_dir(project, None, env={"DBT_TARGET_PATH": "env_out"}) == project / "env_out"
    flagged = DbtInvocation.parse(["dbt", "build", "--project-dir", "proj", "--target-path", "/abs/t"])
    assert resolve_project_dir(flagged, tmp_path, {"DBT_PROJECT_DIR": "elsewhere"}) == tmp_path / "proj"
    target_flag = flagged.option("--target-path")
    assert resolve_target_dir(project, target_flag, env={"DBT_TARGET_PATH": "env_out"}) == Path("/abs/t")
    assert resolve_project_dir(inv, tmp_path, {"DBT_PROJECT_DIR": "proj"}) == tmp_path / "proj"


# ---------------------------------------------------------------------------------------------- the loop


def _attempt(number: int, exit_code: int, plan: RetryPlan) -> Attempt:
    return Attempt(
        number=number,
        command=("dbt", "build"),
        rerun="initial",
        retried=(),
        reason="",
        evidence=(),
        backoff_s=0.0,
        exit_code=exit_code,
        duration_s=1.0,
        outcome={},
        run_results=None,
        plan=plan,
    )


def test_stop_reasons() -> None:
    retry = plan_retry(run_of([("model.shop.flaky", "error", LOCK)]), exit_code=1)
    block = plan_retry(run_of([("model.shop.bad", "error", CAST)]), exit_code=1)
    done = plan_retry(run_of([("model.shop.ok", "success", None)]), exit_code=0)
    assert stop_reason(_attempt(1, 0, done), 2) == "succeeded"
    assert stop_reason(_attempt(2, 0, done), 2) == "succeeded on attempt 2"
    assert stop_reason(_attempt(1, 1, retry), 2) is None
    assert stop_reason(_attempt(3, 1, retry), 2).startswith("retries exhausted (2)")  # type: ignore[union-attr]
    assert stop_reason(_attempt(1, 1, retry), 0).startswith("retries exhausted (0)")  # type: ignore[union-attr]
    assert stop_reason(_attempt(1, 1, block), 2).startswith("not retried: 1 non-retryable failure")  # type: ignore[union-attr]


def test_exit_codes_are_dbts() -> None:
    assert [map_exit_code(c) for c in (0, 1, 2, -9, 127)] == [0, 1, 2, 2, 2]


def test_runner_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not dbt"):
        run_with_retries(["bash", "-c", "true"], project_dir=tmp_path)
    with pytest.raises(UsageError, match="no dbt subcommand"):
        run_with_retries(["dbt", "--no-use-colors"], project_dir=tmp_path)
    with pytest.raises(UsageError, match="max retries"):
        run_with_retries(["dbt", "build"], project_dir=tmp_path, max_retries=-1)
    with pytest.raises(UsageError, match="dbt executable not found"):
        run_with_retries([str(tmp_path / "nowhere" / "dbt"), "build"], project_dir=tmp_path)


# ---------------------------------------------------------------------------------------------- CLI usage


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([], "no dbt command given"),
        (["--", "python", "build"], "is not dbt"),
        (["--max-retries", "-1", "--", "dbt", "build"], "max-retries"),
        (["--backoff-base", "nan", "--", "dbt", "build"], "backoff"),
    ],
)
def test_run_usage_errors_exit_2_in_one_line(args: list[str], needle: str) -> None:
    result = CliRunner().invoke(run_command, args)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr
    assert "Traceback" not in result.output


def test_retry_plan_without_artifacts_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(retry_plan_command, ["--project-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("pipewatch: error: ") and "target directory not found" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------------------- rendering


def test_text_summary_has_a_line_per_attempt_and_the_ending() -> None:
    retry = plan_retry(
        run_of([("model.shop.flaky", "error", LOCK), ("model.shop.after", "skipped", None)]), exit_code=1
    )
    done = plan_retry(run_of([("model.shop.flaky", "success", None)]), exit_code=0)
    first = replace(_attempt(1, 1, retry), outcome={"error": 1, "skipped": 1})
    second = Attempt(
        number=2,
        command=("/venv/bin/dbt", "retry", "--vars", "{a: 1}"),
        rerun="nodes",
        retried=retry.rerun_selection,
        reason=retry.reason,
        evidence=(
            {
                "unique_id": "model.shop.flaky",
                "category": "transient",
                "evidence": "duckdb/file_lock_conflict (pattern 'x')",
            },
        ),
        backoff_s=1.25,
        exit_code=0,
        duration_s=2.5,
        outcome={"success": 2},
        run_results=Path("p/target/pipewatch_attempt_2_run_results.json"),
        plan=done,
    )
    line = attempt_line(first, 2)
    assert line.startswith(
        "attempt 1/3: dbt build -> exit 1 after 1.0s (error 1, skipped 1); retryable: 1 failure"
    )
    assert (
        attempt_line(second, 2) == "attempt 2/3: dbt retry --vars '{a: 1}' -> exit 0 after 2.5s (success 2)"
    )
    summary = RunSummary((first, second), 0, "succeeded on attempt 2", Path("p"), Path("p/target"))
    table = render_summary(summary).splitlines()
    assert table[0].split() == ["#", "command", "retried", "backoff", "exit", "duration", "outcome", "why"]
    assert "first run" in table[1]
    assert (
        "after, flaky" in table[2]
        and "1.2s" in table[2]
        and "transient: duckdb/file_lock_conflict" in table[2]
    )
    assert table[-1] == "succeeded on attempt 2 (exit 0)"


def test_text_plan_names_what_blocks() -> None:
    plan = plan_retry(
        run_of([("model.shop.flaky", "error", LOCK), ("model.shop.bad", "error", CAST)]), exit_code=1
    )
    text = render_plan(plan)
    assert text.startswith("retry: no - 1 non-retryable failure: model.shop.bad (data)")
    assert "  model.shop.bad  data -> owner: duckdb/data_errors" in text
    assert "    Conversion Error: Could not convert string 'x' to INT32" in text
    assert "retryable: model.shop.flaky transient: duckdb/file_lock_conflict" in text
