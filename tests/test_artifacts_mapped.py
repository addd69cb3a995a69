"""Large artifacts are memory-mapped and decoded in passes, handing the file's pages back between them
(issue 12). Whatever the path, the loaded artifact is the same as decoding the bytes in memory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipewatch.artifacts import (
    decode_manifest,
    decode_run_results,
    decoding,
    load_manifest,
    load_run_results,
    manifest,
)
from pipewatch.errors import ArtifactError
from tests.test_artifacts_loader import artifacts_manifest, write_json

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "artifact-corpus"
CORPUS_FILES = (
    sorted(CORPUS.glob("manifest/v1[0-2]/*.json"))[:6] + sorted(CORPUS.glob("run_results/v6/*.json"))[:3]
)


@pytest.fixture
def mapped_in_small_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file is mapped, and the manifest's pages are released after every member."""
    monkeypatch.setattr(decoding, "MMAP_THRESHOLD", 0)
    monkeypatch.setattr(manifest, "_RELEASE_EVERY", 0)


@pytest.mark.usefixtures("mapped_in_small_steps")
def test_a_mapped_manifest_loads_as_its_bytes_decode(tmp_path: Path) -> None:
    path = write_json(tmp_path / "manifest.json", artifacts_manifest())
    assert isinstance(decoding.read_artifact(path, "manifest"), memoryview)
    mapped = load_manifest(path)
    in_memory = decode_manifest(path.read_bytes(), str(path))
    assert mapped == in_memory
    assert mapped.nodes


@pytest.mark.usefixtures("mapped_in_small_steps")
@pytest.mark.parametrize("path", CORPUS_FILES, ids=[p.name for p in CORPUS_FILES])
def test_corpus_files_load_the_same_mapped(path: Path) -> None:
    if "manifest" in path.parts:
        assert load_manifest(path) == decode_manifest(path.read_bytes(), str(path))
    else:
        assert load_run_results(path) == decode_run_results(path.read_bytes(), str(path))


def test_child_map_keeps_only_what_the_parent_map_lacks(tmp_path: Path) -> None:
    document = artifacts_manifest(
        parent_map={
            "model.shop.orders": ["source.shop.raw.orders"],
            "model.shop.customers": ["model.shop.orders"],
        },
        child_map={
            "model.shop.orders": ["model.shop.customers"],
            "model.shop.customers": [],
            "source.shop.raw.orders": ["model.shop.orders"],
        },
    )
    loaded = load_manifest(write_json(tmp_path / "manifest.json", document))
    assert loaded.child_map == {"source.shop.raw.orders": ("model.shop.orders",)}
    assert loaded.parent_map == {
        "model.shop.orders": ("source.shop.raw.orders",),
        "model.shop.customers": ("model.shop.orders",),
    }


def test_a_bad_member_names_its_section_and_id(tmp_path: Path) -> None:
    document = artifacts_manifest()
    document["nodes"]["model.shop.orders"]["depends_on"] = {"nodes": [1, 2]}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"nodes\[\.\.\.\]\.depends_on.*\(model\.shop\.orders\)"):
        load_manifest(path)
