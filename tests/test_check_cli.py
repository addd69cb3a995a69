"""`pipewatch check` on a DuckDB file: every format, the gate and its exit codes, errors, history."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from pipewatch.commands.check import check_command

RULES = """\
version: 1
tables:
  - relation: main.orders
    checks:
      - not_null: order_id
      - unique: order_id
      - accepted_values: {column: status, values: [paid, open], severity: warn}
      - range: {column: amount, min: 0}
      - row_count: {min: 1}
  - relation: main.customers
    checks:
      - not_null: id
"""
RUN_RESULTS = {
    "metadata": {
        "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
        "dbt_version": "1.11.0",
        "generated_at": "2026-01-05T10:00:00Z",
        "invocation_id": "inv-check-1",
    },
    "results": [
        {
            "unique_id": "model.shop.orders",
            "status": "success",
            "message": "OK",
            "failures": None,
            "execution_time": 0.5,
            "thread_id": "Thread-1",
            "timing": [],
            "adapter_response": {},
        }
    ],
    "elapsed_time": 1.0,
    "args": {"which": "build"},
}


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A folder with wh.duckdb (orders: a duplicate id, an unexpected status, a negative amount) and rules/."""
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    con.execute("CREATE TABLE orders AS SELECT * FROM (VALUES (1, 'paid', 10), (2, 'open', 5), (2, 'lost', -1), "
                "(3, 'paid', 7)) t(order_id, status, amount)")  # fmt: skip
    con.execute("CREATE TABLE customers AS SELECT 1 AS id")
    con.close()
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "shop.yml").write_text(RULES, encoding="utf-8")
    return tmp_path


def check(project: Path, *args: str) -> Result:
    base = ["--project-dir", str(project), "--duckdb", str(project / "wh.duckdb"), "--no-history"]
    return CliRunner().invoke(check_command, [*base, *args], catch_exceptions=False)


def test_text_shows_tables_counts_ratios_samples_and_the_gate(project: Path) -> None:
    got = check(project)
    assert got.exit_code == 1, got.output
    out = got.stdout
    assert out.startswith("QUALITY score ")
    assert "main.orders  score" in out and "main.customers  score 1.000" in out
    assert "fail  unique(order_id)" in out and "1 value in 2 of 4 rows" in out
    assert "fail  range(amount)" in out and "1 of 4 rows (25.00%)" in out
    assert "warn  accepted_values(status)" in out
    assert 'e.g. {"order_id": 2, "n": 2}' in out
    assert "GATE failed: main.orders::unique(order_id): 1 failing values of 4" in out


def test_json_is_the_quality_contract_with_the_gate(project: Path) -> None:
    got = check(project, "--format", "json", "--samples", "0")
    assert got.exit_code == 1
    doc = json.loads(got.stdout)
    assert set(doc) == {"pipewatch_version", "quality", "gate"}
    quality = doc["quality"]
    assert {"score", "tables", "skipped", "dialect", "elapsed_s"} <= set(quality)
    checks = {c["name"]: c for t in quality["tables"] for c in t["checks"]}
    assert set(checks["unique(order_id)"]) >= {
        "name", "type", "column", "status", "failing_rows", "total_rows", "threshold", "sql"
    }  # fmt: skip
    assert (checks["range(amount)"]["failing_rows"], checks["range(amount)"]["total_rows"]) == (1, 4)
    assert all(c["samples"] == [] for c in checks.values())  # --samples 0 fetches none
    assert doc["gate"] == {
        "passed": False,
        "reasons": [
            "main.orders::unique(order_id): 1 failing values of 4",
            "main.orders::range(amount): 1 failing rows of 4",
        ],
    }


def test_junit_has_one_testcase_per_check(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "junit.xml"
    got = check(project, "--format", "junit", "--output", str(out))
    assert got.exit_code == 1 and got.stdout == ""
    root = ET.parse(out).getroot()
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == 6
    assert root.get("tests") == "6" and root.get("failures") == "2" and root.get("errors") == "0"
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert failed == {"unique(order_id)", "range(amount)"}
    warned = [c for c in cases if c.find("system-out") is not None]
    assert [c.get("name") for c in warned] == ["accepted_values(status)"]


def test_markdown_lists_each_table(project: Path) -> None:
    got = check(project, "--format", "markdown")
    assert "## pipewatch check: quality score" in got.stdout and "❌ gate failed" in got.stdout
    assert (
        "### `main.orders`" in got.stdout and "| fail | unique(order_id) | unique | order_id |" in got.stdout
    )


def test_warn_checks_never_fail_the_gate_but_the_score_can(project: Path) -> None:
    (project / "rules" / "shop.yml").write_text(
        "version: 1\ntables:\n  - relation: main.orders\n    checks:\n"
        "      - accepted_values: {column: status, values: [paid, open], severity: warn}\n",
        encoding="utf-8",
    )
    assert check(project).exit_code == 0
    assert check(project, "--min-score", "0.5").exit_code == 0
    low = check(project, "--min-score", "0.9", "--format", "json")
    assert low.exit_code == 1
    assert json.loads(low.stdout)["gate"]["reasons"] == ["quality score 0.7500 is below the minimum 0.9"]
    (project / "pipewatch.yml").write_text("min_score: 0.9\n", encoding="utf-8")
    assert check(project).exit_code == 1


def test_rules_come_from_flag_config_or_project(project: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.yml"
    other.write_text("version: 1\ntables:\n  - relation: main.customers\n    checks:\n      - not_null: id\n")
    assert check(project, "--rules", str(other)).exit_code == 0
    (project / "pipewatch.yml").write_text(f"rules: {other}\n", encoding="utf-8")
    assert check(project).exit_code == 0
    (project / "pipewatch.yml").unlink()
    assert check(project).exit_code == 1  # back to the project's rules/


def test_every_rule_file_error_is_listed_and_exits_2(project: Path) -> None:
    (project / "rules" / "bad.yml").write_text(
        "version: 1\ntables:\n  - relation: main.orders\n    checks:\n"
        "      - not_nul: order_id\n      - matches: {column: x, pattern: '(a'}\n",
        encoding="utf-8",
    )
    got = check(project)
    assert got.exit_code == 2 and got.stdout == ""
    assert "bad.yml:5: unknown check type `not_nul`" in got.stderr
    assert "bad.yml:6: matches: bad regex" in got.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--profile", "x"], 2, "--duckdb checks a DuckDB file"),
        (["--dbt-tests", "--rules", "{rules}"], 2, "--dbt-tests needs the dbt manifest"),
        (["--samples", "-1"], 2, "Invalid value for '--samples'"),
        (["--min-score", "2"], 2, "Invalid value for '--min-score'"),
        (["--select", "orders", "tag:x", "--exclude", "y"], 2, "pass --dbt-tests too"),
        (["--dbt-tests", "--vars", "[1, 2]"], 2, "--vars: expected a mapping"),
        (["--dbt-tests", "--vars", "{a: [}"], 2, "--vars: not YAML"),
        (["--dbt-tests", "--select", "state:modified"], 2, "state: and result: selectors"),
    ],
)
def test_usage_errors_exit_2(project: Path, args: list[str], code: int, message: str) -> None:
    got = check(project, *[a.replace("{rules}", str(project / "rules")) for a in args])
    assert got.exit_code == code and message in got.stderr, got.output


def test_nothing_to_check_and_a_missing_database(project: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    got = CliRunner().invoke(
        check_command, ["--project-dir", str(empty), "--duckdb", str(project / "wh.duckdb"), "--no-history"]
    )
    assert got.exit_code == 2 and "nothing to check" in got.stderr
    gone = check(project, "--duckdb", str(tmp_path / "gone.duckdb"))
    assert gone.exit_code == 3 and "DuckDB database file not found" in gone.stderr


def test_checks_are_recorded_against_the_run_in_history(project: Path) -> None:
    (project / "target").mkdir()
    (project / "target" / "run_results.json").write_text(json.dumps(RUN_RESULTS), encoding="utf-8")
    store = project / "hist.duckdb"
    args = ["--project-dir", str(project), "--duckdb", str(project / "wh.duckdb"), "--history", str(store)]
    first = CliRunner().invoke(check_command, args)
    assert first.exit_code == 1
    con = duckdb.connect(str(store), read_only=True)
    rows = con.execute(
        "SELECT check_id, status, failing_rows FROM check_results WHERE invocation_id = 'inv-check-1' ORDER BY 1"
    ).fetchall()
    con.close()
    assert ("main.orders::range(amount)", "fail", 1) in rows and len(rows) == 6
    again = CliRunner().invoke(check_command, args)
    assert "checks of run inv-check-1 were already recorded" in again.stderr


def test_without_a_run_history_is_skipped_with_a_note(project: Path) -> None:
    got = CliRunner().invoke(
        check_command,
        [
            "--project-dir",
            str(project),
            "--duckdb",
            str(project / "wh.duckdb"),
            "--history",
            str(project / "h.duckdb"),
        ],
    )
    assert got.exit_code == 1
    assert "checks not recorded (no dbt run_results.json" in got.stderr
    assert not (project / "h.duckdb").exists()
