"""Conformance over the shared corpus of real dbt artifacts (dbt 0.19 – 1.12 and Fusion 2.0 previews).

Every manifest, run_results and sources file must load, and what it loads must agree with the raw
JSON (read independently with `json`); every catalog must be refused by these loaders with a message saying it is a
catalog (catalogs have their own loader, tested in test_schema_changes.py).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pipewatch.artifacts import load_manifest, load_run, load_run_results, load_sources
from pipewatch.artifacts.manifest import NODE_SECTIONS
from pipewatch.errors import ArtifactError

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "artifact-corpus"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"artifact corpus not found at {CORPUS}")


def _files(kind: str) -> list[Path]:
    return sorted(CORPUS.glob(f"{kind}/*/*.json")) if CORPUS.is_dir() else []


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(CORPUS)) for p in paths]


def _raw(path: Path) -> Any:
    with path.open("rb") as handle:
        return json.load(handle)


def _dir_version(path: Path) -> int:
    """The schema version the corpus folder names (`v12` -> 12, `pre-v1` -> 0)."""
    folder = path.parent.name
    return int(folder[1:]) if folder.startswith("v") else 0


MANIFESTS = _files("manifest")
RUN_RESULTS = _files("run_results")
SOURCES = _files("sources")
CATALOGS = _files("catalog")
NORMALIZED = {"success", "error", "skipped", "fail", "warn", "pass", "no-op", "reused", "partial success"}


def test_corpus_has_every_kind() -> None:
    assert len(MANIFESTS) >= 50 and len(RUN_RESULTS) >= 40 and len(SOURCES) >= 10 and len(CATALOGS) >= 1


@pytest.mark.parametrize("path", MANIFESTS, ids=_ids(MANIFESTS))
def test_manifest_loads_and_matches_raw(path: Path) -> None:
    manifest = load_manifest(path)
    raw = _raw(path)
    expected_ids: set[str] = set()
    for section in NODE_SECTIONS:
        expected_ids.update(raw.get(section) or {})
    assert set(manifest.nodes) == expected_ids
    assert manifest.schema_version == _dir_version(path)
    assert manifest.warnings == []
    assert manifest.invocation_id == raw["metadata"].get("invocation_id")
    assert manifest.adapter_type == raw["metadata"].get("adapter_type")
    assert manifest.generated_at is not None
    for unique_id, node in manifest.nodes.items():
        assert node.unique_id == unique_id
        assert node.resource_type and node.name and unique_id.startswith(node.resource_type + ".")
        assert all(isinstance(parent, str) for parent in node.depends_on)
        if node.resource_type == "test":
            assert node.test is not None
            assert node.test.severity in ("error", "warn")
            assert node.test.generic == bool((raw["nodes"][unique_id].get("test_metadata") or {}).get("name"))
        else:
            assert node.test is None
    raw_disabled = raw.get("disabled") or {}
    disabled_ids = (
        set(raw_disabled)
        if isinstance(raw_disabled, dict)
        else {entry["unique_id"] for entry in raw_disabled}
    )
    assert manifest.disabled == disabled_ids - expected_ids
    if "parent_map" in raw:
        assert manifest.parent_map is not None
        assert {k: list(v) for k, v in manifest.parent_map.items()} == raw["parent_map"]


@pytest.mark.parametrize("path", RUN_RESULTS, ids=_ids(RUN_RESULTS))
def test_run_results_load_and_match_raw(path: Path) -> None:
    loaded = load_run_results(path)
    raw = _raw(path)
    assert loaded.schema_version == _dir_version(path)
    assert loaded.warnings == []
    assert [r.unique_id for r in loaded.results] == [r["unique_id"] for r in raw["results"]]
    raw_statuses = Counter("error" if r["status"] == "runtime error" else r["status"] for r in raw["results"])
    assert Counter(r.status for r in loaded.results) == raw_statuses
    for result, raw_result in zip(loaded.results, raw["results"], strict=True):
        assert result.status in NORMALIZED
        assert result.status == result.status.strip().lower()
        assert result.execution_time == pytest.approx(raw_result["execution_time"])
        assert result.message == raw_result.get("message")
        timing = {t["name"]: t for t in raw_result["timing"]}
        if "execute" in timing and timing["execute"].get("completed_at"):
            assert result.execute_completed is not None and result.execute_started is not None
            assert result.execute_completed >= result.execute_started
        if "compile" in timing:
            assert result.compile_started is not None
    assert loaded.command == (raw.get("args") or {}).get("which")
    assert loaded.invocation_id == raw["metadata"]["invocation_id"]


@pytest.mark.parametrize("path", SOURCES, ids=_ids(SOURCES))
def test_sources_load_and_match_raw(path: Path) -> None:
    loaded = load_sources(path)
    raw = _raw(path)
    assert loaded.schema_version == _dir_version(path)
    assert len(loaded.results) == len(raw["results"])
    for fresh, raw_result in zip(loaded.results, raw["results"], strict=True):
        assert fresh.unique_id == raw_result.get("unique_id", (raw_result.get("node") or {}).get("unique_id"))
        assert fresh.status in ("pass", "warn", "error")
        if raw_result["status"] == "runtime error":
            assert fresh.status == "error" and fresh.message
        if "max_loaded_at" in raw_result:
            assert fresh.max_loaded_at is not None and fresh.snapshotted_at is not None
            assert fresh.age_s == pytest.approx(raw_result["max_loaded_at_time_ago_in_s"])


@pytest.mark.parametrize("path", CATALOGS, ids=_ids(CATALOGS))
def test_catalog_is_refused_as_a_catalog(path: Path) -> None:
    """pipewatch does not read catalog.json; each loader says so instead of misreading it."""
    for loader in (load_manifest, load_run_results, load_sources):
        with pytest.raises(ArtifactError, match="this is a dbt catalog") as info:
            loader(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)


def _metadata(path: Path) -> dict[str, Any]:
    meta: dict[str, Any] = _raw(path)["metadata"]
    return meta


def _pairs() -> tuple[list[tuple[Path, Path]], list[tuple[Path, Path]]]:
    """(same-invocation pairs, same-project-and-dbt-version pairs from different invocations)."""
    same: list[tuple[Path, Path]] = []
    different: list[tuple[Path, Path]] = []
    manifests = [(m, _metadata(m)) for m in MANIFESTS]
    for results_path in RUN_RESULTS:
        results_meta = _metadata(results_path)
        project = results_path.name.split("__")[0]
        for manifest_path, manifest_meta in manifests:
            if manifest_meta.get("invocation_id") == results_meta.get("invocation_id"):
                same.append((manifest_path, results_path))
            elif manifest_path.name.split("__")[0] == project and manifest_meta.get(
                "dbt_version"
            ) == results_meta.get("dbt_version"):
                different.append((manifest_path, results_path))
    return same, different


SAME_INVOCATION, DIFFERENT_INVOCATION = _pairs() if CORPUS.is_dir() else ([], [])


def _pair_id(pair: tuple[Path, Path]) -> str:
    return f"{pair[0].relative_to(CORPUS)}+{pair[1].name}"


def test_corpus_pairs_found() -> None:
    assert len(SAME_INVOCATION) >= 10
    assert len(DIFFERENT_INVOCATION) >= 1


@pytest.mark.parametrize("pair", SAME_INVOCATION, ids=[_pair_id(p) for p in SAME_INVOCATION])
def test_paired_manifest_and_run_results_make_a_run(pair: tuple[Path, Path], tmp_path: Path) -> None:
    manifest_path, results_path = pair
    run = load_run(tmp_path, manifest=manifest_path, run_results=results_path)
    assert run.warnings == []
    manifest_meta, results_meta = _metadata(manifest_path), _metadata(results_path)
    assert run.invocation_id == results_meta["invocation_id"]
    assert run.adapter_type == manifest_meta.get("adapter_type")
    assert run.schema_versions == {
        "manifest": _dir_version(manifest_path),
        "run_results": _dir_version(results_path),
    }
    assert len(run.results) == len(_raw(results_path)["results"])
    for result in run.results:
        node = run.nodes[result.unique_id]
        assert node.path, f"{result.unique_id} should come from the manifest, not a stub"
    assert run.generated_at is not None and run.parent_map is not None


@pytest.mark.parametrize("pair", DIFFERENT_INVOCATION, ids=[_pair_id(p) for p in DIFFERENT_INVOCATION])
def test_pairs_from_different_invocations_warn_but_load(pair: tuple[Path, Path], tmp_path: Path) -> None:
    manifest_path, results_path = pair
    run = load_run(tmp_path, manifest=manifest_path, run_results=results_path)
    assert any("from dbt invocation" in w and "may not match" in w for w in run.warnings)
    assert {r.unique_id for r in run.results} <= set(run.nodes)


def _corpus_file(relative: str) -> Path:
    path = CORPUS / relative
    if not path.exists():
        pytest.skip(f"{relative} not in this corpus")
    return path


def test_empty_results_load() -> None:
    for relative in (
        "run_results/v5/medallion-spark__snapshot_empty_run_results.json",
        "run_results/v6/databricks-anjali__fusion_compile_empty_run_results.json",
    ):
        loaded = load_run_results(_corpus_file(relative))
        assert loaded.results == []
    fusion = load_run_results(
        _corpus_file("run_results/v6/databricks-anjali__fusion_compile_empty_run_results.json")
    )
    assert fusion.elapsed_time == 0.0 and str(fusion.elapsed_time) == "0.0"  # not Fusion's -0.0
    assert fusion.command == "compile"


def test_run_operation_results_without_manifest_are_macro_stubs(tmp_path: Path) -> None:
    path = _corpus_file("run_results/v6/airbnb-tvkoushik__snowflake_run_operation_run_results.json")
    run = load_run(tmp_path, run_results=path)
    assert run.command == "run-operation"
    [result] = run.results
    assert result.unique_id == "macro.airbnb.learn_logging"
    node = run.nodes[result.unique_id]
    assert (node.resource_type, node.package, node.name) == ("macro", "airbnb", "learn_logging")
    assert any("no manifest.json" in w for w in run.warnings)


def test_fusion_compact_output_with_nanosecond_timings() -> None:
    path = _corpus_file("run_results/v6/scd2-snowflake__fusion_snowflake_error_skipped_run_results.json")
    loaded = load_run_results(path)
    assert [r.status for r in loaded.results].count("error") == 1
    assert [r.status for r in loaded.results].count("skipped") == 1
    first = loaded.results[0]
    # "2026-06-14T16:55:19.479947332Z": nanoseconds are kept to float precision, not refused.
    assert first.compile_started == pytest.approx(1781456119.479947, abs=1e-5)
    skipped = next(r for r in loaded.results if r.status == "skipped")
    assert skipped.message == "Skipped due to upstream failure"
    assert loaded.results[0].adapter_response.rows_affected == 0


def test_pre_v1_unstamped_sources_load() -> None:
    path = _corpus_file("sources/pre-v1/dbt-ondemand-mmorganfield__bigquery_sources_unversioned.json")
    loaded = load_sources(path)
    assert loaded.schema_version == 0 and loaded.warnings == []
    [fresh] = loaded.results
    assert fresh.unique_id == "source.jaffle_shop.maxm.orders"
    assert fresh.status == "error"
    assert fresh.message is not None and "Unrecognized name: _etl_loaded_at" in fresh.message
    assert (fresh.warn_after_s, fresh.error_after_s) == (12 * 3600.0, 24 * 3600.0)
    assert loaded.generated_at is not None


def test_sources_runtime_error_folds_into_error() -> None:
    path = _corpus_file("sources/v3/taylorterwin-fundamentals__snowflake_sources.json")
    loaded = load_sources(path)
    statuses = {f.unique_id: f.status for f in loaded.results}
    assert statuses == {
        "source.jaffle_shop.stripe.payments": "error",
        "source.jaffle_shop.jaffle_shop.orders": "warn",
    }


def test_exposure_owner_and_disabled_nodes_v12() -> None:
    manifest = load_manifest(_corpus_file("manifest/v12/dbt-core__state_v12_postgres_manifest.json"))
    exposure = manifest.nodes["exposure.test.simple_exposure"]
    assert exposure.owner == "something@example.com"  # owner.name is null, so the email
    assert "model.test.disabled_model" in manifest.disabled
    assert "model.test.disabled_model" not in manifest.nodes
    assert manifest.nodes["semantic_model.test.semantic_people"].resource_type == "semantic_model"
    singular = manifest.nodes["test.test.just_my"].test
    assert singular is not None and not singular.generic and singular.attached_node == "model.test.my_model"


def test_v12_1_12_sections_become_nodes() -> None:
    manifest = load_manifest(
        _corpus_file("manifest/v12/dbt-artifacts-parser__jaffle_shop_manifest_1.12.json")
    )
    types = Counter(n.resource_type for n in manifest.nodes.values())
    assert types["unit_test"] == 3 and types["saved_query"] == 3 and types["metric"] == 23
    assert manifest.project_name == "jaffle_shop"
    source = next(n for n in manifest.nodes.values() if n.resource_type == "source")
    assert source.relation is not None and source.relation.count(".") == 2


def test_old_manifest_project_name_from_project_id() -> None:
    """Before dbt 1.6 there is no metadata.project_name; project_id (md5 of the name) identifies it."""
    manifest = load_manifest(_corpus_file("manifest/v5/dbt-artifacts-parser__jaffle_shop_manifest.json"))
    assert manifest.project_name == "jaffle_shop"  # although the elementary package has more models
