"""The artifact loader on hand-written artifacts: field mapping, version leniency and bad input.

Each bad input must end as one `ArtifactError` line naming the file (exit code 2), and each
inconsistency that still allows a useful result as a warning on the Run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipewatch.artifacts import (
    decode_manifest,
    decode_run_results,
    load_manifest,
    load_run,
    load_run_results,
    load_sources,
    normalize_status,
)
from pipewatch.artifacts.stubs import split_relation, stub_node
from pipewatch.artifacts.timestamps import _parse_slowly, to_posix
from pipewatch.errors import EXIT_INPUT, ArtifactError

MANIFEST_V12 = "https://schemas.getdbt.com/dbt/manifest/v12.json"
RESULTS_V6 = "https://schemas.getdbt.com/dbt/run-results/v6.json"
SOURCES_V3 = "https://schemas.getdbt.com/dbt/sources/v3.json"
INVOCATION = "11111111-2222-3333-4444-555555555555"


def artifacts_model(name: str, parents: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """A v12-shaped model node with the fields dbt always writes."""
    node: dict[str, Any] = {
        "database": "analytics",
        "schema": "main",
        "name": name,
        "resource_type": "model",
        "package_name": "shop",
        "path": f"marts/{name}.sql",
        "original_file_path": f"models/marts/{name}.sql",
        "unique_id": f"model.shop.{name}",
        "alias": name,
        "config": {"enabled": True, "materialized": "table", "meta": {}, "tags": []},
        "tags": [],
        "meta": {},
        "depends_on": {"macros": [], "nodes": parents or []},
        "raw_code": "select 1",
        "columns": {},
    }
    node.update(extra)
    return node


def artifacts_test(name: str, parents: list[str], **extra: Any) -> dict[str, Any]:
    node = artifacts_model(name, parents)
    node.update(resource_type="test", unique_id=f"test.shop.{name}.abc123", alias=name)
    node["config"] = {"enabled": True, "materialized": "test", "severity": "ERROR", "meta": {}}
    node.update(extra)
    return node


def artifacts_manifest(**sections: Any) -> dict[str, Any]:
    orders = artifacts_model("orders", ["source.shop.raw.orders"])
    customers = artifacts_model("customers", ["model.shop.orders"])
    manifest: dict[str, Any] = {
        "metadata": {
            "dbt_schema_version": MANIFEST_V12,
            "dbt_version": "1.11.2",
            "generated_at": "2026-01-02T03:04:05.500000Z",
            "invocation_id": INVOCATION,
            "adapter_type": "duckdb",
            "project_name": "shop",
        },
        "nodes": {orders["unique_id"]: orders, customers["unique_id"]: customers},
        "sources": {
            "source.shop.raw.orders": {
                "database": "analytics",
                "schema": "raw",
                "name": "orders",
                "resource_type": "source",
                "package_name": "shop",
                "original_file_path": "models/sources.yml",
                "identifier": "raw_orders",
                "source_meta": {"owner": "ingest-team"},
                "meta": {},
                "config": {"enabled": True},
            }
        },
        "macros": {"macro.shop.m": {"macro_sql": "{% macro m() %}{% endmacro %}"}},
        "docs": {},
        "exposures": {},
        "groups": {},
        "disabled": {},
        "parent_map": {},
        "child_map": {},
    }
    manifest.update(sections)
    return manifest


def artifacts_result(unique_id: str, status: str = "success", **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "status": status,
        "timing": [
            {"name": "compile", "started_at": "2026-01-02T03:04:00Z", "completed_at": "2026-01-02T03:04:01Z"},
            {
                "name": "execute",
                "started_at": "2026-01-02T03:04:01Z",
                "completed_at": "2026-01-02T03:04:03.5Z",
            },
        ],
        "thread_id": "Thread-1 (worker)",
        "execution_time": 3.5,
        "adapter_response": {"_message": "OK", "code": "SELECT", "rows_affected": 7, "query_id": "q-1"},
        "message": None,
        "failures": None,
        "unique_id": unique_id,
        "compiled": True,
        "compiled_code": "select 1",
        "relation_name": '"analytics"."main"."x"',
        "batch_results": None,
    }
    result.update(extra)
    return result


def artifacts_run_results(results: list[dict[str, Any]] | None = None, **top: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "metadata": {
            "dbt_schema_version": RESULTS_V6,
            "dbt_version": "1.11.2",
            "generated_at": "2026-01-02T03:05:00Z",
            "invocation_id": INVOCATION,
            "invocation_started_at": "2026-01-02T03:03:59Z",
            "env": {},
        },
        "results": results if results is not None else [artifacts_result("model.shop.orders")],
        "elapsed_time": 12.25,
        "args": {"which": "build", "select": ["orders+"], "target": "dev", "vars": {}},
    }
    document.update(top)
    return document


def write_json(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def assert_one_line(error: ArtifactError, path: Path | str) -> None:
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert error.exit_code == EXIT_INPUT


# --- field mapping -------------------------------------------------------------------------


def test_run_from_target_dir(tmp_path: Path) -> None:
    write_json(tmp_path / "manifest.json", artifacts_manifest())
    write_json(
        tmp_path / "run_results.json",
        artifacts_run_results(
            [artifacts_result("model.shop.orders"), artifacts_result("model.shop.customers", "Runtime Error")]
        ),
    )
    run = load_run(tmp_path)
    assert run.warnings == []
    assert (run.command, run.select, run.target) == ("build", ("orders+",), "dev")
    assert run.schema_versions == {"manifest": 12, "run_results": 6}
    assert (run.adapter_type, run.project_name, run.dbt_version) == ("duckdb", "shop", "1.11.2")
    assert run.generated_at == to_posix("2026-01-02T03:05:00Z")
    assert run.elapsed_time == 12.25
    orders, customers = run.results
    assert customers.status == "error"
    assert orders.execute_completed is not None and orders.execute_started is not None
    assert orders.execute_completed - orders.execute_started == pytest.approx(2.5)
    assert orders.started == orders.compile_started
    assert orders.adapter_response.rows_affected == 7 and orders.adapter_response.query_id == "q-1"
    assert orders.relation_name == '"analytics"."main"."x"'
    node = run.nodes["model.shop.orders"]
    assert node.relation == "analytics.main.orders"
    assert node.depends_on == ("source.shop.raw.orders",)
    assert node.owner is None
    source = run.nodes["source.shop.raw.orders"]
    assert source.relation == "analytics.raw.raw_orders"  # sources are named by identifier
    assert source.owner == "ingest-team"  # from the source-level meta


def test_owner_precedence(tmp_path: Path) -> None:
    both = artifacts_model("both", meta={"owner": "node-meta"})
    both["config"]["meta"] = {"owner": "config-meta"}
    only_meta = artifacts_model("only_meta", meta={"owner": ["ann", {"name": "bob"}]})
    grouped = artifacts_model("grouped", group="finance")
    grouped_by_email = artifacts_model("grouped_by_email", config={"group": "ops", "materialized": "view"})
    exposure = {
        "name": "dash",
        "resource_type": "exposure",
        "package_name": "shop",
        "original_file_path": "models/exposures.yml",
        "owner": {"name": "Dana", "email": "dana@example.com"},
        "depends_on": {"nodes": ["model.shop.both"]},
    }
    groups = {
        "group.shop.finance": {"name": "finance", "owner": {"name": "Finance Team", "email": "fin@x"}},
        "group.shop.ops": {"name": "ops", "owner": {"email": "ops@x"}},
    }
    nodes = {n["unique_id"]: n for n in (both, only_meta, grouped, grouped_by_email)}
    manifest = load_manifest(
        write_json(
            tmp_path / "m.json",
            artifacts_manifest(nodes=nodes, exposures={"exposure.shop.dash": exposure}, groups=groups),
        )
    )
    owners = {uid.split(".")[-1]: n.owner for uid, n in manifest.nodes.items()}
    assert owners["both"] == "config-meta"
    assert owners["only_meta"] == "ann, bob"
    # Emails win over display names: routing rules and Slack handle maps key on them.
    assert owners["grouped"] == "fin@x"
    assert owners["grouped_by_email"] == "ops@x"
    assert owners["dash"] == "dana@example.com"
    assert manifest.groups == {"group.shop.finance": "fin@x", "group.shop.ops": "ops@x"}
    assert manifest.nodes["model.shop.grouped"].group == "finance"
    assert manifest.nodes["model.shop.both"].meta == {"owner": "config-meta"}
    assert manifest.nodes["exposure.shop.dash"].depends_on == ("model.shop.both",)


def test_test_info(tmp_path: Path) -> None:
    not_null = artifacts_test(
        "not_null_orders_id",
        ["model.shop.orders"],
        column_name="id",
        test_metadata={"name": "not_null", "namespace": None, "kwargs": {"column_name": "id"}},
    )
    not_null["config"].update(severity="WARN", where="id > 0", fail_calc="count(*)", warn_if=">10")
    relationships = artifacts_test(
        "relationships_orders_customer_id",
        ["model.shop.customers", "model.shop.orders"],
        test_metadata={
            "name": "relationships",
            "kwargs": {
                "column_name": "customer_id",
                "to": "ref('customers')",
                "field": "id",
                "model": "{{ get_where_subquery(ref('orders')) }}",
            },
        },
    )
    expression = artifacts_test(
        "expression_is_true_orders",
        ["model.shop.orders"],
        attached_node="model.shop.orders",
        test_metadata={
            "name": "expression_is_true",
            "namespace": "dbt_utils",
            "kwargs": {"expression": "a > 0"},
        },
    )
    singular = artifacts_test("assert_positive", ["model.shop.orders", "model.shop.customers"])
    tests = {t["unique_id"]: t for t in (not_null, relationships, expression, singular)}
    manifest = decode_manifest(json.dumps(artifacts_manifest(nodes=tests)).encode())
    info = {uid.split(".")[2]: n.test for uid, n in manifest.nodes.items()}
    first = info["not_null_orders_id"]
    assert first is not None
    assert (first.name, first.namespace, first.column_name, first.generic) == ("not_null", None, "id", True)
    assert (first.severity, first.where, first.fail_calc, first.warn_if) == (
        "warn",
        "id > 0",
        "count(*)",
        ">10",
    )
    assert first.attached_node == "model.shop.orders"  # the only parent
    rel = info["relationships_orders_customer_id"]
    assert rel is not None and rel.attached_node == "model.shop.orders"  # from the `model` kwarg
    assert rel.column_name == "customer_id" and rel.kwargs["field"] == "id"
    expr = info["expression_is_true_orders"]
    assert expr is not None and expr.namespace == "dbt_utils" and expr.column_name is None
    single = info["assert_positive"]
    assert single is not None
    assert (single.generic, single.name, single.attached_node, single.severity) == (
        False,
        "assert_positive",
        None,  # two parents and no test metadata: not guessed
        "error",
    )


def test_disabled_unit_tests_and_drifted_shapes(tmp_path: Path) -> None:
    drifted = artifacts_model("drifted", depends_on=["model.shop.orders"], tags="nightly")
    drifted["config"]["tags"] = ["nightly", "finance"]
    unit_test = {
        "model": "orders",
        "name": "test_orders",
        "resource_type": "unit_test",
        "package_name": "shop",
        "original_file_path": "models/orders.yml",
        "depends_on": {"macros": [], "nodes": ["model.shop.orders"]},
        "config": {"tags": [], "meta": {}, "enabled": True},
    }
    document = artifacts_manifest(
        nodes={"model.shop.drifted": drifted},
        unit_tests={"unit_test.shop.orders.test_orders": unit_test},
        functions={},
        disabled={
            "model.shop.old": [artifacts_model("old")],
            "model.shop.drifted": [artifacts_model("drifted")],
        },
        parent_map={"model.shop.drifted": ["model.shop.orders"]},
        child_map={"model.shop.orders": ["model.shop.drifted"]},
        future_section={"anything": [1, 2, {"x": None}]},
    )
    manifest = load_manifest(write_json(tmp_path / "manifest.json", document))
    node = manifest.nodes["model.shop.drifted"]
    assert node.depends_on == ("model.shop.orders",)
    assert node.tags == ("nightly", "finance")
    assert manifest.nodes["unit_test.shop.orders.test_orders"].resource_type == "unit_test"
    assert manifest.disabled == frozenset({"model.shop.old"})  # an enabled version wins
    assert manifest.parent_map == {"model.shop.drifted": ("model.shop.orders",)}
    assert manifest.child_map == {"model.shop.orders": ("model.shop.drifted",)}
    run = load_run(tmp_path)
    assert run.disabled == frozenset({"model.shop.old"})


def test_v1_to_v3_disabled_is_a_list() -> None:
    document = artifacts_manifest(disabled=[artifacts_model("legacy")])
    document["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v3.json"
    assert decode_manifest(json.dumps(document).encode()).disabled == frozenset({"model.shop.legacy"})


def test_statuses_are_normalized_and_newcomers_kept() -> None:
    statuses = [
        "Success",
        "RUNTIME ERROR",
        "partial success",
        "no-op",
        "reused",
        "Brand New Status",
        "skipped",
    ]
    results = [artifacts_result(f"model.shop.m{i}", s) for i, s in enumerate(statuses)]
    loaded = decode_run_results(json.dumps(artifacts_run_results(results)).encode())
    assert [r.status for r in loaded.results] == [
        "success",
        "error",
        "partial success",
        "no-op",
        "reused",
        "brand new status",
        "skipped",
    ]
    assert normalize_status(None) == "unknown"


def test_results_tolerate_nulls_and_old_args() -> None:
    sparse: dict[str, Any] = {
        "unique_id": "model.shop.orders",
        "status": "error",
        "message": None,
        "timing": [],
        "thread_id": None,
    }
    sparse.update(adapter_response={}, failures=None, execution_time=None)
    document = artifacts_run_results([sparse], args={"rpc_method": "run", "models": "orders customers"})
    loaded = decode_run_results(json.dumps(document).encode())
    [result] = loaded.results
    assert (result.status, result.message, result.execution_time, result.thread_id) == (
        "error",
        None,
        0.0,
        None,
    )
    assert result.adapter_response.rows_affected is None and result.compile_started is None
    assert (loaded.command, loaded.select, loaded.target) == ("run", ("orders", "customers"), None)


def test_negative_rows_affected_means_unknown() -> None:
    result = artifacts_result(
        "model.shop.orders", adapter_response={"_message": "CREATE VIEW", "rows_affected": -1}
    )
    [loaded] = decode_run_results(json.dumps(artifacts_run_results([result])).encode()).results
    assert loaded.adapter_response.rows_affected is None
    assert loaded.adapter_response.message == "CREATE VIEW"


def test_pre_v1_results_embed_their_node(tmp_path: Path) -> None:
    """dbt <= 0.18: no metadata, the whole node inside each result, outcome in error/skip/fail/warn."""

    def legacy(unique_id: str, resource_type: str, status: Any, **flags: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "node": {"unique_id": unique_id, "resource_type": resource_type, "compiled_sql": "select 1"},
            "error": None,
            "status": status,
            "execution_time": 0.5,
            "thread_id": "Thread-1",
            "timing": [],
            "fail": None,
            "warn": None,
            "skip": False,
        }
        entry.update(flags)
        return entry

    document = {
        "results": [
            legacy("model.shop.orders", "model", "CREATE VIEW"),
            legacy("model.shop.broken", "model", None, error="Database Error: boom"),
            legacy("model.shop.child", "model", None, skip=True),
            legacy("test.shop.not_null_orders_id", "test", 3, fail=True),
            legacy("test.shop.unique_orders_id", "test", 0),
            legacy("test.shop.warned", "test", 2, warn=True),
        ],
        "generated_at": "2020-10-01T10:00:00.000000Z",
        "elapsed_time": 3.0,
    }
    loaded = load_run_results(write_json(tmp_path / "run_results.json", document))
    assert loaded.schema_version == 0 and loaded.warnings == []
    summary = [(r.unique_id.split(".")[-1], r.status, r.failures) for r in loaded.results]
    assert summary == [
        ("orders", "success", None),
        ("broken", "error", None),
        ("child", "skipped", None),
        ("not_null_orders_id", "fail", 3),
        ("unique_orders_id", "pass", 0),
        ("warned", "warn", 2),
    ]
    assert loaded.results[0].message == "CREATE VIEW"
    assert loaded.results[1].message == "Database Error: boom"
    assert loaded.results[0].compiled_code == "select 1"
    assert loaded.generated_at == to_posix("2020-10-01T10:00:00Z")


def test_legacy_sources_mapping(tmp_path: Path) -> None:
    """dbt <= 0.16 wrote sources.json as a mapping of unique id -> freshness state."""
    document = {
        "meta": {"generated_at": "2020-01-01T00:00:00Z", "elapsed_time": 1.5},
        "sources": {
            "source.shop.raw.orders": {
                "max_loaded_at": "2019-12-31T00:00:00+00:00",
                "snapshotted_at": "2020-01-01T00:00:00+00:00",
                "max_loaded_at_time_ago_in_s": 86400.0,
                "state": "warn",
                "criteria": {
                    "warn_after": {"count": 12, "period": "hour"},
                    "error_after": {"count": 2, "period": "day"},
                },
            }
        },
    }
    loaded = load_sources(write_json(tmp_path / "sources.json", document))
    [fresh] = loaded.results
    assert (fresh.unique_id, fresh.status, fresh.age_s) == ("source.shop.raw.orders", "warn", 86400.0)
    assert (fresh.warn_after_s, fresh.error_after_s) == (43200.0, 172800.0)
    assert fresh.snapshotted_at is not None and fresh.max_loaded_at is not None
    assert fresh.snapshotted_at - fresh.max_loaded_at == 86400.0
    assert loaded.elapsed_time == 1.5


def test_freshness_in_a_run(tmp_path: Path) -> None:
    write_json(tmp_path / "manifest.json", artifacts_manifest())
    write_json(tmp_path / "run_results.json", artifacts_run_results())
    write_json(
        tmp_path / "sources.json",
        {
            "metadata": {"dbt_schema_version": SOURCES_V3, "invocation_id": "other"},
            "results": [
                {"unique_id": "source.shop.raw.orders", "status": "runtime error", "error": "no such table"},
                {"unique_id": "source.shop.raw.unknown", "status": "pass"},
            ],
            "elapsed_time": 1.0,
        },
    )
    run = load_run(tmp_path)
    assert [(f.status, f.message) for f in run.freshness] == [("error", "no such table"), ("pass", None)]
    assert run.schema_versions["sources"] == 3
    assert run.nodes["source.shop.raw.unknown"].resource_type == "source"
    assert any("source.shop.raw.unknown" in w for w in run.warnings)


# --- timestamps and stubs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-03-12T10:58:23.756323Z", 1615546703.756323),
        ("2021-03-12T10:58:23.756323+00:00", 1615546703.756323),
        ("2021-03-12T10:58:23.756323", 1615546703.756323),  # naive: UTC by dbt's convention
        ("2021-03-12 10:58:23", 1615546703.0),
        ("2021-03-12T12:58:23+02:00", 1615546703.0),
        ("2026-06-14T16:55:19.479947332Z", 1781456119.479947),  # dbt Fusion: nanoseconds
        ("2021-05-31T00:00:28+00:00", 1622419228.0),
    ],
)
def test_timestamps(text: str, expected: float) -> None:
    assert to_posix(text) == pytest.approx(expected, abs=1e-6)
    assert _parse_slowly(text) == pytest.approx(expected, abs=1e-6)  # the Python 3.10 path


@pytest.mark.parametrize(
    "text", [None, "", "yesterday", "2021-13-45T00:00:00Z", "2021-02-30T25:00:00Z", "0000-01-01"]
)
def test_bad_timestamps_are_none(text: str | None) -> None:
    assert to_posix(text) is None


def test_stub_nodes_from_unique_ids() -> None:
    cases = {
        "model.shop.orders": ("model", "shop", "orders"),
        "model.shop.orders.v2": ("model", "shop", "orders"),
        "test.shop.not_null_orders_id.43e0e9183a": ("test", "shop", "not_null_orders_id"),
        "source.shop.raw.orders": ("source", "shop", "orders"),
        "unit_test.shop.orders.test_orders": ("unit_test", "shop", "test_orders"),
        "operation.shop.shop-on-run-end-0": ("operation", "shop", "shop-on-run-end-0"),
        "weird": ("unknown", "", "weird"),
    }
    for unique_id, expected in cases.items():
        node = stub_node(unique_id)
        assert (node.resource_type, node.package, node.name) == expected
    assert stub_node("model.shop.orders", '"db"."main"."orders"').relation == "db.main.orders"
    assert split_relation("`proj`.`dataset`.`t`") == ("proj", "dataset", "t")
    assert split_relation("DB.RAW.my_model") == ("DB", "RAW", "my_model")
    assert split_relation("[db].[dbo].[t]") == ("db", "dbo", "t")
    assert split_relation("main.t") == (None, "main", "t")
    assert split_relation('"a"x') == (None, None, None)
    assert split_relation("a.b.c.d") == (None, None, None)


# --- runs with missing or inconsistent parts ------------------------------------------------


def test_run_results_without_manifest(tmp_path: Path) -> None:
    write_json(
        tmp_path / "run_results.json",
        artifacts_run_results(
            [
                artifacts_result("model.shop.orders", relation_name='"analytics"."main"."orders"'),
                artifacts_result("test.shop.not_null_orders_id.abc", "fail", failures=3),
            ]
        ),
    )
    run = load_run(tmp_path)
    assert len(run.results) == 2 and set(run.nodes) == {r.unique_id for r in run.results}
    assert run.nodes["model.shop.orders"].relation == "analytics.main.orders"
    assert run.nodes["test.shop.not_null_orders_id.abc"].resource_type == "test"
    assert run.schema_versions == {"run_results": 6}
    assert [w for w in run.warnings if "no manifest.json" in w]
    assert run.invocation_id == INVOCATION and run.command == "build"


def test_manifest_without_run_results(tmp_path: Path) -> None:
    write_json(tmp_path / "manifest.json", artifacts_manifest())
    run = load_run(tmp_path)
    assert run.results == [] and len(run.nodes) == 3
    assert run.generated_at == to_posix("2026-01-02T03:04:05.5Z")
    assert run.invocation_id == INVOCATION and run.command is None
    assert [w for w in run.warnings if "no run_results.json" in w]


def test_different_invocations_warn(tmp_path: Path) -> None:
    write_json(tmp_path / "manifest.json", artifacts_manifest())
    results = artifacts_run_results()
    results["metadata"]["invocation_id"] = "99999999-0000-0000-0000-000000000000"
    write_json(tmp_path / "run_results.json", results)
    run = load_run(tmp_path)
    [warning] = run.warnings
    assert "99999999-0000-0000-0000-000000000000" in warning and INVOCATION in warning
    assert "\n" not in warning
    assert run.invocation_id == "99999999-0000-0000-0000-000000000000"


def test_ids_missing_from_manifest_collapse_into_one_warning(tmp_path: Path) -> None:
    write_json(tmp_path / "manifest.json", artifacts_manifest())
    results = [artifacts_result(f"model.shop.ghost_{i}") for i in range(7)]
    results.append(artifacts_result("macro.shop.grant_select"))  # run-operation: never a manifest node
    results.append(artifacts_result("model.shop.orders"))
    write_json(tmp_path / "run_results.json", artifacts_run_results(results))
    run = load_run(tmp_path)
    [warning] = run.warnings
    assert "7 unique id(s)" in warning and "model.shop.ghost_0" in warning and "..." in warning
    assert all(f"model.shop.ghost_{i}" in run.nodes for i in range(7))
    assert run.nodes["model.shop.ghost_3"].path == ""


def test_unknown_future_versions_load_with_warnings(tmp_path: Path) -> None:
    manifest = artifacts_manifest()
    manifest["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v13.json"
    manifest["nodes"]["model.shop.orders"]["brand_new_field"] = {"nested": [1, 2, 3]}
    results = artifacts_run_results([artifacts_result("model.shop.orders", "quantum", shiny=True)])
    results["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/run-results/v7.json"
    write_json(tmp_path / "manifest.json", manifest)
    write_json(tmp_path / "run_results.json", results)
    run = load_run(tmp_path)
    assert run.schema_versions == {"manifest": 13, "run_results": 7}
    assert len(run.warnings) == 2
    assert any("manifest schema v13 is newer" in w for w in run.warnings)
    assert any("run_results schema v7 is newer" in w for w in run.warnings)
    assert run.results[0].status == "quantum"
    assert run.nodes["model.shop.orders"].relation == "analytics.main.orders"


def test_unrecognizable_schema_url_warns_when_shape_fits(tmp_path: Path) -> None:
    manifest = artifacts_manifest()
    manifest["metadata"]["dbt_schema_version"] = "something odd"
    loaded = load_manifest(write_json(tmp_path / "manifest.json", manifest))
    assert loaded.schema_version == 0 and "unrecognized dbt_schema_version" in loaded.warnings[0]


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(artifacts_manifest()).encode())
    assert len(load_manifest(path).nodes) == 3


# --- bad input ------------------------------------------------------------------------------


def test_missing_target_dir(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "target"
    with pytest.raises(ArtifactError, match="target directory not found") as info:
        load_run(missing)
    assert_one_line(info.value, missing)


def test_target_dir_without_artifacts(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"no manifest\.json, run_results\.json or sources\.json") as info:
        load_run(tmp_path)
    assert_one_line(info.value, tmp_path)


def test_target_dir_is_a_file(tmp_path: Path) -> None:
    file = write_json(tmp_path / "target", {})
    with pytest.raises(ArtifactError, match="not a directory"):
        load_run(file)


def test_missing_explicit_file(tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere" / "manifest.json"
    with pytest.raises(ArtifactError, match="manifest not found") as info:
        load_run(tmp_path, manifest=missing)
    assert_one_line(info.value, missing)


def test_directory_as_artifact(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").mkdir()
    with pytest.raises(ArtifactError, match="is a directory") as info:
        load_run(tmp_path)
    assert_one_line(info.value, tmp_path / "manifest.json")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty file"),
        (b"   \n\t ", "empty file"),
        (b"hello, I am a README", r"not valid JSON \(JSON is malformed"),
        (b'{"metadata": {"dbt_schema_version": "x"}} trailing', "not valid JSON"),
        (bytes(range(256)) * 4, r"not a JSON file \(binary data"),
        ('{"a": "é"}'.encode("utf-16"), "is UTF-16 text"),
        (b'{"metadata": {"dbt_version": "\xff\xfe"}}', "not valid UTF-8"),
        (b"[1, 2, 3]", r"not a valid dbt manifest: Expected `object`, got `array`"),
        (b'{"hello": "world"}', r"not a dbt manifest \(manifest.json\): no metadata.dbt_schema_version"),
        (b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        (b'{"nodes": {"a": {"meta": {"k": ' + b"[" * 100_000, "truncated JSON|nested too deeply"),
    ],
)
def test_unusable_manifest_files(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(content)
    with pytest.raises(ArtifactError, match=problem) as info:
        load_run(tmp_path)
    assert_one_line(info.value, path)


def test_truncated_manifest(tmp_path: Path) -> None:
    data = json.dumps(artifacts_manifest()).encode()
    path = tmp_path / "manifest.json"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="truncated JSON") as info:
        load_manifest(path)
    assert_one_line(info.value, path)


def test_type_errors_name_the_json_path(tmp_path: Path) -> None:
    document = artifacts_manifest()
    document["nodes"]["model.shop.orders"]["name"] = 42
    path = write_json(tmp_path / "manifest.json", document)
    with pytest.raises(
        ArtifactError, match=r"Expected `str \| null`, got `int` - at `\$\.nodes\[\.\.\.\]\.name`"
    ):
        load_manifest(path)


def test_wrong_kinds_are_named(tmp_path: Path) -> None:
    results = write_json(tmp_path / "run_results.json", artifacts_run_results())
    manifest = write_json(tmp_path / "manifest.json", artifacts_manifest())
    with pytest.raises(
        ArtifactError, match=r"this is a dbt run_results artifact \(.*run-results/v6.json\), not a manifest"
    ):
        load_manifest(results)
    with pytest.raises(ArtifactError, match=r"this is a dbt manifest artifact .* not a run_results"):
        load_run_results(manifest)
    with pytest.raises(ArtifactError, match=r"this is a dbt manifest artifact .* not a sources"):
        load_sources(manifest)
    with pytest.raises(ArtifactError, match=r"this is a dbt run_results artifact .* not a sources"):
        load_sources(results)
    # Swapped on the command line: refused before anything is half-loaded.
    with pytest.raises(ArtifactError, match="not a manifest"):
        load_run(tmp_path, manifest=results, run_results=manifest)


def test_wrong_kind_with_conflicting_types_is_still_named(tmp_path: Path) -> None:
    """A sources.json whose `results` clash with run_results types is still reported by kind."""
    document = {"metadata": {"dbt_schema_version": SOURCES_V3}, "results": [{"unique_id": 5}]}
    with pytest.raises(ArtifactError, match="this is a dbt sources artifact"):
        load_run_results(write_json(tmp_path / "sources.json", document))


def test_yaml_bent_config_values_are_read_as_text() -> None:
    """Users' YAML can turn documented strings into numbers or booleans; that must not sink the manifest."""
    odd = artifacts_test("odd", ["model.shop.orders"], column_name=7, tags=[2024, "x"], group=3)
    odd["config"].update(severity=True, where=5, warn_if=0, materialized=None)
    manifest = decode_manifest(json.dumps(artifacts_manifest(nodes={odd["unique_id"]: odd})).encode())
    node = manifest.nodes[odd["unique_id"]]
    assert node.tags == ("2024", "x") and node.group == "3" and node.materialization is None
    assert node.test is not None
    assert (node.test.severity, node.test.where, node.test.warn_if, node.test.column_name) == (
        "true",
        "5",
        "0",
        "7",
    )


def test_stamped_results_may_embed_their_node() -> None:
    result = artifacts_result("ignored")
    del result["unique_id"]
    result["node"] = {"unique_id": "model.shop.orders", "resource_type": "model", "compiled_sql": "select 2"}
    del result["compiled_code"]
    document = artifacts_run_results([result, {"status": "success"}])
    document["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/run-results/v1.json"
    loaded = decode_run_results(json.dumps(document).encode(), "rr.json")
    [only] = loaded.results
    assert (only.unique_id, only.status, only.compiled_code) == ("model.shop.orders", "success", "select 2")
    assert loaded.warnings == ["rr.json: skipped 1 result(s) without a unique_id"]


def test_large_files_are_memory_mapped_and_fail_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipewatch.artifacts import decoding

    monkeypatch.setattr(decoding, "MMAP_THRESHOLD", 0)
    nodes = {
        n["unique_id"]: n
        for n in (artifacts_model("orders"), artifacts_model("items", ["model.shop.orders"]))
    }
    target = tmp_path / "target"
    target.mkdir()
    write_json(target / "manifest.json", artifacts_manifest(nodes=nodes))
    write_json(
        target / "run_results.json", artifacts_run_results([artifacts_result("model.shop.orders", "error")])
    )
    assert isinstance(decoding.read_artifact(target / "manifest.json", "manifest"), memoryview)
    run = load_run(target)
    assert set(nodes) <= set(run.nodes) and run.results[0].status == "error"
    data = (target / "manifest.json").read_bytes()
    (target / "manifest.json").write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="truncated"):
        load_manifest(target / "manifest.json")
    (target / "manifest.json").write_bytes(b"   \n")
    with pytest.raises(ArtifactError, match="empty file"):
        load_manifest(target / "manifest.json")
    (target / "manifest.json").write_bytes(b"\xff\xfe{\x00")
    with pytest.raises(ArtifactError, match="UTF-16"):
        load_manifest(target / "manifest.json")


def test_every_decoded_field_lands_in_its_own_slot() -> None:
    # The decoders build Node, TestInfo and NodeResult positionally (for speed): each field set to
    # a value of its own must come back under its own name.
    test = artifacts_test(
        "not_null_orders_id",
        ["model.shop.orders"],
        package_name="shop",
        original_file_path="models/schema.yml",
        compiled_path="target/compiled/x.sql",
        column_name="id",
        group="finance",
        tags=["t1"],
        compiled_code="select 1",
        test_metadata={"name": "not_null", "namespace": "ns", "kwargs": {"column_name": "id"}},
    )
    test["config"].update(
        severity="warn", where="w", fail_calc="fc", warn_if="wi", error_if="ei", limit=3,
        store_failures=True, store_failures_as="view", meta={"owner": "ann@x"},
    )  # fmt: skip
    manifest = decode_manifest(json.dumps(artifacts_manifest(nodes={test["unique_id"]: test})).encode())
    node = manifest.nodes[test["unique_id"]]
    assert (node.unique_id, node.resource_type, node.name, node.package) == (
        test["unique_id"], "test", "not_null_orders_id", "shop",
    )  # fmt: skip
    assert (node.path, node.database, node.schema, node.alias, node.materialization) == (
        "models/schema.yml", "analytics", "main", "not_null_orders_id", "test",
    )  # fmt: skip
    assert (node.tags, node.owner, node.depends_on, node.meta, node.group) == (
        ("t1",), "ann@x", ("model.shop.orders",), {"owner": "ann@x"}, "finance",
    )  # fmt: skip
    assert (node.enabled, node.compiled_path) == (True, "target/compiled/x.sql")
    info = node.test
    assert info is not None
    assert (info.name, info.namespace, info.kwargs, info.column_name, info.attached_node) == (
        "not_null", "ns", {"column_name": "id"}, "id", "model.shop.orders",
    )  # fmt: skip
    assert (info.severity, info.where, info.fail_calc, info.warn_if, info.error_if) == (
        "warn", "w", "fc", "wi", "ei",
    )  # fmt: skip
    assert (info.generic, info.limit, info.compiled_code) == (True, 3, "select 1")
    assert (info.store_failures, info.store_failures_as) == (True, "view")
    result = artifacts_result(
        test["unique_id"], "fail", failures=7, message="m", thread_id="Thread-3", execution_time=1.5,
        compiled_code="select 2", relation_name='"a"."b"', adapter_response={"rows_affected": 4},
    )  # fmt: skip
    got = decode_run_results(json.dumps(artifacts_run_results([result])).encode()).results[0]
    assert (got.unique_id, got.status, got.message, got.failures, got.execution_time, got.thread_id) == (
        test["unique_id"], "fail", "m", 7, 1.5, "Thread-3",
    )  # fmt: skip
    assert got.compile_started is not None and got.compile_started < (got.compile_completed or 0)
    assert got.execute_started is not None and got.execute_started < (got.execute_completed or 0)
    assert (got.adapter_response.rows_affected, got.compiled_code, got.relation_name) == (
        4,
        "select 2",
        '"a"."b"',
    )
