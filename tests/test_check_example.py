"""rules/shop.yml on the example project after real dbt builds: it loads against the manifest, finds the
planted data problems with exact counts (natively and through the dbt-duckdb profile), and records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipewatch.artifacts import load_run
from pipewatch.rules import load_rules
from tests.conftest import REPO, BuiltProject

pytestmark = pytest.mark.dbt

CHECK = "from pipewatch.commands.check import check_command; check_command(prog_name='pipewatch check')"
RULES = REPO / "rules"
RAW, STG = "pipewatch_example.raw", "pipewatch_example.staging"
# check id -> (status, failing rows) after the faulty build; every other check passes with 0.
FAULTY = {
    f"{RAW}.raw_customers::not_null(customer_id)": ("warn", 1),
    f"{RAW}.raw_customers::duplicates(customer_id)": ("warn", 1),
    f"{RAW}.raw_payments::amount_cents_is_a_number": ("fail", 1),
    f"{RAW}.raw_payments::amount_cents_in_range": ("fail", 2),
    f"{RAW}.raw_order_items::range(quantity)": ("fail", 2),
    f"{STG}.stg_customers::unique(customer_id)": ("fail", 1),
    f"{STG}.stg_customers::email_is_well_formed": ("warn", 3),
    f"{STG}.stg_customers::relationships(country_code -> {RAW}.country_regions.country_code)": ("warn", 1),
    f"{STG}.stg_orders::relationships(customer_id -> {STG}.stg_customers.customer_id)": ("fail", 2),
    f"{STG}.stg_orders::accepted_values(status)": ("warn", 1),
    f"{STG}.stg_order_items::range(quantity)": ("pass", 2),  # 2 allowed
}
STALE = f"{RAW}.raw_orders::freshness(_loaded_at)"


def pipewatch_check(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", CHECK, "--project-dir", str(project), "--rules", str(RULES), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


def results(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    assert done.returncode in (0, 1), done.stderr
    quality = json.loads(done.stdout)["quality"]
    return {c["id"]: c for t in quality["tables"] for c in t["checks"]}


def found(checks: dict[str, dict[str, Any]]) -> dict[str, tuple[str, int | None]]:
    return {
        k: (c["status"], c["failing_rows"])
        for k, c in checks.items()
        if c["status"] != "pass" or c["failing_rows"]
    }


def test_shop_rules_find_the_planted_problems(faulty_build: BuiltProject) -> None:
    db = faulty_build.target / "pipewatch_example.duckdb"
    done = pipewatch_check(faulty_build.project_dir, "--duckdb", str(db), "--format", "json", "--no-history")
    assert done.returncode == 1  # error-severity checks fail: the gate fails
    checks = results(done)
    assert checks[STALE]["status"] == "warn" and checks[STALE]["failing_rows"] is None
    assert {k: v for k, v in found(checks).items() if k != STALE} == FAULTY
    assert not [k for k, c in checks.items() if c["status"] == "error"]
    types = {c["type"] for c in checks.values()}
    assert types == {
        "not_null", "unique", "accepted_values", "range", "matches", "relationships",
        "row_count", "freshness", "duplicates", "expression",
    }  # fmt: skip
    # `model:` and `source:` resolved through the manifest to the relations dbt built.
    models = {c["id"].split("::")[0] for c in checks.values()}
    assert f"{STG}.stg_orders" in models and f"{RAW}.raw_payments" in models


def test_the_dbt_profile_finds_the_same(faulty_build: BuiltProject) -> None:
    project = faulty_build.project_dir
    native = results(
        pipewatch_check(project, "--duckdb", str(faulty_build.target / "pipewatch_example.duckdb"),
                        "--format", "json", "--no-history", "--samples", "0")
    )  # fmt: skip
    profile = results(
        pipewatch_check(
            project, "--profiles-dir", str(project), "--format", "json", "--no-history", "--samples", "0"
        )
    )
    strip = ("sql", "message")  # freshness lag text differs by the seconds between the runs
    assert {k: {f: v for f, v in c.items() if f not in strip} for k, c in profile.items()} == {
        k: {f: v for f, v in c.items() if f not in strip} for k, c in native.items()
    }


def test_a_clean_build_keeps_only_the_raw_problems(clean_build: BuiltProject) -> None:
    db = clean_build.target / "pipewatch_example.duckdb"
    checks = results(
        pipewatch_check(clean_build.project_dir, "--duckdb", str(db), "--format", "json", "--no-history")
    )
    fixed = {f"{STG}.stg_customers::unique(customer_id)", f"{STG}.stg_orders::accepted_values(status)"}
    expected = {k: v for k, v in FAULTY.items() if k not in fixed}
    assert {k: v for k, v in found(checks).items() if k != STALE} == expected


def test_check_results_go_to_history_under_the_build(faulty_build: BuiltProject, tmp_path: Path) -> None:
    db = faulty_build.target / "pipewatch_example.duckdb"
    store = tmp_path / "history.duckdb"
    done = pipewatch_check(faulty_build.project_dir, "--duckdb", str(db), "--history", str(store))
    assert done.returncode == 1, done.stderr
    invocation = faulty_build.artifact("run_results.json")["metadata"]["invocation_id"]
    con = duckdb.connect(str(store), read_only=True)
    try:
        n = con.execute("SELECT count(*) FROM check_results WHERE invocation_id = ?", [invocation]).fetchone()
    finally:
        con.close()
    every_check = load_rules(RULES, nodes=load_run(faulty_build.target).nodes).checks
    assert n == (len(every_check),)
