"""Each command imports only what it uses (issue 12): the heavy libraries stay out of commands that
do not need them, so `pipewatch --help` or `pipewatch classify` start in a blink.

Every case runs the real console entry point in a fresh interpreter and records `sys.modules` at exit;
deterministic, no timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BuiltProject

#: Libraries that cost tenths of a second to import (measured with `python -X importtime`); click,
#: msgspec and yaml are the baseline every command may use.
HEAVY = ("sqlglot", "duckdb", "dbt", "jinja2", "pandas", "numpy", "agate", "pyarrow")

_PROBE = """
import atexit, json, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["pipewatch", *sys.argv[2:]]
from pipewatch.cli import main
main()
"""


def imported(tmp_path: Path, *args: str, cwd: Path | None = None, stdin: str | None = None) -> set[str]:
    """The top-level packages a real `pipewatch ARGS` process had imported when it exited."""
    out = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        input=stdin,
        timeout=300,
        check=False,
    )
    assert out.exists(), proc.stdout + proc.stderr
    return {name.split(".")[0] for name in json.loads(out.read_text(encoding="utf-8"))}


def heavy(modules: set[str]) -> set[str]:
    """The heavy libraries among `modules`."""
    return {name for name in HEAVY if name in modules}


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("--version",),
        ("watch", "--help"),
        ("run", "--help"),
        ("classify", "could not serialize access due to concurrent update"),
        ("classify", "--adapter", "postgres", "--format", "json", "permission denied for table x"),
    ],
)
def test_light_commands_import_nothing_heavy(tmp_path: Path, args: tuple[str, ...]) -> None:
    assert heavy(imported(tmp_path, *args)) == set()


def test_classify_over_stdin_imports_nothing_heavy(tmp_path: Path) -> None:
    messages = "division by zero\nconnection reset by peer\n" * 50
    assert heavy(imported(tmp_path, "classify", stdin=messages)) == set()


def test_after_run_without_history_or_rules_imports_nothing_heavy(
    tmp_path: Path, faulty_build: BuiltProject
) -> None:
    modules = imported(
        tmp_path, "after-run", "--no-history", "--no-rules", "--project-dir", str(faulty_build.project_dir)
    )
    assert heavy(modules) == set()


def test_after_run_json_imports_nothing_heavy(tmp_path: Path, faulty_build: BuiltProject) -> None:
    modules = imported(
        tmp_path,
        "after-run",
        "--no-history",
        "--no-rules",
        "--format",
        "json",
        "--project-dir",
        str(faulty_build.project_dir),
    )
    assert heavy(modules) == set()


def test_after_run_with_history_adds_only_duckdb(tmp_path: Path, faulty_build: BuiltProject) -> None:
    modules = imported(
        tmp_path,
        "after-run",
        "--no-rules",
        "--history",
        str(tmp_path / "history.duckdb"),
        "--project-dir",
        str(faulty_build.project_dir),
    )
    assert heavy(modules) == {"duckdb"}


def test_lineage_imports_nothing_heavy(tmp_path: Path, faulty_build: BuiltProject) -> None:
    modules = imported(tmp_path, "lineage", "stg_payments", "--project-dir", str(faulty_build.project_dir))
    assert heavy(modules) == set()


def test_check_on_duckdb_needs_no_dbt_or_pandas(tmp_path: Path, faulty_build: BuiltProject) -> None:
    modules = imported(
        tmp_path,
        "check",
        "--no-history",
        "--duckdb",
        str(faulty_build.target / "pipewatch_example.duckdb"),
        "--project-dir",
        str(faulty_build.project_dir),
    )
    assert {"sqlglot", "duckdb"} <= modules
    assert heavy(modules) - {"sqlglot", "duckdb"} == set()
