"""Bad and adversarial input: never an exception, always a valid category, and time linear in length.

No absolute time limits: every budget is relative to a baseline measured in the same run (classifying a
1 KB message that matches nothing, the slowest ordinary path), scaled by the length ratio and a
generous factor. A regex that backtracks quadratically on 16 KB would blow any such budget ~1000-fold.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipewatch.triage import CATEGORIES, POLICY, classify, known_adapters
from pipewatch.triage.classify import WINDOW
from pipewatch.triage.library import load_library
from pipewatch.triage.regex_anchors import _literal_runs, _top_level_alternatives

FACTOR = 10  # generous: observed ratios are 1-3x the length ratio
ADAPTERS = [None, "", "no-such-adapter", *known_adapters()]


def per_call(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best per-call time of `fn`, looping enough that timer resolution does not matter."""
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= 0.002 or loops >= 1 << 16:
            break
        loops *= 4
    best = elapsed / loops
    for _ in range(repeat - 1):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter() - start) / loops)
    return best


BASELINE_TEXT = (
    "12:00:00  Finished running node model.shop.orders_daily in 3.21s; rows processed into the "
    "analytics schema with clustering keys refreshed and statistics gathered for the planner. "
) * 12
BASELINE_TEXT = BASELINE_TEXT[:1024]


@pytest.fixture(scope="module")
def baseline() -> float:
    load_library()
    assert classify(BASELINE_TEXT).category == "unknown"  # the path that tries every signature
    return per_call(lambda: classify(BASELINE_TEXT))


def effective_kb(text: str) -> float:
    return min(len(text), 2 * WINDOW + 1) / 1024


def test_empty_and_blank_messages_are_unknown() -> None:
    for message in ("", " ", "\n\t\n"):
        verdict = classify(message, "postgres")
        assert verdict.category == "unknown"
        assert verdict.evidence.source == "empty message"


def test_none_and_non_text_do_not_raise() -> None:
    assert classify(None).category == "unknown"  # type: ignore[arg-type]
    assert classify(12345, "snowflake").category in CATEGORIES  # type: ignore[arg-type]


def test_unknown_adapter_is_accepted() -> None:
    assert classify("division by zero", "clickhouse").category == "data"
    assert classify("nothing to see", "¯\\_(ツ)_/¯").category == "unknown"


def test_a_one_megabyte_message_is_classified_within_a_relative_budget(baseline: float) -> None:
    cause = "ERROR: deadlock detected\nDETAIL: Process 1 waits for ShareLock on transaction 2"
    padding = "compiled SQL line with nothing special in it\n" * 23_000
    huge = "Database Error in model orders (models/orders.sql)\n" + padding + cause
    assert len(huge) > 1_000_000
    elapsed = per_call(lambda: classify(huge, "postgres"), repeat=2)
    assert classify(huge, "postgres").category == "transient"  # the tail window keeps the cause
    assert elapsed <= baseline * effective_kb(huge) * FACTOR


def test_binary_garbage_is_handled(baseline: float) -> None:
    rng = random.Random(20240607)
    garbage = rng.randbytes(1_000_000).decode("utf-8", errors="replace")
    verdict = classify(garbage, "bigquery")
    assert verdict.category in CATEGORIES
    assert (
        per_call(lambda: classify(garbage, "bigquery"), repeat=2) <= baseline * effective_kb(garbage) * FACTOR
    )


ADVERSARIAL = {
    "a x 1e6": "a" * 1_000_000,
    "( x 1e5": "(" * 100_000,
    "[ x 1e5": "[" * 100_000,
    "Database Error x 1e5": "Database Error " * 100_000,
    "Runtime Error lines": "Runtime Error\n" * 100_000,
    "timestamps": "12:34:56  " * 100_000,
    "SQLSTATE x 1e5": "SQLSTATE " * 100_000,
    "snowflake code prefix": "000625 (" * 100_000,
    "googleapi lines": "googleapi: Error 403: a, b, c" * 20_000,
    "reason x 1e5": "reason: " * 100_000,
    "trino name=": "name=" * 100_000,
    "code: digits": "code: 1" * 100_000,
    "newlines": "\n" * 1_000_000,
    "warehouse near-miss": "Warehouse 'W' is " * 50_000,
    "line near-miss": "line 1:2: " * 100_000,
    "quotes": "'\"" * 300_000,
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_repetitions_take_linear_time(name: str, baseline: float) -> None:
    text = ADVERSARIAL[name]
    for adapter in (None, "postgres"):
        assert classify(text, adapter).category in CATEGORIES
        elapsed = per_call(lambda text=text, adapter=adapter: classify(text, adapter), repeat=2)  # type: ignore[misc]
        assert elapsed <= baseline * effective_kb(text) * FACTOR, (name, adapter, elapsed / baseline)


def near_miss_unit(pattern: str) -> str:
    """A string that starts to match `pattern`'s first alternative over and over without finishing."""
    runs = _literal_runs(_top_level_alternatives(pattern)[0])
    unit = " ".join(runs) or pattern
    return unit[:-1] + " " if len(unit) > 1 else unit + " "


def all_patterns() -> list[tuple[str, str]]:
    return [
        (signature.qualified_id, signature.pattern.pattern)
        for sset in load_library().sets.values()
        for signature in sset.signatures
        if signature.pattern is not None
    ]


@pytest.mark.parametrize(("sig_id", "pattern"), all_patterns(), ids=[p[0] for p in all_patterns()])
def test_each_signature_regex_scales_linearly_on_repeated_near_matches(sig_id: str, pattern: str) -> None:
    compiled = next(
        s.pattern
        for sset in load_library().sets.values()
        for s in sset.signatures
        if s.qualified_id == sig_id and s.pattern is not None
    )
    unit = near_miss_unit(pattern)
    small = (unit * (1024 // len(unit) + 1))[:1024]
    big = (unit * (16 * 1024 // len(unit) + 1))[: 16 * 1024]
    t_small = per_call(lambda: compiled.search(small))
    t_big = per_call(lambda: compiled.search(big))
    assert t_big <= t_small * 16 * FACTOR, (sig_id, repr(unit), t_big / t_small)
    # and through the whole classifier, against the common baseline
    assert classify(big).category in CATEGORIES


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=st.text(max_size=3000), adapter=st.sampled_from(ADAPTERS))
def test_classify_never_raises_and_returns_a_valid_verdict(message: str, adapter: str | None) -> None:
    verdict = classify(message, adapter)
    assert verdict.category in CATEGORIES
    policy = POLICY[verdict.category]
    assert (verdict.action, verdict.escalate_to, verdict.retryable) == tuple(policy)
    assert isinstance(verdict.to_dict()["evidence"]["matched"], str)


@settings(max_examples=150, deadline=None)
@given(blob=st.binary(max_size=4000), adapter=st.sampled_from(ADAPTERS))
def test_decoded_binary_never_raises(blob: bytes, adapter: str | None) -> None:
    assert classify(blob.decode("utf-8", errors="replace"), adapter).category in CATEGORIES


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.text(max_size=200),
    core=st.sampled_from(
        [
            "Database Error in model x (models/x.sql)\n  ",
            "Compilation Error in model x (models/x.sql)\n  ",
            "Encountered an error:\nRuntime Error\n  ",
            "002003 (42S02): SQL compilation error:\n",
            "SQLSTATE[40001]",
            "googleapi: Error 403: ",
            "[TABLE_OR_VIEW_NOT_FOUND] ",
            "name=EXCEEDED_LOCAL_MEMORY_LIMIT, ",
        ]
    ),
    suffix=st.text(max_size=200),
)
def test_wrapper_and_code_shapes_with_arbitrary_surroundings_never_raise(
    prefix: str, core: str, suffix: str
) -> None:
    assert classify(prefix + core + suffix).category in CATEGORIES
