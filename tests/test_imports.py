"""Each command imports only what it uses (issue 12): the heavy libraries stay out of commands that
do not need them, so `pipewatch --help` or `pipewatch classify` start in a blink.

Every case runs the real console entry point in a fresh interpreter and records `sys.modules` at exit;
deterministic, no timing.
"""

from __future__ import annotations

import json
import shutil
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
    return {name.split(".")[0] for name in imported_modules(tmp_path, *args, cwd=cwd, stdin=stdin)}


def imported_modules(
    tmp_path: Path, *args: str, cwd: Path | None = None, stdin: str | None = None
) -> set[str]:
    """Every module a real `pipewatch ARGS` process had imported when it exited."""
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
    return set(json.loads(out.read_text(encoding="utf-8")))


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


def test_dbt_tests_without_unit_tests_or_stored_failures_pay_nothing_for_them(
    tmp_path: Path, faulty_build: BuiltProject
) -> None:
    """A project with no unit test starts no dbt process: neither the unit-test runner nor dbt is imported."""
    modules = imported_modules(
        tmp_path,
        "check",
        "--dbt-tests",
        "--no-history",
        "--duckdb",
        str(faulty_build.target / "pipewatch_example.duckdb"),
        "--project-dir",
        str(faulty_build.project_dir),
    )
    assert "pipewatch.rules.dbt_tests" in modules
    assert "pipewatch.rules.dbt_unit" not in modules
    assert heavy({name.split(".")[0] for name in modules}) - {"sqlglot", "duckdb"} == set()


def test_after_run_with_a_catalog_and_no_column_change_adds_only_duckdb(
    tmp_path: Path, faulty_build: BuiltProject
) -> None:
    """Column snapshots are recorded and compared without sqlglot when no column changed (issue 15)."""
    project = tmp_path / "project"
    (project / "target").mkdir(parents=True)
    shutil.copy(faulty_build.project_dir / "dbt_project.yml", project)
    shutil.copy(faulty_build.target / "manifest.json", project / "target")
    results = faulty_build.artifact("run_results.json")
    models = {
        uid: node
        for uid, node in faulty_build.artifact("manifest.json")["nodes"].items()
        if node["resource_type"] in ("model", "seed")
    }
    history = tmp_path / "history.duckdb"
    for n in (1, 2):
        results["metadata"]["invocation_id"] = f"inv-{n}"
        results["metadata"]["generated_at"] = f"2026-06-0{n}T10:00:00Z"
        (project / "target" / "run_results.json").write_text(json.dumps(results), encoding="utf-8")
        catalog = {
            "metadata": {
                "dbt_schema_version": "https://schemas.getdbt.com/dbt/catalog/v1.json",
                "generated_at": f"2026-06-0{n}T10:01:00Z",
                "invocation_id": f"docs-{n}",
            },
            "nodes": {
                uid: {
                    "unique_id": uid,
                    "metadata": {
                        "database": node["database"],
                        "schema": node["schema"],
                        "name": node["alias"],
                    },
                    "columns": {"id": {"name": "id", "type": "INTEGER", "index": 1}},
                }
                for uid, node in models.items()
            },
            "sources": {},
        }
        (project / "target" / "catalog.json").write_text(json.dumps(catalog), encoding="utf-8")
        modules = imported(
            tmp_path, "after-run", "--no-rules", "--history", str(history), "--project-dir", str(project)
        )
        assert heavy(modules) == {"duckdb"}
    import duckdb

    con = duckdb.connect(str(history), read_only=True)
    try:
        snapshots = con.execute("SELECT count(DISTINCT invocation_id) FROM column_snapshots").fetchone()
    finally:
        con.close()
    assert snapshots == (2,)  # both runs were snapshotted and compared, and nothing needed sqlglot
