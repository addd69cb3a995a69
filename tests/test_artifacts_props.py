"""Property tests: real artifacts, mutated at random, either load or raise `ArtifactError`.

Mutations are what broken or future files look like: keys deleted or renamed, values replaced by
values of another type, values swapped between places, bytes truncated, overwritten or inserted.
Whatever happens, the loader must never raise anything but the project's own error, and that
error must stay one line naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipewatch.artifacts.decoding as decoding_module
import pipewatch.artifacts.manifest as manifest_module
import pipewatch.artifacts.run_results as run_results_module
import pipewatch.artifacts.sources as sources_module
from pipewatch.artifacts import assemble_run, decode_manifest, decode_run_results, decode_sources
from pipewatch.errors import ArtifactError

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "artifact-corpus"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"artifact corpus not found at {CORPUS}")

# Small but varied seeds: every schema generation, with exposures, metrics, semantic models,
# disabled nodes, errors, skips, Fusion output and pre-v1 freshness. Manifests lose `macros` and
# `docs` (never read) to keep each example fast.
_SEEDS = {
    "manifest": [
        "manifest/v1/magnus-dbt-learn__bigquery_manifest.json",
        "manifest/v2/openlineage__fail_bigquery_manifest.json",
        "manifest/v3/openlineage__build_bigquery_manifest.json",
        "manifest/v4/aec-hannah__bigquery_manifest.json",
        "manifest/v7/dbt-core__state_v7_postgres_manifest.json",
        "manifest/v8/openlineage__airflow_snowflake_manifest.json",
        "manifest/v10/dbt-core__state_v10_postgres_manifest.json",
        "manifest/v12/dbt-core__state_v12_postgres_manifest.json",
        "manifest/v12/openlineage__duckdb_manifest.json",
    ],
    "run_results": [
        "run_results/v1/dbt-learn-dancam__snowflake_run_results.json",
        "run_results/v2/openlineage__fail_bigquery_run_results.json",
        "run_results/v3/openlineage__build_bigquery_run_results.json",
        "run_results/v4/airbnb-ducanh__snowflake_error_skipped_run_results.json",
        "run_results/v4/datavault-postgres__postgres_errors_run_results.json",
        "run_results/v5/dbt-core__results_v5_run_results.json",
        "run_results/v6/dbt-core__results_v6_run_results.json",
        "run_results/v6/openlineage__duckdb_run_results.json",
        "run_results/v6/scd2-snowflake__fusion_snowflake_error_skipped_run_results.json",
        "run_results/v6/ibm-oct-dhruvvk__snowflake_run_operation_run_results.json",
    ],
    "sources": [
        "sources/pre-v1/dbt-ondemand-mmorganfield__bigquery_sources_unversioned.json",
        "sources/v1/magnus-dbt-learn__bigquery_sources.json",
        "sources/v2/pavelstulnikov-demo__snowflake_sources.json",
        "sources/v3/aec-hannah__bigquery_sources.json",
        "sources/v3/taylorterwin-fundamentals__snowflake_sources.json",
    ],
}

_DECODERS: dict[str, Callable[[bytes, str], Any]] = {
    "manifest": decode_manifest,
    "run_results": decode_run_results,
    "sources": decode_sources,
}


def _read_keys() -> frozenset[str]:
    """Every JSON key some loader Struct declares, i.e. the keys the loader actually reads."""
    keys: set[str] = set()
    for module in (decoding_module, manifest_module, run_results_module, sources_module):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, msgspec.Struct):
                keys.update(f.encode_name for f in msgspec.structs.fields(value))
    return frozenset(keys)


#: Mutations aim at keys the loader reads half of the time, so they are not drowned out by the
#: many keys it skips.
_READ_KEYS = _read_keys()

Path_ = tuple[Any, ...]


def _load_seed(relative: str) -> bytes:
    data = (CORPUS / relative).read_bytes()
    if relative.startswith("manifest/"):
        document = json.loads(data)
        document["macros"] = {}
        document["docs"] = {}
        data = json.dumps(document).encode()
    return data


def _locations(value: Any, prefix: Path_ = ()) -> list[Path_]:
    found: list[Path_] = []
    children = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    )
    for key, child in children:
        path = (*prefix, key)
        found.append(path)
        found.extend(_locations(child, path))
    return found


SEEDS: dict[str, list[tuple[str, bytes, list[Path_], list[Path_]]]] = {}
if CORPUS.is_dir():
    for _kind, _relatives in _SEEDS.items():
        for _relative in _relatives:
            _data = _load_seed(_relative)
            _all = _locations(json.loads(_data))
            _read = [p for p in _all if isinstance(p[-1], str) and p[-1] in _READ_KEYS]
            SEEDS.setdefault(_kind, []).append((_relative, _data, _all, _read or _all))


def _parent(document: Any, path: Path_) -> tuple[Any, Any] | None:
    """(container, key) of the value at `path`, or None if an earlier mutation removed the way there."""
    container = document
    try:
        for key in path[:-1]:
            container = container[key]
        container[path[-1]]
    except (KeyError, IndexError, TypeError):
        return None
    # An earlier swap may have put a string where a container was; strings index but can't change.
    return (container, path[-1]) if isinstance(container, (dict, list)) else None


def _delete(document: Any, path: Path_) -> None:
    where = _parent(document, path)
    if where is not None:
        container, key = where
        del container[key]


def _replace(document: Any, path: Path_, value: Any) -> None:
    where = _parent(document, path)
    if where is not None:
        container, key = where
        container[key] = value


def _rename(document: Any, path: Path_, new_key: str) -> None:
    where = _parent(document, path)
    if where is not None and isinstance(where[0], dict):
        container, key = where
        container[new_key] = container.pop(key)


def _swap(document: Any, first: Path_, second: Path_) -> None:
    # Swapping a value with one inside it would make a cycle, which is not JSON.
    if first[: len(second)] == second or second[: len(first)] == first:
        return
    a, b = _parent(document, first), _parent(document, second)
    if a is not None and b is not None:
        a[0][a[1]], b[0][b[1]] = b[0][b[1]], a[0][a[1]]


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "runtime error", "2021-13-45T99:00:00Z", "model.a.b", "Z", "v13", "null"]),
)
_values = st.one_of(
    _scalars,
    st.lists(_scalars, max_size=3),
    st.dictionaries(
        st.sampled_from(["name", "nodes", "email", "owner", "unique_id", "x"]), _scalars, max_size=3
    ),
)


def _mutation(paths: list[Path_], read: list[Path_]) -> st.SearchStrategy[tuple[Any, ...]]:
    location = st.one_of(st.sampled_from(read), st.sampled_from(paths))
    return st.one_of(
        st.tuples(st.just("delete"), location),
        st.tuples(st.just("replace"), location, _values),
        st.tuples(
            st.just("rename"), location, st.sampled_from(["unique_id", "status", "nodes", "zz", "name"])
        ),
        st.tuples(st.just("swap"), location, location),
    )


def _apply(document: Any, mutation: tuple[Any, ...]) -> None:
    operation = mutation[0]
    if operation == "delete":
        _delete(document, mutation[1])
    elif operation == "replace":
        _replace(document, mutation[1], mutation[2])
    elif operation == "rename":
        _rename(document, mutation[1], mutation[2])
    else:
        _swap(document, mutation[1], mutation[2])


def _check_loads_or_refuses(kind: str, payload: bytes, source: str) -> Any:
    """Decode; an ArtifactError is fine (and must be one line on `source`), anything else fails."""
    try:
        loaded = _DECODERS[kind](payload, source)
    except ArtifactError as error:
        message = str(error)
        assert message.startswith(f"{source}: ") and "\n" not in message
        return None
    if kind != "manifest":
        for result in loaded.results:
            assert isinstance(result.unique_id, str) and result.unique_id
            assert result.status == result.status.strip().lower() and result.status != "runtime error"
    else:
        for unique_id, node in loaded.nodes.items():
            assert node.unique_id == unique_id and isinstance(node.resource_type, str)
            assert all(isinstance(parent, str) for parent in node.depends_on)
    return loaded


_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("kind", sorted(_SEEDS))
@_SETTINGS
@given(data=st.data())
def test_mutated_json_loads_or_raises_artifact_error(kind: str, data: st.DataObject) -> None:
    relative, seed, paths, read = data.draw(st.sampled_from(SEEDS[kind]), label="seed")
    document = msgspec.json.decode(seed)
    for mutation in data.draw(st.lists(_mutation(paths, read), min_size=1, max_size=4), label="mutations"):
        _apply(document, mutation)
    payload = json.dumps(document).encode()  # NaN and Infinity come out as non-JSON tokens, on purpose
    _check_loads_or_refuses(kind, payload, relative)


@pytest.mark.parametrize("kind", sorted(_SEEDS))
@_SETTINGS
@given(data=st.data())
def test_mangled_bytes_load_or_raise_artifact_error(kind: str, data: st.DataObject) -> None:
    relative, seed, _, _ = data.draw(st.sampled_from(SEEDS[kind]), label="seed")
    payload = bytearray(seed)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="edits")):
        start = data.draw(st.integers(min_value=0, max_value=len(payload)), label="at")
        operation = data.draw(st.sampled_from(["truncate", "overwrite", "insert", "cut"]), label="op")
        noise = data.draw(st.binary(min_size=1, max_size=8), label="bytes")
        if operation == "truncate":
            del payload[start:]
        elif operation == "overwrite":
            payload[start : start + len(noise)] = noise
        elif operation == "insert":
            payload[start:start] = noise
        else:
            del payload[start : start + len(noise) * 50]
    _check_loads_or_refuses(kind, bytes(payload), relative)


@_SETTINGS
@given(data=st.data())
def test_mutated_pairs_assemble_into_a_run(data: st.DataObject) -> None:
    """Whatever survives loading must also survive being joined into a Run."""
    loaded: dict[str, Any] = {}
    for kind in ("manifest", "run_results", "sources"):
        relative, seed, paths, read = data.draw(st.sampled_from(SEEDS[kind]), label=kind)
        document = msgspec.json.decode(seed)
        for mutation in data.draw(st.lists(_mutation(paths, read), max_size=3), label=f"{kind} mutations"):
            _apply(document, mutation)
        loaded[kind] = _check_loads_or_refuses(kind, json.dumps(document).encode(), relative)
    run = assemble_run(loaded["manifest"], loaded["run_results"], loaded["sources"], "target")
    assert {r.unique_id for r in run.results} <= set(run.nodes)
    assert all("\n" not in warning for warning in run.warnings)
