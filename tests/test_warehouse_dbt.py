"""Checks through a dbt profile with the real dbt-duckdb adapter in-process: counts, one connection, errors."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import sqlglot

from pipewatch.errors import ConfigError, WarehouseError
from pipewatch.rules import parse_rules, run_checks
from pipewatch.warehouse import QueryError, open_warehouse
from pipewatch.warehouse.dbt_adapter import DbtAdapterWarehouse, dbt_message, profiles_dir_for, redact
from pipewatch.warehouse.dialects import ADAPTER_DIALECTS, dialect_for
from pipewatch.warehouse.direct import ProfileWarehouse
from pipewatch.warehouse.duckdb import DuckDBWarehouse

RULES = """
version: 1
tables:
  - relation: shop.main.orders
    checks:
      - not_null: [order_id, customer_id]
      - unique: order_id
      - accepted_values: {column: status, values: [paid, open], severity: warn}
      - range: {column: amount, min: 0, max: 1000}
      - matches: {column: email, pattern: '^[^@ ]+@[^@ ]+$'}
      - relationships: {column: customer_id, to: {relation: shop.main.customers}, field: id}
      - row_count: {min: 1, max: 5}
      - duplicates: {columns: [customer_id, status]}
      - expression: {name: paid_has_amount, sql: "status <> 'paid' OR amount IS NOT NULL"}
      - expression: {name: bad_cast, sql: "CAST(status AS INTEGER) > 0"}
"""
# order 1 ok; 2 dup id; 3 NULL customer, bad email; 4 orphan 9, amount -5; 5 bad status, amount 5000;
# 2 again (duplicate id, same customer/status as the first 2: one duplicated key)
ORDERS = [
    (1, 1, "paid", 10.0, "a@x.com"),
    (2, 2, "open", None, "b@x.com"),
    (3, None, "paid", None, "nope"),
    (4, 9, "paid", -5.0, "c@x.com"),
    (5, 1, "lost", 5000.0, None),
    (2, 2, "open", 20.0, "d@x.com"),
]
EXPECTED = {
    "not_null(order_id)": 0,
    "not_null(customer_id)": 1,
    "unique(order_id)": 1,
    "accepted_values(status)": 1,
    "range(amount)": 2,
    "matches(email)": 1,
    "relationships(customer_id -> shop.main.customers.id)": 1,
    "duplicates(customer_id, status)": 1,
    "paid_has_amount": 1,
}


def make_db(path: Path) -> Path:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers (id INTEGER)")
    con.execute("INSERT INTO customers VALUES (1), (2)")
    con.execute(
        "CREATE TABLE orders (order_id INTEGER, customer_id INTEGER, status VARCHAR, amount DOUBLE, email VARCHAR)"
    )
    con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", ORDERS)
    con.close()
    return path


def write_profiles(folder: Path, outputs: dict[str, str], profile: str = "shopdb") -> Path:
    lines = [f"{profile}:", "  target: dev", "  outputs:"]
    for target, body in outputs.items():
        lines += [f"    {target}:", *(f"      {line}" for line in body.strip().splitlines())]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "profiles.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture()
def shop(tmp_path: Path) -> Path:
    """A folder with shop.duckdb and a profiles.yml (profile `shopdb`, targets dev and other)."""
    make_db(tmp_path / "shop.duckdb")
    write_profiles(
        tmp_path,
        {
            "dev": f"type: duckdb\npath: '{tmp_path / 'shop.duckdb'}'\nthreads: 1",
            "other": f"type: duckdb\npath: '{tmp_path / 'other.duckdb'}'",
        },
    )
    return tmp_path


def test_rules_count_exactly_through_the_dbt_duckdb_adapter(shop: Path) -> None:
    rules = parse_rules(RULES)
    with DbtAdapterWarehouse(project_dir=shop, profiles_dir=shop, profile="shopdb") as wh:
        assert (wh.adapter_type, wh.dialect, wh.target_name) == ("duckdb", "duckdb", "dev")
        report = run_checks(rules, wh, samples=2)
    got = {c.name: c.failing_rows for c in report.checks if c.failing_rows is not None}
    assert got == EXPECTED
    by_name = {c.name: c for c in report.checks}
    assert by_name["row_count"].status == "fail" and by_name["row_count"].total_rows == 6
    assert by_name["accepted_values(status)"].status == "warn"
    # One bad expression errors alone, with DuckDB's own message; every other check still counted.
    assert by_name["bad_cast"].status == "error" and "Could not convert" in (
        by_name["bad_cast"].message or ""
    )
    assert by_name["unique(order_id)"].samples == [{"order_id": 2, "n": 2}]
    with DuckDBWarehouse(shop / "shop.duckdb") as native:
        again = run_checks(rules, native, samples=2)
    assert [(c.check_id, c.status, c.failing_rows) for c in again.checks] == [
        (c.check_id, c.status, c.failing_rows) for c in report.checks
    ]


def test_one_connection_for_the_whole_run(shop: Path) -> None:
    with DbtAdapterWarehouse(project_dir=shop, profiles_dir=shop, profile="shopdb") as wh:
        # A temp table lives only on the connection that made it: every statement uses the same one.
        wh.execute("CREATE TEMP TABLE pw_probe AS SELECT 42 AS answer")
        assert wh.execute("SELECT answer FROM pw_probe").rows == [(42,)]
        # A failed statement is rolled back (the probe with it) and the connection goes on working.
        with pytest.raises(QueryError, match="no_such_column"):
            wh.execute("SELECT no_such_column FROM pw_probe")
        assert wh.execute("SELECT 7").rows == [(7,)]
        parsed = sqlglot.parse_one("SELECT COUNT(*) AS n FROM shop.main.orders", read="duckdb")
        got = wh.execute(parsed)
        assert (got.columns, got.rows) == (["n"], [(6,)])


def test_the_database_file_is_released_on_close(shop: Path) -> None:
    with DbtAdapterWarehouse(project_dir=shop, profiles_dir=shop, profile="shopdb") as wh:
        wh.execute("SELECT 1")
    con = duckdb.connect(str(shop / "shop.duckdb"))  # a writer: fails while another process holds it
    con.execute("INSERT INTO customers VALUES (3)")
    con.close()


def test_targets_and_profiles_are_picked_as_dbt_picks_them(
    shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_db(shop / "other.duckdb")
    wh = DbtAdapterWarehouse(project_dir=shop, profiles_dir=shop, profile="shopdb", target="other")
    assert wh.target_name == "other"
    monkeypatch.setenv("DBT_TARGET", "other")
    monkeypatch.setenv("DBT_PROFILES_DIR", str(shop))
    monkeypatch.setenv("DBT_PROFILE", "shopdb")
    from_env = DbtAdapterWarehouse(project_dir=shop)
    assert (from_env.profile_name, from_env.target_name) == ("shopdb", "other")
    assert profiles_dir_for(None) == shop
    monkeypatch.delenv("DBT_PROFILES_DIR")
    monkeypatch.chdir(shop)
    assert profiles_dir_for(None) == shop  # the current directory holds a profiles.yml


def test_a_dbt_project_names_its_profile(shop: Path) -> None:
    project = shop / "proj"
    project.mkdir()
    (project / "dbt_project.yml").write_text(
        "name: p\nversion: '1.0'\nconfig-version: 2\nprofile: shopdb\n", encoding="utf-8"
    )
    wh = open_warehouse(project_dir=project, profiles_dir=shop)
    assert isinstance(wh, ProfileWarehouse) and wh.profile_name == "shopdb"  # opened by its driver
    try:
        assert wh.execute("SELECT COUNT(*) FROM shop.main.customers").rows == [(2,)]
    finally:
        wh.close()
    native = open_warehouse(duckdb=shop / "shop.duckdb", project_dir=project, profiles_dir=shop)
    assert isinstance(native, DuckDBWarehouse)
    native.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"profiles_dir": "nowhere"}, "no dbt profiles file"),
        ({"profile": "nope"}, "Could not find profile named 'nope'"),
        ({"profile": "shopdb", "target": "prod"}, "does not have a target named 'prod'"),
        ({}, "no dbt_project.yml to name the profile"),
    ],
)
def test_profile_problems_are_input_errors(shop: Path, kwargs: dict[str, str], message: str) -> None:
    options = {"project_dir": shop, "profiles_dir": shop, **kwargs}
    with pytest.raises(ConfigError) as err:
        DbtAdapterWarehouse(**options)  # type: ignore[arg-type]
    assert message in str(err.value) and err.value.exit_code == 2
    assert "\n" not in str(err.value)


def test_an_unopenable_database_is_a_warehouse_error(tmp_path: Path) -> None:
    write_profiles(tmp_path, {"dev": f"type: duckdb\npath: '{tmp_path / 'missing' / 'dir' / 'x.duckdb'}'"})
    wh = DbtAdapterWarehouse(project_dir=tmp_path, profiles_dir=tmp_path, profile="shopdb")
    with pytest.raises(WarehouseError) as err:
        wh.execute("SELECT 1")
    assert err.value.exit_code == 3 and not isinstance(err.value, QueryError)
    assert "cannot connect to duckdb (profile `shopdb`, target `dev`)" in str(err.value)
    assert str(err.value).endswith("]")  # the triage category and action close the message
    wh.close()


def test_every_adapter_maps_to_a_sqlglot_dialect() -> None:
    for adapter, dialect in ADAPTER_DIALECTS.items():
        assert sqlglot.Dialect.get_or_raise(dialect) is not None, adapter
    assert dialect_for("Snowflake") == "snowflake" and dialect_for("databricks") == "databricks"
    with pytest.raises(ConfigError, match="no SQL dialect"):
        dialect_for("cobol")


def test_messages_never_carry_secrets() -> None:
    assert redact("auth failed for hunter2 (hunter2)", ["hunter2"]) == "auth failed for *** (***)"

    class Fake(Exception):
        msg = "Database Error\n  relation   x\n does not exist"

    assert dbt_message(Fake()) == "relation x does not exist"
