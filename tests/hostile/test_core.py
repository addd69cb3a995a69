"""Hostile input for the core (issue 13): after-run's gate, flags, output paths, artifact files, stdout.

Every try runs the real `pipewatch` console script on a copy of the example project's real dbt
artifacts (the session's clean build), changed in the one way the try names. A refusal must be one
line on stderr and exit 2; a run dbt counts as failed must fail the gate (exit 1).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BuiltProject, pipewatch_executable, run_pipewatch

pytestmark = pytest.mark.dbt

QUIET = ("--no-rules", "--no-history")


@pytest.fixture
def project(clean_build: BuiltProject, tmp_path: Path) -> Path:
    """The clean build's project files and artifacts, in a folder of this test's own."""
    copy = tmp_path / "shop"
    (copy / "target").mkdir(parents=True)
    for name in ("dbt_project.yml", "pipewatch.yml"):
        shutil.copy(clean_build.project_dir / name, copy / name)
    for name in ("manifest.json", "run_results.json"):
        shutil.copy(clean_build.target / name, copy / "target" / name)
    return copy


def _one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout[-500:], done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pipewatch: error: "), done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _after_run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_pipewatch("after-run", "--project-dir", str(project), *QUIET, *args)


def _edit_results(project: Path, edit: Any) -> None:
    path = project / "target" / "run_results.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _model(data: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in data["results"] if r["unique_id"].startswith("model."))


# ------------------------------------------------------------------ missing run_results (task 7)


def test_the_clean_copy_passes(project: Path) -> None:
    done = _after_run(project)
    assert done.returncode == 0, done.stderr


def test_a_manifest_without_run_results_is_an_input_error(project: Path) -> None:
    (project / "target" / "run_results.json").unlink()
    _one_line_error(_after_run(project), "run_results.json", "--allow-missing-results")


def test_a_broken_run_results_symlink_is_an_input_error(project: Path) -> None:
    results = project / "target" / "run_results.json"
    results.unlink()
    results.symlink_to(project / "target" / "gone.json")
    _one_line_error(_after_run(project), "run_results.json", "symlink")


def test_graph_only_use_is_allowed_when_asked_for(project: Path) -> None:
    (project / "target" / "run_results.json").unlink()
    done = _after_run(project, "--allow-missing-results")
    assert done.returncode == 0, done.stderr


# ------------------------------------------------------------ statuses dbt counts as failed (8)


def _partial_success(data: dict[str, Any]) -> None:
    _model(data)["status"] = "partial success"


def _lone_skip(data: dict[str, Any]) -> None:
    _model(data)["status"] = "skipped"


def _null_status(data: dict[str, Any]) -> None:
    _model(data)["status"] = None


def _unknown_status(data: dict[str, Any]) -> None:
    _model(data)["status"] = "exploded"


def _no_results(data: dict[str, Any]) -> None:
    data["results"] = []


def _error_then_success(data: dict[str, Any]) -> None:
    first = dict(_model(data), status="error", message="Runtime Error: boom")
    data["results"].insert(0, first)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (_partial_success, "partial success"),
        (_lone_skip, "skipped with no failure upstream"),
        (_null_status, "status pipewatch does not know (unknown)"),
        (_unknown_status, "status pipewatch does not know (exploded)"),
        (_no_results, "lists no node results"),
        (_error_then_success, "1 node(s) errored"),
    ],
)
def test_what_dbt_counts_as_a_failed_run_fails_the_gate(project: Path, edit: Any, reason: str) -> None:
    _edit_results(project, edit)
    done = _after_run(project, "--format", "json")
    assert done.returncode == 1, done.stderr
    gate = json.loads(done.stdout)["gate"]
    assert not gate["passed"] and any(reason in r for r in gate["reasons"]), gate


# -------------------------------------------------------------------- contradictory flags (9)


@pytest.mark.parametrize(
    ("args", "pair"),
    [
        (("after-run", "--rules", "rules", "--no-rules"), "--rules and --no-rules"),
        (("after-run", "--history", "h.duckdb", "--no-history"), "--history and --no-history"),
        (("after-run", "--no-history", "--history", "h.duckdb"), "--no-history and --history"),
        (("after-run", "--color", "--no-color"), "--color and --no-color"),
        (("report", "--history", "h.duckdb", "--no-history"), "--history and --no-history"),
        (("after-run", "--duckdb", "w.duckdb", "--target", "dev"), "--duckdb checks a DuckDB file"),
    ],
)
def test_contradictory_flags_are_refused(project: Path, args: tuple[str, ...], pair: str) -> None:
    done = run_pipewatch(*args, "--project-dir", str(project))
    _one_line_error(done, pair)
    assert not (project / "h.duckdb").exists()


# ------------------------------------------------------------------ outputs onto inputs (10)


@pytest.mark.parametrize(
    ("flag", "victim"),
    [
        ("--output", "pipewatch.yml"),
        ("--output", "target/manifest.json"),
        ("--report", "target/run_results.json"),
        ("--prometheus", "dbt_project.yml"),
        ("--output", "target/sources.json"),  # not there yet: the same place is enough
    ],
)
def test_an_output_onto_an_input_is_refused(project: Path, flag: str, victim: str) -> None:
    before = (project / victim).read_bytes() if (project / victim).exists() else None
    done = _after_run(project, flag, str(project / victim))
    _one_line_error(done, flag, "would overwrite it")
    assert ((project / victim).read_bytes() if (project / victim).exists() else None) == before


def test_an_output_onto_the_history_store_or_a_rule_file_is_refused(project: Path) -> None:
    store = project / "h.duckdb"
    store.write_bytes(b"not really a store")
    done = run_pipewatch(
        "after-run",
        "--project-dir",
        str(project),
        "--no-rules",
        "--history",
        str(store),
        "--output",
        str(store),
    )
    _one_line_error(done, "the history store")
    rules = project / "rules.yml"
    rules.write_text("version: 1\ntables: []\n", encoding="utf-8")
    link = project / "alias.yml"
    link.symlink_to(rules)  # the same file under another name
    (project / "pipewatch.yml").write_text(f"rules: {rules}\n", encoding="utf-8")
    done = run_pipewatch("report", "--project-dir", str(project), "--no-history", "--output", str(link))
    _one_line_error(done, "a rule file")
    assert rules.read_text(encoding="utf-8") == "version: 1\ntables: []\n"


# ------------------------------------------------------------------ special artifact files (11)


def test_a_fifo_named_run_results_is_refused_at_once(project: Path) -> None:
    results = project / "target" / "run_results.json"
    results.unlink()
    os.mkfifo(results)
    done = subprocess.run(
        [pipewatch_executable(), "after-run", "--project-dir", str(project), *QUIET],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    _one_line_error(done, "run_results.json", "named pipe")


def test_dev_zero_as_run_results_is_refused(project: Path) -> None:
    results = project / "target" / "run_results.json"
    results.unlink()
    results.symlink_to("/dev/zero")
    _one_line_error(_after_run(project), "run_results.json", "character device")


def test_a_run_results_over_2_gib_is_refused(project: Path) -> None:
    results = project / "target" / "run_results.json"
    with results.open("r+b") as handle:
        handle.truncate(2 * 2**30 + 1)  # sparse: no disk space used
    _one_line_error(_after_run(project), "run_results.json", "GiB")


# --------------------------------------------------------------------------- tracebacks (12)


def test_a_target_path_below_a_regular_file_is_one_line(project: Path) -> None:
    _one_line_error(_after_run(project, "--target-path", "pipewatch.yml/target"), "target")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any directory; permissions cannot be denied")
def test_an_unreadable_target_dir_is_one_line(project: Path) -> None:
    target = project / "target"
    target.chmod(0)
    try:
        _one_line_error(_after_run(project), "permission denied")
    finally:
        target.chmod(0o755)


def _stderr_of_a_failed_write(command: list[str] | str, **how: Any) -> list[str]:
    """Run pipewatch with stdout set up to fail as `how` says; its stderr lines (exit 2 asserted)."""
    done = subprocess.run(command, stderr=subprocess.PIPE, text=True, timeout=120, check=False, **how)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    return done.stderr.splitlines()


def test_stdout_on_a_full_disk_is_one_line(project: Path) -> None:
    with open("/dev/full", "w", encoding="utf-8") as full:
        lines = _stderr_of_a_failed_write(
            [pipewatch_executable(), "after-run", "--project-dir", str(project), *QUIET], stdout=full
        )
    assert lines == ["pipewatch: error: cannot write to standard output: No space left on device"]


def test_stdout_closed_at_start_is_one_line(project: Path) -> None:
    command = f'"{pipewatch_executable()}" after-run --project-dir "{project}" --no-rules --no-history >&-'
    assert _stderr_of_a_failed_write(command, shell=True) == [
        "pipewatch: error: standard output is closed; redirect it to a file or /dev/null instead"
    ]


def test_stdout_closed_while_running_is_one_line(project: Path) -> None:
    script = (
        "import os, sys\n"
        "from pipewatch.cli import main\n"
        "os.close(1)\n"
        f"sys.argv = ['pipewatch', 'after-run', '--project-dir', {str(project)!r}, '--no-rules', '--no-history']\n"
        "main()\n"
    )
    assert _stderr_of_a_failed_write([sys.executable, "-c", script]) == [
        "pipewatch: error: cannot write to standard output: Bad file descriptor"
    ]
