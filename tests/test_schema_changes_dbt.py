"""Schema changes on real dbt builds, DuckDB (columns from catalog.json) and PostgreSQL (columns from the
information schema, `--schema`): the second build drops `y`, retypes `amount` and adds `added_col`.

`reads_y` reads the dropped column and fails; `sums_amount` adds up the retyped one and fails;
`reads_other` reads the same model but not `y` and must not be listed; `carries_on` selects * from
reads_y, so the column flows on to it and to the exposure on it. One pair of builds per adapter.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import run_dbt, run_pipewatch
from tests.pg_server import PgServer

pytestmark = pytest.mark.dbt

PROJECT = Path(__file__).parent / "data" / "schema_project"
STG = "model.schema_shop.stg_x"


@dataclass(frozen=True)
class SchemaBuild:
    """The project after two builds and an after-run on each: the second after-run's JSON and text."""

    project: Path
    outcome: dict[str, Any]
    text: str
    notes: str
    first_notes: str


def _build_twice(project: Path, *after_run: str, docs: bool) -> SchemaBuild:
    outputs = []
    for variables in ("{v2: false}", "{v2: true}"):
        built = run_dbt(project, "build", "--vars", variables)
        assert built.returncode in (0, 1), built.stdout + built.stderr
        if docs:
            generated = run_dbt(project, "docs", "generate", "--no-compile", "--vars", variables)
            assert generated.returncode == 0, generated.stdout + generated.stderr
        done = run_pipewatch("after-run", "--project-dir", str(project), "--format", "json", *after_run)
        assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
        outputs.append(done)
    text = run_pipewatch("after-run", "--project-dir", str(project), *after_run)
    return SchemaBuild(
        project, json.loads(outputs[1].stdout), text.stdout, outputs[1].stderr, outputs[0].stderr
    )


def _copy(tmp: Path, profile: dict[str, Any]) -> Path:
    project = tmp / "schema_shop"
    shutil.copytree(PROJECT, project)
    doc = {"schema_shop": {"target": "dev", "outputs": {"dev": profile}}}
    (project / "profiles.yml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return project


@pytest.fixture(scope="module")
def duckdb_build(tmp_path_factory: pytest.TempPathFactory) -> SchemaBuild:
    tmp = tmp_path_factory.mktemp("schema_duckdb")
    project = _copy(tmp, {"type": "duckdb", "path": str(tmp / "shop.duckdb"), "threads": 2})
    return _build_twice(project, docs=True)


@pytest.fixture(scope="module")
def postgres_build(tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer) -> SchemaBuild:
    schema = f"schema_changes_{uuid.uuid4().hex[:8]}"
    project = _copy(tmp_path_factory.mktemp("schema_pg"), pg_server.profile(schema, threads=2))
    return _build_twice(project, "--schema", docs=False)


@pytest.fixture(params=["duckdb", "postgres"])
def build(request: pytest.FixtureRequest) -> SchemaBuild:
    fixture: SchemaBuild = request.getfixturevalue(f"{request.param}_build")
    return fixture


def _changes(build: SchemaBuild) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["column"], c["change"]): c for c in build.outcome["schema_changes"]}


def test_the_three_changes_are_found(build: SchemaBuild) -> None:
    changes = _changes(build)
    assert set(changes) == {("y", "dropped"), ("amount", "type_changed"), ("added_col", "added")}
    retyped = changes[("amount", "type_changed")]
    assert retyped["old_type"] != retyped["new_type"] and retyped["unique_id"] == STG
    assert changes[("added_col", "added")]["downstream"] == []
    assert all(c["relation"].endswith("stg_x") for c in changes.values())


def test_readers_of_the_dropped_column_are_listed_and_no_one_else(build: SchemaBuild) -> None:
    dropped = _changes(build)[("y", "dropped")]
    assert dropped["downstream"] == ["model.schema_shop.carries_on", "model.schema_shop.reads_y"]
    assert dropped["downstream_columns"] == {
        "model.schema_shop.carries_on": ["y_upper"],
        "model.schema_shop.reads_y": ["y_upper"],
    }
    assert dropped["exposures"] == ["exposure.schema_shop.y_dashboard"]
    assert dropped["owners"] == ["bi@example.com", "finance@example.com"]
    assert dropped["precision"] == "column"
    everything = json.dumps(build.outcome["schema_changes"])
    assert "reads_other" not in everything


def test_each_failure_carries_the_change_it_read(build: SchemaBuild) -> None:
    failures = {f["unique_id"]: f for f in build.outcome["failures"]}
    assert [c["column"] for c in failures["model.schema_shop.reads_y"]["schema_changes"]] == ["y"]
    assert [c["column"] for c in failures["model.schema_shop.sums_amount"]["schema_changes"]] == ["amount"]
    assert "probably caused by: stg_x dropped column y" in build.text
    assert "probably caused by: stg_x changed column amount from" in build.text


def test_default_gate_only_warns_and_fail_on_fails_it(build: SchemaBuild) -> None:
    assert build.outcome["gate"]["reasons"] == ["2 node(s) errored"]
    (build.project / "pipewatch.yml").write_text("schema:\n  fail_on: [dropped]\n", encoding="utf-8")
    try:
        extra = ("--schema",) if "schema_pg" in str(build.project) else ()
        done = run_pipewatch("after-run", "--project-dir", str(build.project), "--format", "json", *extra)
    finally:
        (build.project / "pipewatch.yml").unlink()
    reasons = json.loads(done.stdout)["gate"]["reasons"]
    assert done.returncode == 1
    assert any("schema.fail_on" in r and "stg_x dropped column y" in r for r in reasons), reasons


def test_first_run_has_no_previous_snapshot(build: SchemaBuild) -> None:
    assert "first column snapshot of" in build.first_notes


def test_column_lineage_command(duckdb_build: SchemaBuild) -> None:
    done = run_pipewatch(
        "lineage", "reads_y.y_upper", "--project-dir", str(duckdb_build.project), "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    assert [(h["unique_id"], h["column"]) for h in view["upstream"]] == [(STG, "y")]
    assert [(h["unique_id"], h["column"]) for h in view["downstream"]] == [
        ("model.schema_shop.carries_on", "y_upper")
    ]
    other = run_pipewatch("lineage", "stg_x.keep", "--project-dir", str(duckdb_build.project))
    assert "reads_other.keep" in other.stdout and "reads_y" not in other.stdout
