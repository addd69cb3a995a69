"""A dbt profile opened by its driver (`warehouse.direct`): rendered exactly as dbt renders it, the same
counts as through dbt's adapter, dbt's adapter for anything not plainly mapped, and no secret in errors."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipewatch.errors import WarehouseError
from pipewatch.rules import parse_rules, run_checks
from pipewatch.warehouse import QueryError, open_warehouse
from pipewatch.warehouse.dbt_adapter import DbtAdapterWarehouse
from pipewatch.warehouse.direct import ProfileWarehouse, open_duckdb, open_postgres
from pipewatch.warehouse.profile_render import _Renderer, read_target
from tests import test_warehouse_postgres as pg_tests
from tests.pg_server import PgServer
from tests.test_warehouse_dbt import RULES, make_db, write_profiles
from tests.test_warehouse_postgres import EXPECTED as PG_EXPECTED
from tests.test_warehouse_postgres import RULES as PG_RULES
from tests.test_warehouse_postgres import SCHEMA

#: The PostgreSQL fixture with the planted rows, shared with tests/test_warehouse_postgres.py.
pg_shop = pg_tests.pg_shop

ENV = {
    "PW_R_NUM": "5432",
    "PW_R_TEXT": "abc",
    "PW_R_BOOL": "True",
    "PW_R_FLOAT": "1.5",
    "PW_R_SPACE": " 7",
    "PW_R_LIST": "[1, 2]",
    "PW_R_EMPTY": "",
    "DBT_ENV_SECRET_PW_R": "s3cr3t-{{x}}-9",
}
PIECES = [
    "plain",
    "5432",
    "True",
    " ",
    "'q'",
    "a{b",
    "x\n",
    "x\r\ny",
    "{{ env_var('PW_R_NUM') }}",
    "{{ env_var('PW_R_TEXT') }}",
    "{{ env_var('PW_R_BOOL') | as_bool }}",
    "{{ env_var('PW_R_NUM') | as_number }}",
    "{{ env_var('PW_R_FLOAT') | as_number }}",
    "{{ env_var('PW_R_SPACE') | as_number }}",
    "{{ env_var('PW_R_LIST') | as_native }}",
    "{{ env_var('PW_R_NUM') | as_text }}",
    "{{ env_var('PW_R_NUM') | int }}",
    "{{ env_var('PW_R_EMPTY') }}",
    "{{ env_var('PW_R_MISSING', 'fallback') }}",
    "{{ env_var('PW_R_MISSING', 12) }}",
    "{{ env_var('PW_R_MISSING') }}",
    "{{ env_var('DBT_ENV_SECRET_PW_R') }}",
    "{{ var('schema', 'main') }}",
    "{{ var('n') }}",
    "{{ var('absent') }}",
    "{{ flags.PROFILES_DIR }}",
    "{{ flags.PROFILES_DIR | default('.', true) }}/target/x.duckdb",
    "{{ target }}",
    "{{ 1 + 1 }}",
    "{% if true %}x{% endif %}",
    "{{ unclosed",
]
CLI_VARS = {"schema": "analytics", "n": 3}


@pytest.fixture(scope="module")
def dbt_renders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """dbt's own profile renderer, set up as pipewatch's dbt path sets it up, and the environment."""
    from argparse import Namespace

    from dbt.config.profile import Profile
    from dbt.config.renderer import ProfileRenderer
    from dbt.flags import set_from_args
    from dbt_common.context import set_invocation_context

    folder = tmp_path_factory.mktemp("profiles")
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    set_invocation_context(os.environ)
    args = Namespace(
        project_dir=str(folder),
        profiles_dir=str(folder),
        target=None,
        profile=None,
        threads=None,
        vars=CLI_VARS,
    )
    set_from_args(args, None)

    def render(output: dict[str, Any]) -> Any:
        _, data = Profile.render_profile({"outputs": {"dev": output}}, "p", "dev", ProfileRenderer(CLI_VARS))
        return data

    yield folder, render
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parts=st.lists(st.sampled_from(PIECES), min_size=1, max_size=3),
    key=st.sampled_from(["host", "password", "port"]),
)
def test_profiles_render_exactly_as_dbt_renders_them(
    dbt_renders: tuple[Path, Any], parts: list[str], key: str
) -> None:
    folder, dbt_render = dbt_renders
    output = {key: "".join(parts), "other": ["{{ env_var('PW_R_TEXT') }}", 3]}
    try:
        mine = _Renderer(dict(CLI_VARS), folder).render_tree(output, ())
    except Exception:
        # Not rendered here: read_target answers None and dbt renders it (and words any error).
        return
    theirs = dbt_render(output)
    assert repr(mine) == repr(theirs)  # repr: 1 and 1.0 and True differ


def test_a_plain_profile_opens_duckdb_without_dbt(tmp_path: Path) -> None:
    make_db(tmp_path / "shop.duckdb")
    os.environ["PW_D_DIR"] = str(tmp_path)
    write_profiles(
        tmp_path, {"dev": "type: duckdb\npath: \"{{ env_var('PW_D_DIR') }}/shop.duckdb\"\nthreads: 3"}
    )
    plain = read_target(tmp_path, tmp_path, None, "shopdb", {})
    assert plain is not None and plain.fields == {"path": f"{tmp_path}/shop.duckdb"} and plain.threads == 3
    rules = parse_rules(RULES)
    with open_warehouse(project_dir=tmp_path, profiles_dir=tmp_path, profile="shopdb") as wh:
        assert isinstance(wh, ProfileWarehouse) and (wh.threads, wh.dialect) == (3, "duckdb")
        direct = run_checks(rules, wh, samples=2, threads=3)
        # Sealed like --duckdb: the profile's database, nothing from the file system.
        with pytest.raises(QueryError):
            wh.execute(f"SELECT * FROM read_csv('{tmp_path / 'profiles.yml'}')")
    with DbtAdapterWarehouse(project_dir=tmp_path, profiles_dir=tmp_path, profile="shopdb") as adapter:
        through_dbt = run_checks(rules, adapter, samples=2, threads=3)
    assert [(c.check_id, c.status, c.failing_rows, c.samples) for c in direct.checks] == [
        (c.check_id, c.status, c.failing_rows, c.samples) for c in through_dbt.checks
    ]


def test_duckdb_errors_never_carry_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_db(tmp_path / "shop.duckdb")
    monkeypatch.setenv("DBT_ENV_SECRET_PW_NAME", "hidden_relation_xyz")
    write_profiles(tmp_path, {"dev": f"type: duckdb\npath: '{tmp_path / 'shop.duckdb'}'\nthreads: 2"})
    with open_warehouse(project_dir=tmp_path, profiles_dir=tmp_path, profile="shopdb") as wh:
        assert isinstance(wh, ProfileWarehouse)
        with pytest.raises(QueryError) as err:
            wh.execute("SELECT * FROM hidden_relation_xyz")
        assert "hidden_relation_xyz" not in str(err.value) and "***" in str(err.value)
        with wh.session() as session, pytest.raises(QueryError) as err:
            session.execute("SELECT * FROM hidden_relation_xyz")
        assert "hidden_relation_xyz" not in str(err.value)


def test_what_storing_failures_needs_is_there(tmp_path: Path) -> None:
    """A test with store_failures writes a table, commits, and quotes as dbt's policy says (the project's
    `quoting:` over the adapter's default): the direct path offers all three, dbt loading only then."""
    make_db(tmp_path / "shop.duckdb")
    write_profiles(tmp_path, {"dev": f"type: duckdb\npath: '{tmp_path / 'shop.duckdb'}'"})
    (tmp_path / "dbt_project.yml").write_text(
        "name: p\nversion: '1.0'\nconfig-version: 2\nprofile: shopdb\nquoting: {identifier: false}\n"
    )
    with open_warehouse(project_dir=tmp_path, profiles_dir=tmp_path) as wh:
        assert isinstance(wh, ProfileWarehouse)
        assert wh.quote_policy() == {"database": True, "schema": True, "identifier": False}
        wh.execute("CREATE SCHEMA IF NOT EXISTS audit")
        wh.execute("CREATE TABLE audit.stored AS SELECT 1 AS x")
        wh.commit()
        with wh.session() as session:
            session.commit()  # type: ignore[attr-defined]
            assert session.execute("SELECT x FROM audit.stored").rows == [(1,)]
    with DbtAdapterWarehouse(project_dir=tmp_path, profiles_dir=tmp_path) as adapter:
        assert adapter.execute("SELECT x FROM audit.stored").rows == [(1,)]  # written to the file


def test_a_profile_only_dbt_renders_still_connects_directly(tmp_path: Path) -> None:
    make_db(tmp_path / "shop.duckdb")
    path = "{{ modules.re.sub('/+$', '', flags.PROFILES_DIR) }}/shop.duckdb"
    write_profiles(tmp_path, {"dev": f'type: duckdb\npath: "{path}"'})
    assert read_target(tmp_path, tmp_path, None, "shopdb", {}) is None  # `modules`: dbt renders it
    with open_warehouse(project_dir=tmp_path, profiles_dir=tmp_path, profile="shopdb") as wh:
        assert isinstance(wh, ProfileWarehouse) and wh.threads == 1
        assert wh.execute("SELECT COUNT(*) FROM shop.main.customers").rows == [(2,)]


@pytest.mark.parametrize(
    "extra",
    [
        "settings: {threads: 1}",
        "attach: [{path: ':memory:', alias: scratch}]",
        "plugins: [{module: excel}]",
        "config_options: {allow_unsigned_extensions: true}",
    ],
)
def test_a_key_outside_the_plain_set_goes_through_dbt(tmp_path: Path, extra: str) -> None:
    make_db(tmp_path / "shop.duckdb")
    write_profiles(tmp_path, {"dev": f"type: duckdb\npath: '{tmp_path / 'shop.duckdb'}'\n{extra}"})
    plain = read_target(tmp_path, tmp_path, None, "shopdb", {})
    assert plain is not None and open_duckdb(plain.fields) is None
    wh = open_warehouse(project_dir=tmp_path, profiles_dir=tmp_path, profile="shopdb")
    assert isinstance(wh, DbtAdapterWarehouse)
    wh.close()


@pytest.mark.parametrize(
    ("fields", "plain"),
    [
        ({"path": "x/shop.duckdb"}, True),
        ({"path": "x/shop.duckdb", "database": "shop", "schema": "s", "extensions": ["httpfs"]}, True),
        ({"path": "x/shop.duckdb", "database": "other"}, False),  # dbt refuses it in its words
        ({"path": "x/shop.duckdb", "schema": 5}, False),
        ({"path": "x/shop.duckdb", "keep_open": "yes"}, False),
        ({"path": ":memory:"}, False),
        ({"path": "md:my_db"}, False),
        ({"path": "x/shop.duckdb", "extensions": [{"name": "x", "repo": "r"}]}, False),
        ({"path": "x/shop.duckdb", "secrets": [{"type": "s3"}]}, False),
    ],
)
def test_duckdb_mapping(fields: dict[str, Any], plain: bool) -> None:
    assert (open_duckdb(fields) is not None) is plain


PG = {"host": "h", "user": "u", "port": 5432, "password": "p", "database": "d", "schema": "s"}


@pytest.mark.parametrize(
    ("fields", "plain"),
    [
        (PG, True),
        ({**PG, "sslmode": "disable", "search_path": "a, b", "keepalives_idle": 5, "role": "reader"}, True),
        ({**PG, "port": "5432"}, False),  # dbt's schema, not pipewatch, decides about a string port
        ({**PG, "port": True}, False),
        ({**PG, "port": 70000}, False),
        ({**PG, "role": "Mixed Case"}, False),
        ({**PG, "unknown_key": 1}, False),
        ({k: v for k, v in PG.items() if k != "password"}, False),
    ],
)
def test_postgres_mapping(fields: dict[str, Any], plain: bool) -> None:
    assert (open_postgres(fields) is not None) is plain


def test_an_unopenable_database_connects_late_with_the_profile_named(tmp_path: Path) -> None:
    write_profiles(tmp_path, {"dev": f"type: duckdb\npath: '{tmp_path / 'missing' / 'dir' / 'x.duckdb'}'"})
    wh = open_warehouse(project_dir=tmp_path, profiles_dir=tmp_path, profile="shopdb")
    assert isinstance(wh, ProfileWarehouse)
    with pytest.raises(WarehouseError) as err:
        wh.execute("SELECT 1")
    assert err.value.exit_code == 3 and not isinstance(err.value, QueryError)
    assert str(err.value).startswith("cannot connect to duckdb (profile `shopdb`, target `dev`)")
    wh.close()


@pytest.mark.postgres
def test_postgres_direct_counts_and_secrets(
    pg_shop: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = {**pg_shop.profile(SCHEMA), "password": "{{ env_var('DBT_ENV_SECRET_PW_PG') }}", "threads": 2}
    folder = tmp_path / "profiles"
    write_pg(folder, output)
    monkeypatch.setenv("DBT_ENV_SECRET_PW_PG", pg_shop.password)
    rules = parse_rules(PG_RULES, dialect="postgres")
    with open_warehouse(project_dir=tmp_path, profiles_dir=folder, profile="pgshop") as wh:
        assert isinstance(wh, ProfileWarehouse) and wh.dialect == "postgres"
        direct = run_checks(rules, wh, samples=3, threads=2)
        pid = wh.execute("SELECT pg_backend_pid()").rows[0][0]
        with pytest.raises(QueryError, match="division by zero"):
            wh.execute("SELECT 1 / 0")
        assert wh.execute("SELECT pg_backend_pid()").rows == [(pid,)]  # rolled back, same connection
        # What a test storing its failures does: write, commit; another connection sees the table.
        wh.execute(f"CREATE TABLE {SCHEMA}.pw_direct_stored AS SELECT 1 AS x")
        wh.commit()
    with psycopg2.connect(pg_shop.dsn) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT x FROM {SCHEMA}.pw_direct_stored")
        assert cur.fetchall() == [(1,)]
        cur.execute(f"DROP TABLE {SCHEMA}.pw_direct_stored")
    with DbtAdapterWarehouse(project_dir=tmp_path, profiles_dir=folder, profile="pgshop") as adapter:
        through_dbt = run_checks(rules, adapter, samples=3)
    got = {c.name: (c.status, c.failing_rows) for c in direct.checks if c.failing_rows is not None}
    assert got == PG_EXPECTED
    assert [(c.check_id, c.status, c.failing_rows, c.samples) for c in direct.checks] == [
        (c.check_id, c.status, c.failing_rows, c.samples) for c in through_dbt.checks
    ]


@pytest.mark.postgres
@pytest.mark.parametrize("secret_in", ["password", "dbname"])
def test_postgres_secrets_never_in_errors(
    pg_shop: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secret_in: str
) -> None:
    # A wrong secret password; a secret database name, which the server's message repeats.
    output = {**pg_shop.profile(SCHEMA), secret_in: "{{ env_var('DBT_ENV_SECRET_PW_PG') }}", "retries": 0}
    write_pg(tmp_path / "profiles", output)
    monkeypatch.setenv("DBT_ENV_SECRET_PW_PG", "s3cr3t-wrong-value")
    wh = open_warehouse(project_dir=tmp_path, profiles_dir=tmp_path / "profiles", profile="pgshop")
    assert isinstance(wh, ProfileWarehouse)
    with pytest.raises(WarehouseError) as err:
        wh.execute("SELECT 1")
    message = str(err.value)
    assert message.startswith("cannot connect to postgres (profile `pgshop`, target `dev`)")
    assert "s3cr3t" not in message and err.value.exit_code == 3
    wh.close()


def write_pg(folder: Path, output: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"pgshop": {"target": "dev", "outputs": {"dev": output}}}
    (folder / "profiles.yml").write_text(yaml.safe_dump(doc), encoding="utf-8")
