"""The example project is portable: the same models build on PostgreSQL (its `postgres` target, pointed
at the test server through PIPEWATCH_PG_*), every node ends as on DuckDB, and pipewatch's checks through
dbt-postgres count what they count on DuckDB. One build per module."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import BuiltProject, build_example
from tests.pg_server import PgServer
from tests.test_spark_example import checks_of, counts

pytestmark = [pytest.mark.postgres, pytest.mark.dbt]


@pytest.fixture(scope="module")
def pg_build(tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer) -> Iterator[BuiltProject]:
    """The example project seeded, freshness-checked and built on the test PostgreSQL server."""
    env = {
        "PIPEWATCH_PG_HOST": pg_server.host,
        "PIPEWATCH_PG_PORT": str(pg_server.port),
        "PIPEWATCH_PG_USER": pg_server.user,
        "DBT_ENV_SECRET_PG_PASSWORD": pg_server.password,
        "PIPEWATCH_PG_DATABASE": pg_server.database,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield build_example(tmp_path_factory.mktemp("pg"), "--target", "postgres")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_the_same_models_build_and_fail_the_same_way(
    pg_build: BuiltProject, faulty_build: BuiltProject
) -> None:
    """Every node's status and every source's freshness on PostgreSQL is its status on DuckDB."""
    assert pg_build.build_exit == faulty_build.build_exit == 1

    def statuses(built: BuiltProject, artifact: str) -> dict[str, str]:
        return {r["unique_id"]: r["status"] for r in built.artifact(artifact)["results"]}

    assert statuses(pg_build, "run_results.json") == statuses(faulty_build, "run_results.json")
    assert statuses(pg_build, "sources.json") == statuses(faulty_build, "sources.json")
    payments = next(
        r
        for r in pg_build.artifact("run_results.json")["results"]
        if r["unique_id"] == "model.shop.stg_payments"
    )
    assert "N/A" in payments["message"]  # the planted bad value fails the strict parse here too


def test_checks_count_what_duckdb_counts(pg_build: BuiltProject, faulty_build: BuiltProject) -> None:
    """rules/ and the dbt tests through dbt-postgres: the same statuses and counts as on DuckDB."""
    pg, _ = checks_of(pg_build.project_dir, "--dbt-tests", "--target", "postgres", database="postgres")
    duck, _ = checks_of(faulty_build.project_dir, "--dbt-tests")
    assert pg["dialect"] == "postgres"
    # rules/shop.yml's two expressions on raw_payments are written with try_cast, which PostgreSQL does
    # not have: there they cannot run, and say so (error: the gate does not pass on them).
    try_cast = {k for k in duck["checks"] if k.startswith("raw.raw_payments::amount_cents_")}
    assert len(try_cast) == 2 and all(pg["checks"][k]["status"] == "error" for k in try_cast)
    ours, theirs = counts(pg["checks"]), counts(duck["checks"])
    assert {k: v for k, v in ours.items() if k not in try_cast} == {
        k: v for k, v in theirs.items() if k not in try_cast
    }
