"""The JSON outcome's per-node lists (docs/contracts.md, "JSON outcome"): cut to their first entries with
their full length beside them by default, complete with `full_lists` (`--full-lists`)."""

from __future__ import annotations

import json

from pipewatch.analysis import analyze
from pipewatch.outputs import render
from pipewatch.outputs.json_output import JSON_LIST_LIMIT
from tests.factories import make_node, make_result, make_run

WIDE = JSON_LIST_LIMIT + 7


def _wide_run() -> object:
    """One failed model with WIDE children, each skipped because of it."""
    root = make_node("model.shop.root")
    children = [make_node(f"model.shop.c{i:04d}", depends_on=(root.unique_id,)) for i in range(WIDE)]
    results = [make_result(root.unique_id, "error", "division by zero")]
    results += [make_result(c.unique_id, "skipped") for c in children]
    return make_run([root, *children], results)


def _outcome(full_lists: bool) -> dict[str, object]:
    text = render(analyze(_wide_run()), "json", full_lists=full_lists)  # type: ignore[arg-type]
    document: dict[str, object] = json.loads(text)
    return document


def test_lists_keep_their_first_entries_and_say_their_length() -> None:
    document = _outcome(full_lists=False)
    summary = document["summary"]
    assert isinstance(summary, dict)
    assert summary["skipped_count"] == WIDE and summary["list_limit"] == JSON_LIST_LIMIT
    skipped = document["skipped"]
    assert isinstance(skipped, list) and len(skipped) == JSON_LIST_LIMIT
    # The first entries in sort order, each still with its root cause.
    assert [s["unique_id"] for s in skipped] == [f"model.shop.c{i:04d}" for i in range(JSON_LIST_LIMIT)]
    assert all(s["root_causes"] == ["model.shop.root"] for s in skipped)
    (failure,) = document["failures"]  # type: ignore[misc]
    assert failure["downstream_count"] == WIDE and len(failure["downstream"]) == JSON_LIST_LIMIT
    assert failure["skipped_downstream_count"] == WIDE
    assert failure["downstream"] == sorted(failure["downstream"])
    assert failure["exposures"] == [] and failure["exposures_count"] == 0


def test_full_lists_writes_them_whole() -> None:
    document = _outcome(full_lists=True)
    summary = document["summary"]
    assert isinstance(summary, dict)
    assert summary["list_limit"] is None and summary["skipped_count"] == WIDE
    assert isinstance(document["skipped"], list) and len(document["skipped"]) == WIDE
    (failure,) = document["failures"]  # type: ignore[misc]
    assert len(failure["downstream"]) == failure["downstream_count"] == WIDE
    assert len(failure["skipped_downstream"]) == WIDE


def test_the_text_view_names_the_first_skips_and_counts_the_rest() -> None:
    from pipewatch.outputs.wording import LIST_LIMIT, shorten_list

    root = make_node("model.shop.root")
    orphans = [make_node(f"model.shop.o{i:04d}", depends_on=("model.shop.gone",)) for i in range(WIDE)]
    run = make_run([root, *orphans], [make_result(o.unique_id, "skipped") for o in orphans])
    outcome = analyze(run)  # type: ignore[arg-type]
    # Skips no failure explains, without grouping every skip under its causes first.
    assert outcome.unexplained_skips() == outcome.root_cause_groups()[None]
    text = render(outcome, "text")
    assert f"{WIDE} with no failure in this run upstream: o0000, o0001" in text
    assert f"and {WIDE - LIST_LIMIT} more" in text
    ids = (f"model.shop.o{i:04d}" for i in range(WIDE))  # any iterable, read once
    assert shorten_list(ids) == shorten_list([f"model.shop.o{i:04d}" for i in range(WIDE)])
