"""Accuracy of `classify` on real error messages gathered from public threads and the artifact corpus.

`labelled.yml` must stay at or above 95%; `heldout.yml` (messages gathered after the signatures were
written, never used to tune them) is reported and kept above a lower bar, as an estimate of how the
signatures generalize. Misses are printed as a confusion list (run pytest with -s to see it).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipewatch.triage import CATEGORIES, classify

DATA = Path(__file__).parent / "data" / "triage"
WAREHOUSES = ("duckdb", "postgres", "snowflake", "bigquery", "databricks", "redshift", "trino")
# spark messages count for databricks (one adapter family, one signature file)
FAMILY = {"spark": "databricks"}


def load(name: str) -> list[dict[str, Any]]:
    entries = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    assert isinstance(entries, list)
    return entries


def accuracy(entries: list[dict[str, Any]]) -> tuple[float, list[str]]:
    misses: list[str] = []
    for index, entry in enumerate(entries):
        verdict = classify(entry["message"], entry["adapter"])
        if verdict.category != entry["category"]:
            first_line = entry["message"].strip().splitlines()[0][:120]
            misses.append(
                f"#{index} [{entry['adapter']}] expected {entry['category']}, got {verdict.category} "
                f"({verdict.evidence}) :: {first_line!r} :: {entry['source']}"
            )
    return 1 - len(misses) / len(entries), misses


def report(name: str, score: float, misses: list[str], total: int) -> None:
    print(f"\n{name}: {total - len(misses)}/{total} = {score:.1%}")
    for miss in misses:
        print("  MISS", miss)


@pytest.mark.parametrize("name", ["labelled.yml", "heldout.yml"])
def test_every_entry_is_well_formed(name: str) -> None:
    for entry in load(name):
        assert set(entry) == {"adapter", "category", "source", "message"}, entry
        assert entry["category"] in CATEGORIES
        assert FAMILY.get(entry["adapter"], entry["adapter"]) in WAREHOUSES
        assert entry["message"].strip()
        # public threads, the shared artifact corpus, or errors this project's own Spark runs produced
        assert entry["source"].startswith(("https://github.com/", "artifact corpus", "captured here: "))


def test_labelled_set_is_large_and_covers_every_warehouse() -> None:
    entries = load("labelled.yml")
    assert len(entries) >= 90
    per_warehouse = Counter(FAMILY.get(e["adapter"], e["adapter"]) for e in entries)
    for warehouse in WAREHOUSES:
        assert per_warehouse[warehouse] >= 8, per_warehouse
    # the non-success messages of the shared artifact corpus are part of the set
    assert sum(e["source"].startswith("artifact corpus") for e in entries) >= 10
    # every category the contract defines is exercised
    assert {e["category"] for e in entries} == set(CATEGORIES)


def test_labelled_accuracy_is_at_least_95_percent() -> None:
    entries = load("labelled.yml")
    score, misses = accuracy(entries)
    report("labelled.yml", score, misses, len(entries))
    assert score >= 0.95, "\n".join(misses)


def test_heldout_accuracy_is_reported_and_above_85_percent() -> None:
    entries = load("heldout.yml")
    score, misses = accuracy(entries)
    report("heldout.yml", score, misses, len(entries))
    assert score >= 0.85, "\n".join(misses)
