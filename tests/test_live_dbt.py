"""Live monitoring against real dbt: a `dbt build` of the example project (with its planted failures)
logged with `--log-format json` on stdout and `--log-format-file json` in logs/dbt.log.

One extra build, once per session, on a copy of the `faulty_build` project; the logs are then
replayed through the reader, the state and the alert planner, and compared with the
run_results.json that same build wrote.
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipewatch.live.eta import eta_errors
from pipewatch.live.replay import replay
from pipewatch.live.watch import watch
from tests.conftest import BuiltProject, run_dbt

pytestmark = pytest.mark.dbt


@dataclass(frozen=True)
class LoggedBuild:
    """A real build's stdout log, file log and artifacts."""

    project: Path
    stdout: bytes
    results: dict[str, Any]

    @property
    def manifest(self) -> Path:
        return self.project / "target" / "manifest.json"

    @property
    def file_log(self) -> Path:
        return self.project / "logs" / "dbt.log"


@pytest.fixture(scope="session")
def logged_build(faulty_build: BuiltProject, tmp_path_factory: pytest.TempPathFactory) -> LoggedBuild:
    """The faulty example project built once more with JSON logs (stdout and file)."""
    project = tmp_path_factory.mktemp("live") / "shop"
    shutil.copytree(faulty_build.project_dir, project, ignore=shutil.ignore_patterns("logs"))
    done = run_dbt(project, "--log-format", "json", "--log-format-file", "json", "build")
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads((project / "target" / "run_results.json").read_text(encoding="utf-8"))
    return LoggedBuild(project, done.stdout.encode(), results)


def _truth(build: LoggedBuild) -> dict[str, str]:
    return {r["unique_id"]: r["status"] for r in build.results["results"]}


def test_stdout_log_gives_run_results_statuses(logged_build: LoggedBuild) -> None:
    result = watch(io.BytesIO(logged_build.stdout), logged_build.manifest)
    assert result.complete and result.ended == "completed"
    assert result.state.status == _truth(logged_build)
    assert result.state.invocation_id == logged_build.results["metadata"]["invocation_id"]
    assert result.state.unknown_events == 0 and result.reader.broken == 0
    failed = sorted(u for u, s in _truth(logged_build).items() if s in ("error", "fail"))
    assert sorted(f.unique_id for f in result.state.failures) == failed
    skipped = {u for u, s in _truth(logged_build).items() if s == "skipped"}
    predicted = {u for f in result.state.failures for u in f.will_skip}
    assert skipped <= predicted


def test_file_log_followed_like_tail_gives_the_same(logged_build: LoggedBuild, tmp_path: Path) -> None:
    log = tmp_path / "dbt.log"
    log.write_bytes(b"")
    with logged_build.file_log.open("rb") as src, log.open("ab") as dst:
        replay(src, dst, speed=0)
    result = watch(log, logged_build.manifest, timeout=60)
    assert result.complete
    assert result.state.status == _truth(logged_build)
    assert result.reader.by_name.get("NodeFinished", 0) > 0  # debug level: dbt's file default
    # At debug level the error text arrives with the failure, so the first alert is triaged.
    first = next(a for a in result.alerts if a["kind"] == "live_failure")
    described = {n["node"]: n for n in first["nodes"]}
    error = next(n for n in described.values() if n["status"] == "error")
    assert error["category"] == "data" and "Conversion Error" in error["message"]


def test_alerts_of_the_real_build(logged_build: LoggedBuild) -> None:
    result = watch(io.BytesIO(logged_build.stdout), logged_build.manifest)
    kinds = [a["kind"] for a in result.alerts]
    assert kinds.count("live_summary") == 1 and kinds[-1] == "live_summary"
    alerted = [u for a in result.alerts if a["kind"] == "live_failure" for u in a["node_ids"]]
    assert len(alerted) == len(set(alerted))
    failed = {u for u, s in _truth(logged_build).items() if s in ("error", "fail")}
    assert set(alerted) == failed
    summary = result.alerts[-1]
    assert set(summary["already_alerted"]) == failed
    assert summary["exposures_at_risk"]  # the planted error reaches the revenue dashboard
    error = next(n for n in summary["failures"] if n["status"] == "error")
    assert error["category"] == "data"  # RunResultError text arrives at the end on stdout


def test_eta_and_what_if_on_the_real_build(logged_build: LoggedBuild) -> None:
    history = {r["unique_id"]: r["execution_time"] for r in logged_build.results["results"]}
    result = watch(io.BytesIO(logged_build.stdout), logged_build.manifest, history=history)
    etas = result.eta_history
    assert etas and all(e.remaining_s >= 0 for e in etas)
    assert etas[-1].remaining_s == 0.0
    errors = eta_errors(etas, result.state.last_ts or 0.0)
    assert all(v is not None for v in errors.values())
    assert result.what_if is not None
    assert result.what_if.critical_path_s <= result.what_if.predicted_s
    assert [t for t, _ in result.what_if.by_threads] == [2, 4, 8, 16]
