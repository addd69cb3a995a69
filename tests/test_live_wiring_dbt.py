"""`pipewatch watch` and `pipewatch run` against real dbt, with a real HTTP server on 127.0.0.1 as Slack.

One real `dbt build --log-format json` of the faulty example project (one model made slow by the
`slow_model_s` var, so the build goes on after the first failure) piped through `pipewatch watch
--slack -`, and one `pipewatch run --slack`; the bad-input cases replay the recorded log.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BuiltProject, dbt_executable, pipewatch_executable
from tests.webhook_server import Arrived, Webhook, serving

pytestmark = pytest.mark.dbt
SLOW_S = 3


@pytest.fixture(scope="module")
def hook() -> Iterator[Webhook]:
    with serving("/services/T0/B0/secretsecret") as found:
        yield found


@dataclass
class Piped:
    project: Path
    log: bytes
    watch: subprocess.CompletedProcess[str]
    failure_line_at: float  # when stg_payments' error line was handed to watch
    completed_at: float  # when dbt's last line was handed to watch
    posts: list[tuple[float, dict[str, Any]]]


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "PIPEWATCH_SLACK_WEBHOOK": url, "NO_COLOR": "1"}


def _copy(faulty_build: BuiltProject, where: Path) -> Path:
    project = where / "shop"
    shutil.copytree(faulty_build.project_dir, project, ignore=shutil.ignore_patterns("logs", ".pipewatch"))
    return project


@pytest.fixture(scope="module")
def piped(faulty_build: BuiltProject, tmp_path_factory: pytest.TempPathFactory, hook: Webhook) -> Piped:
    """`dbt build --log-format json | pipewatch watch --slack -`, the pipe timed line by line."""
    project = _copy(faulty_build, tmp_path_factory.mktemp("watch"))
    dirs = ["--project-dir", str(project), "--profiles-dir", str(project)]
    dbt = subprocess.Popen(
        [dbt_executable(), "--no-use-colors", "--log-format", "json", "build", *dirs,
         "--vars", f"{{slow_model_s: {SLOW_S}}}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    out_file, err_file = (project.parent / "watch.out").open("w+"), (project.parent / "watch.err").open("w+")
    watch = subprocess.Popen(
        [pipewatch_executable(), "watch", "--project-dir", str(project), "--slack", "-"],
        stdin=subprocess.PIPE, stdout=out_file, stderr=err_file, env=_env(hook.url),
    )  # fmt: skip
    assert dbt.stdout is not None and watch.stdin is not None
    log: list[bytes] = []
    failure_at = completed_at = 0.0
    for line in dbt.stdout:
        watch.stdin.write(line)
        watch.stdin.flush()
        completed_at = time.monotonic()
        if not failure_at and b"stg_payments" in line and b'"status": "error"' in line:
            failure_at = completed_at
        log.append(line)
    watch.stdin.close()
    dbt.wait(timeout=600)
    watch.wait(timeout=300)
    out, err = (project.parent / "watch.out").read_text(), (project.parent / "watch.err").read_text()
    out_file.close()
    err_file.close()
    done = subprocess.CompletedProcess(watch.args, watch.returncode, out, err)
    return Piped(project, b"".join(log), done, failure_at, completed_at, _posts(hook.arrived))


def _posts(arrived: list[Arrived]) -> list[tuple[float, dict[str, Any]]]:
    return [(a.at, a.body) for a in arrived]


def _kinds(posts: list[tuple[float, dict[str, Any]]]) -> list[str]:
    return [json.dumps(body) for _, body in posts]


def test_watch_alerts_during_the_build_then_does_after_run(piped: Piped) -> None:
    watch = piped.watch
    assert watch.returncode == 1, watch.stderr[-3000:]  # the planted error fails the gate
    assert "FAILED model.shop.stg_payments" in watch.stderr
    assert "what if threads were" in watch.stdout  # after-run's report, with the simulator's what-if
    assert "secretsecret" not in watch.stdout + watch.stderr
    assert piped.failure_line_at, "dbt never logged stg_payments' error"
    texts = _kinds(piped.posts)
    first = next(at for at, body in piped.posts if "stg_payments" in json.dumps(body))
    # Within 2 s of the line in the terms; the bound leaves room for a busy 2-core machine
    # (benchmarks/bench_live.py measures the latency properly).
    assert first - piped.failure_line_at < 3.0
    assert first < piped.completed_at - 1.0, "the failure alert must arrive while dbt still runs"
    live = [t for t in texts if "while dbt is still running" in t]
    assert live
    assert "Already alerted during the run" in texts[-1]  # the summary names what was sent


def test_no_node_is_alerted_twice_and_history_is_recorded_once(piped: Piped) -> None:
    live = [b for _, b in piped.posts if "while dbt is still running" in json.dumps(b)]
    named = [json.dumps(b).count("stg_payments*") for b in live]
    assert sum(named) == 1
    again = subprocess.run(
        [pipewatch_executable(), "after-run", "--project-dir", str(piped.project), "--no-rules"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert again.returncode == 1
    assert "already recorded" in again.stderr


def _watch(project: Path, data: bytes, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [pipewatch_executable(), "watch", "--project-dir", str(project), "--no-history", *args, "-"],
        input=data.decode(), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_broken_and_plain_lines_are_skipped_and_counted(piped: Piped) -> None:
    lines = piped.log.splitlines(keepends=True)
    mixed = b"".join([b"not json at all\n", *lines[:10], b'{"info": {"name": "LogModelRe\n', *lines[10:]])
    done = _watch(piped.project, mixed)
    assert done.returncode == 1
    assert "skipped 1 broken and 1 non-JSON lines" in done.stderr or "CRITICAL PATH" in done.stdout


def test_stdin_closed_early_is_said_and_fails(piped: Piped) -> None:
    lines = piped.log.splitlines(keepends=True)
    done = _watch(piped.project, b"".join(lines[: len(lines) // 2]), "--format", "json")
    assert done.returncode == 1
    assert "ended before the build completed" in done.stderr
    last = json.loads(done.stdout.splitlines()[-1])
    assert last["event"] == "outcome" and last["outcome"] is None and last["exit_code"] == 1


def test_log_of_another_project_and_invocation(piped: Piped, tmp_path: Path) -> None:
    other = piped.log.replace(b"model.shop.", b"model.other.").replace(
        b'"invocation_id": "', b'"invocation_id": "x'
    )
    done = _watch(piped.project, other)
    assert done.returncode == 1
    assert "nodes the manifest lacks" in done.stderr
    assert "not the watched" in done.stderr  # run_results.json belongs to the real invocation


def test_follow_a_rotated_log_file(piped: Piped, tmp_path: Path) -> None:
    log = tmp_path / "dbt.log"
    lines = piped.log.splitlines(keepends=True)
    half = len(lines) // 2
    log.write_bytes(b"".join(lines[:half]))
    proc = subprocess.Popen(
        [pipewatch_executable(), "watch", "--project-dir", str(piped.project), "--no-history",
         "--timeout", "120", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(1.5)
    log.rename(tmp_path / "dbt.log.1")  # dbt's rotation: the old file moves away, a new one starts
    log.write_bytes(b"".join(lines[half:]))
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, err[-2000:]
    assert "dbt finished" in err and "CRITICAL PATH" in out


def test_sigint_stops_with_a_summary(piped: Piped, tmp_path: Path) -> None:
    log = tmp_path / "dbt.log"
    lines = piped.log.splitlines(keepends=True)
    log.write_bytes(b"".join(lines[: len(lines) // 2]))
    proc = subprocess.Popen(
        [pipewatch_executable(), "watch", "--project-dir", str(piped.project), "--no-history", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not log.exists():
        time.sleep(0.1)
    time.sleep(2.0)  # let it import and read what is there
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "done" in err
    assert "Traceback" not in err


def test_pipewatch_run_streams_alerts_and_the_summary(
    faulty_build: BuiltProject, tmp_path: Path, hook: Webhook
) -> None:
    project = _copy(faulty_build, tmp_path)
    before = len(hook.arrived)
    done = subprocess.run(
        [pipewatch_executable(), "run", "--no-live", "--slack", "--max-retries", "0", "--",
         dbt_executable(), "build", "--project-dir", str(project), "--profiles-dir", str(project)],
        capture_output=True, text=True, timeout=600, check=False, env=_env(hook.url), cwd=project,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Done. PASS=" in done.stderr  # dbt's own lines, decoded from its JSON log
    assert '"info"' not in done.stderr  # never the raw JSON
    posts = [json.dumps(a.body) for a in hook.arrived[before:]]
    assert any("while dbt is still running" in p for p in posts)
    assert "Already alerted during the run" in posts[-1]
    assert "--log-format json" in done.stdout  # the attempt table shows what ran
