"""Conformance: dbt-utils' own integration tests, run by `dbt test` and by `pipewatch check --dbt-tests`.

dbt-utils 1.4.1 (../shared/dbt-packages/dbt-utils) is copied to a temp dir with its `integration_tests`
project, which installs it as a `local: ../` package. The project is seeded and run once per engine
(DuckDB, then PostgreSQL), `dbt test` runs every test, and pipewatch must give each test dbt's status and
failure count: core tests fused, every dbt-utils generic test, singular test and the project's own
generic tests as dbt SQL. A few extra tests of ours ride along (`limit`, `enabled: false`, `quote: true`
on a mixed-case column). Models that an engine cannot build are left as they are: dbt's tests on them
error, and pipewatch must say `error` too (on DuckDB 2: `test_date_spine`, whose `'2018-01-01' +
interval` DuckDB refuses to type, and `test_get_relations_by_*`, which read an information_schema DuckDB
does not have under that catalog).

The profile reads everything through `env_var()` (with and without defaults), the PostgreSQL password
from a `DBT_ENV_SECRET_` variable, and the schema through `--vars`.
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

from tests.conftest import REPO, dbt_executable
from tests.dbt_conformance_extra import (
    KINDS_MODEL,
    STORE_KIND_TESTS,
    STORE_TESTS,
    UNIT_MODEL,
    UNIT_TESTS,
    AuditReader,
    stored_relations,
)
from tests.pg_server import PgServer

pytestmark = pytest.mark.dbt

DBT_UTILS = REPO.parent / "shared" / "dbt-packages" / "dbt-utils"
PROFILES = """\
integration_tests:
  target: duckdb
  outputs:
    duckdb:
      type: duckdb
      path: "{{ env_var('PW_IT_DUCKDB') }}"
      threads: 4
    postgres:
      type: postgres
      host: "{{ env_var('PW_IT_PG_HOST', '127.0.0.1') }}"
      port: "{{ env_var('PW_IT_PG_PORT') | as_number }}"
      user: "{{ env_var('PW_IT_PG_USER') }}"
      password: "{{ env_var('DBT_ENV_SECRET_PW_IT_PG_PASSWORD') }}"
      dbname: "{{ env_var('PW_IT_PG_DB') }}"
      schema: "{{ var('schema', 'main') }}"
      threads: 4
"""
# Our own configs beside dbt-utils' tests: a mixed-case quoted column, `limit`, thresholds, a disabled test.
EXTRA_MODEL = """\
select 1 as "MixedCase", 'a' as kind union all
select 1 as "MixedCase", 'b' as kind union all
select 2 as "MixedCase", 'b' as kind union all
select 3 as "MixedCase", 'c' as kind union all
select 3 as "MixedCase", 'c' as kind union all
select null as "MixedCase", 'd' as kind
"""
EXTRA_SCHEMA = (
    """\
version: 2
models:
  - name: pw_mixed_case
    columns:
      - name: MixedCase
        quote: true
        data_tests:
          - not_null
          - unique
          - unique:
              name: pw_unique_limited
              config: {limit: 1}
          - unique:
              name: pw_unique_limited_error_above_2
              config: {limit: 1, error_if: ">2"}
          - not_null:
              name: pw_disabled
              config: {enabled: false}
"""
    + STORE_TESTS
    + """\
      - name: kind
        data_tests:
          - accepted_values:
              arguments: {values: [a, b]}
              config: {warn_if: ">1", error_if: ">5"}
          - accepted_values:
              name: pw_accepted_fail_calc
              arguments: {values: [a]}
              config: {fail_calc: "sum(n_records)"}
"""
    + STORE_KIND_TESTS
    + UNIT_TESTS
)
VARS = "{schema: dbt_utils_it}"


def _env(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1", **extra}


def _dbt(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [dbt_executable(), "--no-use-colors", *args, "--project-dir", str(project)]
    cmd += ["--profiles-dir", str(project), "--vars", VARS]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, check=False)


def _pipewatch(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(Path(sys.executable).with_name("pipewatch")), "check", "--dbt-tests", "--no-history"]
    cmd += ["--project-dir", str(project), "--format", "json", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, check=False)


def _built(root: Path, env: dict[str, str], target: str) -> Path:
    """A fresh copy of dbt-utils whose integration project was seeded, run and tested on `target`."""
    if not DBT_UTILS.is_dir():
        pytest.skip(f"dbt-utils not found at {DBT_UTILS}")
    utils = root / "dbt-utils"
    shutil.copytree(DBT_UTILS, utils, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    for path in (utils, *utils.rglob("*")):  # ../shared is read-only in CI; the copy is ours
        path.chmod(path.stat().st_mode | 0o200)
    project = utils / "integration_tests"
    (project / "profiles.yml").write_text(PROFILES.replace("target: duckdb", f"target: {target}"))
    (project / "models" / "pw_extra").mkdir()
    (project / "models" / "pw_extra" / "pw_mixed_case.sql").write_text(EXTRA_MODEL)
    (project / "models" / "pw_extra" / "schema.yml").write_text(EXTRA_SCHEMA)
    (project / "models" / "pw_extra" / "pw_kinds.sql").write_text(KINDS_MODEL)
    (project / "models" / "pw_extra" / "pw_unit_counts.sql").write_text(UNIT_MODEL)
    for step in (("deps",), ("seed",)):
        done = _dbt(project, env, *step)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    ran = _dbt(project, env, "run")
    assert ran.returncode in (0, 1), ran.stdout[-3000:] + ran.stderr
    tested = _dbt(project, env, "test")
    assert tested.returncode in (0, 1), tested.stdout[-3000:] + tested.stderr
    # The rows dbt stored, before any pipewatch run replaces them.
    stored = AuditReader(target, env).snapshot(stored_relations(project / "target" / "manifest.json"))
    (project / "pw_audit_dbt.json").write_text(json.dumps(stored))
    return project


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The integration project built and tested on DuckDB."""
    root = tmp_path_factory.mktemp("utils_duck")
    env = _env({"PW_IT_DUCKDB": str(root / "it.duckdb")})
    return _built(root, env, "duckdb"), env


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer) -> tuple[Path, dict[str, str]]:
    """The integration project built and tested on PostgreSQL."""
    env = _env(
        {
            "PW_IT_PG_PORT": str(pg_server.port),
            "PW_IT_PG_USER": pg_server.user,
            "DBT_ENV_SECRET_PW_IT_PG_PASSWORD": pg_server.password,
            "PW_IT_PG_DB": pg_server.database,
        }
    )
    return _built(tmp_path_factory.mktemp("utils_pg"), env, "postgres"), env


def _results(project: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((project / "target" / "run_results.json").read_text())
    return {r["unique_id"]: r for r in data["results"]}


def _checks(done: subprocess.CompletedProcess[str]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    assert done.returncode in (0, 1), done.stderr
    quality = json.loads(done.stdout)["quality"]
    return {c["id"]: c for t in quality["tables"] for c in t["checks"]}, quality


def _conforms(
    project: Path, checks: dict[str, dict[str, Any]], results: dict[str, dict[str, Any]] | None = None
) -> None:
    """Every test dbt ran has pipewatch's same status and failures; pipewatch ran no other test."""
    results = _results(project) if results is None else results
    assert set(checks) == set(results)
    diffs = []
    for uid, result in results.items():
        mine = checks[uid]
        failures = mine["failing_rows"] if mine["status"] in ("fail", "warn") else 0
        dbt_failures = result["failures"] if result["status"] in ("fail", "warn") else 0
        if mine["status"] != result["status"] or failures != dbt_failures:
            diffs.append((uid, result["status"], result["failures"], mine["status"], mine["failing_rows"]))
    assert not diffs, diffs


def _by_name(checks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {uid.split(".")[2]: c for uid, c in checks.items()}


def test_duckdb_every_test_as_dbt(duck: tuple[Path, dict[str, str]]) -> None:
    project, env = duck
    checks, quality = _checks(_pipewatch(project, env, "--profiles-dir", str(project), "--vars", VARS))
    _conforms(project, checks)
    assert quality["engines"]["fused"] >= 15 and quality["engines"]["dbt_sql"] >= 80
    assert not quality["skipped"]
    statuses = [c["status"] for c in checks.values()]
    assert statuses.count("pass") >= 90 and statuses.count("fail") + statuses.count("warn") >= 3
    named = _by_name(checks)
    assert "pw_disabled" not in named  # enabled: false is not a test at all
    assert (named["pw_unique_limited"]["status"], named["pw_unique_limited"]["failing_rows"]) == ("fail", 1)
    assert named["pw_unique_limited_error_above_2"]["status"] == "warn"
    assert named["pw_accepted_fail_calc"]["engine"] == "dbt_sql"


def test_duckdb_copy_under_another_catalog_name(duck: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    project, env = duck
    copy = tmp_path / "renamed_copy.duckdb"
    shutil.copyfile(env["PW_IT_DUCKDB"], copy)
    checks, _ = _checks(_pipewatch(project, env, "--duckdb", str(copy)))
    # A read-only file takes no stored failures, and unit tests need dbt's profile: both say so and error.
    writes = {
        uid
        for uid, c in checks.items()
        if "read-only" in (c["message"] or "") or "--duckdb" in (c["message"] or "")
    }
    assert writes and all(checks[uid]["status"] == "error" for uid in writes)
    stores = set(stored_relations(project / "target" / "manifest.json")) - {_id(checks, "pw_store_ephemeral")}
    units = {uid for uid in checks if uid.startswith("unit_test.")}
    assert writes == stores | units
    kept = {uid: c for uid, c in checks.items() if uid not in writes}
    _conforms(project, kept, {uid: r for uid, r in _results(project).items() if uid not in writes})


@pytest.mark.parametrize(
    "select",
    [
        ["test_type:singular"],
        ["path:models/generic_tests", "--exclude", "tag:nothing"],
        ["+test_recency", "pw_mixed_case"],
        ["package:dbt_utils_integration_tests,test_type:generic", "--exclude", "@test_equality_floats"],
        ["test_type:unit", "tag:pw_store"],
        ["pw_unit_counts", "--exclude", "pw_unit_fails"],
    ],
)
def test_selection_is_dbts(duck: tuple[Path, dict[str, str]], select: list[str]) -> None:
    project, env = duck
    args = ["--select", select[0], *select[1:]]
    listed = _dbt(
        project,
        env,
        "ls",
        "--resource-type",
        "test",
        "--resource-type",
        "unit_test",
        "--output",
        "json",
        "--output-keys",
        "unique_id",
        *args,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    expected = {json.loads(line)["unique_id"] for line in listed.stdout.splitlines() if line.startswith("{")}
    assert expected
    checks, _ = _checks(_pipewatch(project, env, "--profiles-dir", str(project), "--vars", VARS, *args))
    assert set(checks) == expected


@pytest.mark.postgres
def test_postgres_every_test_as_dbt(pg: tuple[Path, dict[str, str]]) -> None:
    project, env = pg
    done = _pipewatch(project, env, "--profiles-dir", str(project), "--vars", VARS)
    checks, quality = _checks(done)
    _conforms(project, checks)
    assert quality["engines"]["fused"] >= 15 and quality["engines"]["dbt_sql"] >= 80
    mixed = next(c for n, c in _by_name(checks).items() if n.lower().startswith("unique_pw_mixed_case"))
    assert (mixed["status"], mixed["failing_rows"]) == ("fail", 2)  # "MixedCase" 1 and 3, quoted


@pytest.mark.postgres
def test_postgres_secret_never_printed(pg: tuple[Path, dict[str, str]]) -> None:
    project, env = pg
    wrong = {**env, "DBT_ENV_SECRET_PW_IT_PG_PASSWORD": "s3cr3t-wrong-password"}
    done = _pipewatch(project, wrong, "--profiles-dir", str(project), "--vars", VARS)
    assert done.returncode == 3
    assert "s3cr3t-wrong-password" not in done.stdout + done.stderr


def _id(checks: dict[str, dict[str, Any]], name: str) -> str:
    return next(uid for uid in checks if uid.split(".")[3 if uid.startswith("unit_test.") else 2] == name)


def _stores_like_dbt(project: Path, env: dict[str, str], engine: str) -> None:
    """The audit relations pipewatch writes hold dbt's rows, as the same kind of relation."""
    relations = stored_relations(project / "target" / "manifest.json")
    reader = AuditReader(engine, env)
    dbts = json.loads((project / "pw_audit_dbt.json").read_text())
    assert sum(1 for v in dbts.values() if v) == 4  # ephemeral stores nothing
    assert {v["type"] for v in dbts.values() if v} == {"BASE TABLE", "VIEW"}
    reader.drop(relations)
    done = _pipewatch(
        project, env, "--profiles-dir", str(project), "--vars", VARS, "--select", "tag:pw_store"
    )
    checks, quality = _checks(done)
    _conforms(project, checks, {uid: r for uid, r in _results(project).items() if uid in relations})
    assert quality["engines"]["dbt_sql"] == 4 and quality["engines"]["fused"] == 1  # ephemeral may fuse
    assert reader.snapshot(relations) == dbts


def _unit_tests_like_dbt(project: Path, env: dict[str, str]) -> None:
    done = _pipewatch(
        project, env, "--profiles-dir", str(project), "--vars", VARS, "--select", "test_type:unit"
    )
    checks, quality = _checks(done)
    results = {uid: r for uid, r in _results(project).items() if uid.startswith("unit_test.")}
    assert len(results) == 3
    _conforms(project, checks, results)
    assert quality["engines"] == {"fused": 0, "dbt_sql": 0, "dbt_unit": 3}
    failed = checks[_id(checks, "pw_unit_fails")]
    assert (failed["status"], failed["failing_rows"]) == ("fail", 1)
    assert "differs" in failed["message"]


def test_duckdb_store_failures_like_dbt(duck: tuple[Path, dict[str, str]]) -> None:
    project, env = duck
    _stores_like_dbt(project, env, "duckdb")


def test_duckdb_unit_tests_like_dbt(duck: tuple[Path, dict[str, str]]) -> None:
    project, env = duck
    _unit_tests_like_dbt(project, env)


def _flag_like_dbt(project: Path, env: dict[str, str], engine: str, tmp_path: Path) -> None:
    """`--store-failures` stores every selected test's failures, with the SQL dbt compiles under the flag
    (`not_null` then stores whole rows)."""
    select = ["--select", "pw_mixed_case", "--exclude", "tag:pw_store"]
    ran = _dbt(project, env, "test", "--store-failures", "--target-path", str(tmp_path), *select)
    assert ran.returncode in (0, 1), ran.stdout[-3000:] + ran.stderr
    results = _results_at(tmp_path)
    relations = stored_relations(tmp_path / "manifest.json", set(results))
    reader = AuditReader(engine, env)
    dbts = reader.snapshot(relations)
    assert len(dbts) >= 5 and all(dbts.values())
    reader.drop(relations)
    done = _pipewatch(
        project, env, "--profiles-dir", str(project), "--vars", VARS, "--store-failures", *select
    )
    checks, _ = _checks(done)
    _conforms(project, checks, results)
    assert reader.snapshot(relations) == dbts


def test_duckdb_store_failures_flag_like_dbt(duck: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    project, env = duck
    _flag_like_dbt(project, env, "duckdb", tmp_path)


@pytest.mark.postgres
def test_postgres_store_failures_flag_like_dbt(pg: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    project, env = pg
    _flag_like_dbt(project, env, "postgres", tmp_path)


def _results_at(target: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((target / "run_results.json").read_text())
    return {r["unique_id"]: r for r in data["results"]}


@pytest.mark.postgres
def test_postgres_store_failures_like_dbt(pg: tuple[Path, dict[str, str]]) -> None:
    project, env = pg
    _stores_like_dbt(project, env, "postgres")


@pytest.mark.postgres
def test_postgres_unit_tests_like_dbt(pg: tuple[Path, dict[str, str]]) -> None:
    project, env = pg
    _unit_tests_like_dbt(project, env)
