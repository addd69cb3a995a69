"""The signature data files: they load, every entry cites its source, and bad files fail clearly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pipewatch.errors import ConfigError
from pipewatch.triage import CATEGORIES, known_adapters
from pipewatch.triage.library import ADAPTERS, GENERIC, load_library, parse_signature_file
from pipewatch.triage.regex_anchors import required_anchors
from pipewatch.triage.regex_safety import pattern_problems

URL = re.compile(r"https?://\S+")
DATA = Path(__file__).parent / "data" / "triage"


def test_every_adapter_and_generic_has_a_signature_file() -> None:
    library = load_library()
    assert set(library.sets) == {GENERIC, *ADAPTERS}
    for name, sset in library.sets.items():
        assert sset.adapter == name
        assert sset.signatures, name


def test_every_signature_cites_a_source_with_a_link_or_the_corpus() -> None:
    for sset in load_library().sets.values():
        for signature in sset.signatures:
            assert signature.category in CATEGORIES
            assert URL.search(signature.source) or "artifact corpus" in signature.source, (
                f"{signature.qualified_id} cites no URL: {signature.source}"
            )


def test_every_shipped_pattern_is_linear_and_every_code_is_text() -> None:
    for sset in load_library().sets.values():
        for signature in sset.signatures:
            if signature.pattern is not None:
                assert pattern_problems(signature.pattern.pattern) == [], signature.qualified_id
                # load_library compiles each regex on its first search; every shipped one must compile.
                signature.pattern.compiled()
            assert all(isinstance(code, str) and code == code.lower() for code in signature.codes)


def test_the_issue_named_codes_are_all_covered() -> None:
    codes = {
        sset.adapter: {code for s in sset.signatures for code in s.codes}
        for sset in load_library().sets.values()
    }
    for code in ("40001", "40p01", "57p01", "08006", "53100", "42501", "22012", "22p02"):
        assert code in codes["postgres"], code
    for code in ("000625", "390114", "090073", "002003"):
        assert code in codes["snowflake"], code
    for code in ("ratelimitexceeded", "backenderror", "accessdenied", "resourcesexceeded"):
        assert code in codes["bigquery"], code


def test_known_adapters_lists_names_and_aliases_but_not_generic() -> None:
    names = known_adapters()
    assert list(names) == sorted(names)
    assert {"duckdb", "postgres", "snowflake", "bigquery", "databricks", "spark", "redshift", "trino"} <= set(
        names
    )
    assert GENERIC not in names


def test_redshift_extends_postgres_and_aliases_resolve() -> None:
    library = load_library()
    assert [s.adapter for s in library.chain("redshift")] == ["redshift", "postgres", GENERIC]
    assert [s.adapter for s in library.chain("SPARK")] == ["databricks", GENERIC]
    assert library.chain("no-such-warehouse")[0].adapter == GENERIC
    assert len(library.chain(None)) == 1 + len(ADAPTERS)


ENTRY = "adapter: a\nsignatures:\n  - id: x\n    category: data\n"
GOOD_ENTRY = "  - id: ok\n    category: data\n    pattern: 'x'\n    source: https://example.com\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("adapter: a\nsignatures: [\n", "invalid YAML"),
        ("- 1\n", "expected a mapping"),
        ("adapter: a\n", "'signatures' must be a non-empty list"),
        ("adapter: a\nsurprise: 1\nsignatures:\n" + GOOD_ENTRY, "unknown key(s) surprise"),
        (
            "adapter: a\nsignatures:\n  - id: x\n    category: weird\n    pattern: 'x'\n    source: s\n",
            "category 'weird'",
        ),
        (
            ENTRY + "    pattern: 'x'\n    code: '1'\n    source: s\n",
            "exactly one of",
        ),
        ("adapter: a\nsignatures:\n  - id: x\n    category: data\n    pattern: 'x'\n", "'source'"),
        ("adapter: a\nsignatures:\n  - id: x\n    category: data\n    code: 8000\n    source: s\n", "quoted"),
        (
            "adapter: a\nsignatures:\n  - id: x\n    category: data\n    pattern: '(a+)+b'\n    source: s\n",
            "backtrack",
        ),
        (
            ENTRY + "    pattern: '(unclosed'\n    source: s\n",
            "regex",
        ),
        ("adapter: a\nsignatures:\n" + GOOD_ENTRY + GOOD_ENTRY, "duplicate id 'ok'"),
        (
            "adapter: a\nsignatures:\n  - id: Bad-Id\n    category: data\n    pattern: 'x'\n    source: s\n",
            "snake_case",
        ),
        (
            ENTRY + "    code: '1'\n    scope: dbt\n    source: s\n",
            "scope 'dbt' needs",
        ),
    ],
)
def test_a_bad_signature_file_is_a_config_error_naming_file_and_entry(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_signature_file(text, "sigs/a.yml")
    message = str(raised.value)
    assert message.startswith("sigs/a.yml")
    assert problem in message
    assert "\n" not in message


def test_a_file_must_declare_the_adapter_it_is_named_for() -> None:
    with pytest.raises(ConfigError, match="declares adapter 'b'"):
        parse_signature_file("adapter: b\nsignatures:\n" + GOOD_ENTRY, "a.yml", expected_adapter="a")


@pytest.mark.parametrize(
    "pattern",
    [
        r"permission denied for (?:table|schema|relation)",
        r"\bwarehouse [^\n]{0,200}?\bis suspended",
        r"(?:\(total\) )?exceeded",
        r"[*+]{1,3}literal",
        r"\(HTTP 40[13]\)",
        r"(?i:sqlstate)",
        r"a{3}",
    ],
)
def test_regex_safety_accepts_bounded_patterns(pattern: str) -> None:
    assert pattern_problems(pattern) == []


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"a.*b", "unbounded quantifier '*'"),
        (r"\w+ does not exist", "unbounded quantifier '+'"),
        (r"x{2,}", "unbounded repeat"),
        (r"(?:ab){2,5}", "repeated group"),
        (r"(a|aa){0,40}", "repeated group"),
        (r"x{0,5000}", "above 1000"),
        (r"(a)\1", "backreference"),
        (r"(?P<n>a)(?P=n)", "named backreference"),
    ],
)
def test_regex_safety_refuses_patterns_that_can_backtrack(pattern: str, why: str) -> None:
    problems = pattern_problems(pattern)
    assert any(why in p for p in problems), problems


@pytest.mark.parametrize(
    ("pattern", "anchors"),
    [
        (r"\bpermission denied for (?:table|schema)", ("permission denied for ",)),
        (r"\bdeadlock (?:detected|found)\b|\bdeadlocked\b", ("deadlock ", "deadlocked")),
        (r"cancell?ed", ("cancel",)),
        (r"\bwarehouse \x27[^\x27\n]{1,255}\x27 is suspended", ("' is suspended",)),
        (r"\(HTTP 40[13]\)", ("(http 40",)),
        (r"\b50[234] (?:Bad Gateway|Service Unavailable)", None),
        (r"ab|\bxyz", None),
    ],
)
def test_required_anchors(pattern: str, anchors: tuple[str, ...] | None) -> None:
    assert required_anchors(pattern) == anchors


def test_anchors_never_skip_a_pattern_that_would_match() -> None:
    texts = [
        entry["message"]
        for name in ("labelled.yml", "heldout.yml")
        for entry in yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    ]
    signatures = [
        s for sset in load_library().sets.values() for s in sset.signatures if s.pattern is not None
    ]
    checked = 0
    for text in texts:
        folded = text.casefold()
        for signature in signatures:
            assert signature.pattern is not None
            if signature.pattern.search(text):
                checked += 1
                assert signature.anchors is None or any(a in folded for a in signature.anchors), (
                    signature.qualified_id,
                    text[:200],
                )
    assert checked > 100
