"""The same rules through the real dbt-postgres adapter against a real PostgreSQL server: exact counts,
one connection, failure isolation inside PostgreSQL's transactions, and an unreachable server (exit 3)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml

from pipewatch.rules import parse_rules, run_checks
from pipewatch.warehouse import QueryError
from pipewatch.warehouse.dbt_adapter import DbtAdapterWarehouse
from tests.pg_server import PgServer

pytestmark = pytest.mark.postgres

SCHEMA = "pw_check"
CHECK = "from pipewatch.commands.check import check_command; check_command(prog_name='pipewatch check')"
RULES = f"""
version: 1
tables:
  - relation: {SCHEMA}.orders
    checks:
      - not_null: [order_id, customer_id]
      - unique: order_id
      - accepted_values: {{column: status, values: [paid, open], severity: warn}}
      - range: {{column: amount, min: 0, max: 1000}}
      - matches: {{column: email, pattern: '^[^@ ]+@[^@ ]+$'}}
      - relationships: {{column: customer_id, to: {{relation: {SCHEMA}.customers}}, field: id}}
      - row_count: {{min: 1, max: 5}}
      - duplicates: {{columns: [customer_id, status]}}
      - expression: {{name: paid_has_amount, sql: "status <> 'paid' OR amount IS NOT NULL"}}
      - expression: {{name: bad_cast, sql: "CAST(status AS INTEGER) > 0"}}
      - freshness: {{column: created_at, max_age: 1d, severity: warn}}
  - relation: {SCHEMA}.orders
    where: "status = 'paid'"
    checks:
      - not_null: {{column: amount, name: paid_amount_present}}
"""
ORDERS = [
    (1, 1, "paid", 10.0, "a@x.com"),
    (2, 2, "open", None, "b@x.com"),
    (3, None, "paid", None, "nope"),
    (4, 9, "paid", -5.0, "c@x.com"),
    (5, 1, "lost", 5000.0, None),
    (2, 2, "open", 20.0, "d@x.com"),
]
EXPECTED = {
    "not_null(order_id)": ("pass", 0),
    "not_null(customer_id)": ("fail", 1),
    "unique(order_id)": ("fail", 1),
    "accepted_values(status)": ("warn", 1),
    "range(amount)": ("fail", 2),
    "matches(email)": ("fail", 1),
    f"relationships(customer_id -> {SCHEMA}.customers.id)": ("fail", 1),
    "duplicates(customer_id, status)": ("fail", 1),
    "paid_has_amount": ("fail", 1),
    "paid_amount_present": ("fail", 1),
}


@pytest.fixture(scope="module")
def pg_shop(pg_server: PgServer) -> Iterator[PgServer]:
    """The server with schema pw_check: customers (1, 2) and orders with planted violations."""
    with psycopg2.connect(pg_server.dsn) as conn, conn.cursor() as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        cur.execute(f"CREATE SCHEMA {SCHEMA}")
        cur.execute(f"CREATE TABLE {SCHEMA}.customers (id integer)")
        cur.execute(f"INSERT INTO {SCHEMA}.customers VALUES (1), (2)")
        cur.execute(
            f"CREATE TABLE {SCHEMA}.orders (order_id integer, customer_id integer, status text, "
            "amount double precision, email text, created_at timestamptz DEFAULT now() - interval '3 days')"
        )
        cur.executemany(
            f"INSERT INTO {SCHEMA}.orders (order_id, customer_id, status, amount, email) VALUES (%s, %s, %s, %s, %s)",
            ORDERS,
        )
    yield pg_server


def profiles(folder: Path, output: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"pgshop": {"target": "dev", "outputs": {"dev": output}}}
    (folder / "profiles.yml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pipewatch_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHECK, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_rules_count_exactly_through_dbt_postgres(pg_shop: PgServer, tmp_path: Path) -> None:
    folder = profiles(tmp_path, pg_shop.profile(SCHEMA))
    with DbtAdapterWarehouse(project_dir=tmp_path, profiles_dir=folder, profile="pgshop") as wh:
        assert (wh.adapter_type, wh.dialect) == ("postgres", "postgres")
        report = run_checks(parse_rules(RULES, dialect="postgres"), wh, samples=3)
    got = {c.name: (c.status, c.failing_rows) for c in report.checks if c.failing_rows is not None}
    assert got == EXPECTED
    by_name = {c.name: c for c in report.checks}
    # The bad cast errors alone with PostgreSQL's message; the checks fused with it were re-run and
    # counted, so the aborted transaction was rolled back each time.
    assert by_name["bad_cast"].status == "error"
    assert "invalid input syntax for type integer" in (by_name["bad_cast"].message or "")
    assert by_name["row_count"].status == "fail" and by_name["row_count"].total_rows == 6
    assert by_name["freshness(created_at)"].status == "warn"
    assert by_name["unique(order_id)"].samples == [{"order_id": 2, "n": 2}]
    assert {
        s["customer_id"] for s in by_name[f"relationships(customer_id -> {SCHEMA}.customers.id)"].samples
    } == {9}


def test_one_connection_for_the_run(pg_shop: PgServer, tmp_path: Path) -> None:
    folder = profiles(tmp_path, pg_shop.profile(SCHEMA))
    with DbtAdapterWarehouse(project_dir=tmp_path, profiles_dir=folder, profile="pgshop") as wh:
        pid = wh.execute("SELECT pg_backend_pid()").rows[0][0]
        with pytest.raises(QueryError, match="division by zero"):
            wh.execute("SELECT 1 / 0")
        assert wh.execute("SELECT pg_backend_pid()").rows == [(pid,)]
    with psycopg2.connect(pg_shop.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
        assert cur.fetchone() == (0,)  # closed with the warehouse


def test_pipewatch_check_on_postgres(pg_shop: PgServer, tmp_path: Path) -> None:
    folder = profiles(tmp_path / "profiles", pg_shop.profile(SCHEMA))
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES, encoding="utf-8")
    done = pipewatch_check(
        "--rules", str(rules), "--project-dir", str(tmp_path), "--profiles-dir", str(folder),
        "--profile", "pgshop", "--format", "json", "--no-history",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    quality = json.loads(done.stdout)["quality"]
    got = {c["name"]: (c["status"], c["failing_rows"]) for t in quality["tables"] for c in t["checks"]}
    assert {k: v for k, v in got.items() if k in EXPECTED} == EXPECTED
    assert quality["dialect"] == "postgres"


def test_an_unreachable_server_exits_3_with_the_reason(tmp_path: Path) -> None:
    secret = "s3cret-Pa55word"
    output = {
        "type": "postgres", "host": "127.0.0.1", "port": free_port(), "user": "pw", "password": secret,
        "dbname": "shop", "schema": "public", "threads": 1, "connect_timeout": 3, "retries": 0,
    }  # fmt: skip
    folder = profiles(tmp_path / "profiles", output)
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "version: 1\ntables:\n  - relation: public.t\n    checks:\n      - row_count: {min: 1}\n"
    )
    done = pipewatch_check(
        "--rules",
        str(rules),
        "--project-dir",
        str(tmp_path),
        "--profiles-dir",
        str(folder),
        "--profile",
        "pgshop",
    )
    assert done.returncode == 3, done.stdout + done.stderr
    err = done.stderr.strip()
    assert err.startswith("pipewatch: error: cannot connect to postgres (profile `pgshop`, target `dev`)")
    assert "Connection refused" in err and err.endswith("[transient: retry]")
    assert "Traceback" not in err and secret not in err + done.stdout
    assert len(err.splitlines()) == 1


def test_a_missing_database_exits_3(pg_shop: PgServer, tmp_path: Path) -> None:
    folder = profiles(tmp_path / "profiles", {**pg_shop.profile(SCHEMA), "dbname": "no_such_db"})
    rules = tmp_path / "rules.yml"
    rules.write_text(
        f"version: 1\ntables:\n  - relation: {SCHEMA}.orders\n    checks:\n      - row_count: {{min: 1}}\n"
    )
    done = pipewatch_check(
        "--rules",
        str(rules),
        "--project-dir",
        str(tmp_path),
        "--profiles-dir",
        str(folder),
        "--profile",
        "pgshop",
    )
    assert done.returncode == 3, done.stderr
    assert 'database "no_such_db" does not exist' in done.stderr
