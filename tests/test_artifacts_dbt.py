"""The loader on artifacts written moments ago by the installed dbt (dbt-core + dbt-duckdb, offline).

A tiny project with every kind of outcome (a runtime error, a skipped child, a failing and a warning
test, a unit test, a group owner, an exposure, a source freshness error) is built once per test run;
the loaded Run is compared with the raw JSON dbt wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pipewatch.artifacts import Run, load_run

pytestmark = pytest.mark.dbt

DBT = Path(sys.executable).parent / "dbt"

_FILES = {
    "dbt_project.yml": """
name: tiny
version: "1.0"
profile: tiny
seeds:
  tiny:
    +column_types: {loaded_at: timestamp}
""",
    "profiles.yml": """
tiny:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{target}/tiny.duckdb"
      threads: 2
""",
    "seeds/raw_orders.csv": """id,customer_id,amount,loaded_at
1,10,5.0,2020-01-01 00:00:00
2,11,,2020-01-01 00:00:00
2,12,7.5,2020-01-01 00:00:00
""",
    "seeds/raw_customers.csv": """id,name
10,ann
11,bob
12,cy
""",
    "models/stg_orders.sql": "select * from {{ ref('raw_orders') }}\n",
    "models/orders.sql": (
        "{{ config(materialized='table') }}\nselect id, customer_id, amount from {{ ref('stg_orders') }}\n"
    ),
    "models/revenue.sql": "select sum(amount) as revenue from {{ ref('orders') }}\n",
    "models/order_ids.sql": "select id from {{ ref('stg_orders') }}\n",
    # A table, so the cast runs (and fails) while dbt builds it: a real runtime data error.
    "models/broken.sql": (
        "{{ config(materialized='table') }}\n"
        "select cast(name as integer) as n from {{ ref('raw_customers') }}\n"
    ),
    "models/after_broken.sql": "select * from {{ ref('broken') }}\n",
    "models/schema.yml": """
version: 2
groups:
  - name: finance
    owner: {name: Finance Team, email: finance@example.com}
sources:
  - name: raw
    schema: main
    meta: {owner: ingest}
    freshness: {error_after: {count: 1, period: day}}
    loaded_at_field: loaded_at
    tables:
      - name: orders
        identifier: raw_orders
models:
  - name: order_ids
    columns:
      - name: id
        data_tests: [unique]
  - name: stg_orders
    columns:
      - name: amount
        data_tests:
          - not_null: {config: {severity: warn}}
  - name: orders
    config: {meta: {owner: orders-team}}
    columns:
      - name: customer_id
        data_tests:
          - relationships: {arguments: {to: "ref('raw_customers')", field: id}}
  - name: revenue
    config: {group: finance}
unit_tests:
  - name: orders_keeps_amount
    model: orders
    given:
      - input: ref('stg_orders')
        rows: [{id: 1, customer_id: 10, amount: 2.0}]
    expect:
      rows: [{id: 1, customer_id: 10, amount: 2.0}]
exposures:
  - name: dashboard
    type: dashboard
    owner: {name: BI, email: bi@example.com}
    depends_on: [ref('revenue')]
""",
}


def _dbt(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    return subprocess.run(
        [str(DBT), *args, "--project-dir", str(project), "--profiles-dir", str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def built_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not DBT.exists():
        pytest.skip("dbt is not installed in this environment")
    project = tmp_path_factory.mktemp("tiny_dbt")
    target = project / "target"
    for name, content in _FILES.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content.replace("{target}", str(target)).lstrip(), encoding="utf-8")
    seeded = _dbt(project, "seed")
    assert seeded.returncode == 0, seeded.stdout[-3000:]
    # Freshness first: every dbt invocation rewrites manifest.json, and the manifest must be
    # the build's to pair with its run_results.
    freshness = _dbt(project, "source", "freshness")
    assert (target / "sources.json").exists(), freshness.stdout[-3000:]
    built = _dbt(project, "build")
    assert built.returncode == 1, built.stdout[-3000:]  # the planted failures, not a crash
    return target


@pytest.fixture(scope="module")
def run(built_target: Path) -> Run:
    return load_run(built_target)


def _raw(target: Path, name: str) -> Any:
    return json.loads((target / name).read_text(encoding="utf-8"))


def test_run_matches_what_dbt_wrote(run: Run, built_target: Path) -> None:
    raw_results = _raw(built_target, "run_results.json")
    raw_manifest = _raw(built_target, "manifest.json")
    assert run.warnings == []
    assert run.invocation_id == raw_results["metadata"]["invocation_id"]
    assert run.command == "build" and run.adapter_type == "duckdb" and run.project_name == "tiny"
    assert run.schema_versions == {"manifest": 12, "run_results": 6, "sources": 3}
    assert [r.unique_id for r in run.results] == [r["unique_id"] for r in raw_results["results"]]
    raw_statuses = Counter(r["status"] for r in raw_results["results"])
    assert Counter(r.status for r in run.results) == raw_statuses
    raw_ids: set[str] = set()
    for section in ("nodes", "sources", "exposures", "metrics", "semantic_models", "unit_tests"):
        raw_ids.update(raw_manifest.get(section) or {})
    assert set(run.nodes) == raw_ids


def test_outcomes(run: Run) -> None:
    status = {r.unique_id: r.status for r in run.results}
    assert status["model.tiny.broken"] == "error"
    assert status["model.tiny.after_broken"] == "skipped"
    assert status["model.tiny.orders"] == status["model.tiny.revenue"] == "success"
    unique = next(uid for uid in status if uid.startswith("test.tiny.unique_order_ids_id"))
    not_null = next(uid for uid in status if uid.startswith("test.tiny.not_null_stg_orders_amount"))
    assert status[unique] == "fail" and status[not_null] == "warn"
    assert status["unit_test.tiny.orders.orders_keeps_amount"] == "pass"
    broken = next(r for r in run.results if r.unique_id == "model.tiny.broken")
    assert broken.message and "Conversion Error" in broken.message
    failed_test = next(r for r in run.results if r.unique_id == unique)
    assert failed_test.failures == 1
    orders = next(r for r in run.results if r.unique_id == "model.tiny.orders")
    assert orders.execute_started and orders.execute_completed and orders.thread_id
    assert orders.execute_completed >= orders.execute_started


def test_nodes(run: Run) -> None:
    orders = run.nodes["model.tiny.orders"]
    assert orders.owner == "orders-team" and orders.materialization == "table"
    assert orders.relation is not None and orders.relation.endswith("main.orders")
    assert run.nodes["model.tiny.revenue"].owner == "finance@example.com"
    assert run.nodes["source.tiny.raw.orders"].owner == "ingest"
    assert run.nodes["exposure.tiny.dashboard"].owner == "bi@example.com"
    assert run.nodes["unit_test.tiny.orders.orders_keeps_amount"].resource_type == "unit_test"
    assert list(run.groups.values()) == ["finance@example.com"]
    relationships = next(n for n in run.nodes.values() if n.name.startswith("relationships_orders"))
    assert relationships.test is not None
    assert relationships.test.attached_node == "model.tiny.orders"
    assert relationships.test.column_name == "customer_id"
    not_null = next(n for n in run.nodes.values() if n.name == "not_null_stg_orders_amount")
    assert not_null.test is not None and not_null.test.severity == "warn"
    assert run.parent_map is not None
    assert "model.tiny.broken" in run.parent_map["model.tiny.after_broken"]


def test_disabled_is_a_frozenset(run: Run) -> None:
    assert run.disabled == frozenset() and isinstance(run.disabled, frozenset)


def test_freshness(run: Run) -> None:
    [fresh] = run.freshness
    assert fresh.unique_id == "source.tiny.raw.orders"
    assert fresh.status == "error" and fresh.error_after_s == 86400.0
    assert fresh.age_s is not None and fresh.age_s > 86400
