"""How `classify` reads a message: dbt's wrappers, codes before regexes, adapters, results and routing."""

from __future__ import annotations

import pytest

from pipewatch.artifacts.model import NodeResult
from pipewatch.triage import POLICY, Classification, classify, classify_result, escalation_target
from pipewatch.triage.codes import Code, extract_codes
from pipewatch.triage.unwrap import first_line, unwrap
from tests.factories import make_result


def result(status: str, message: str | None = None) -> NodeResult:
    return make_result("model.shop.orders", status, message=message)


# --- dbt's wrappers --------------------------------------------------------------------------------


def test_unwrap_strips_headers_timestamps_and_compiled_at_lines() -> None:
    text = (
        "Encountered an error:\n"
        "12:01:02  Runtime Error\n"
        "12:01:02    Database Error in model orders (models/orders.sql)\n"
        '12:01:02      relation "raw.orders" does not exist\n'
        "12:01:02      compiled Code at target/run/shop/models/orders.sql"
    )
    unwrapped = unwrap(text)
    assert unwrapped.wrappers == ("encountered", "runtime", "database")
    assert unwrapped.body == 'relation "raw.orders" does not exist'


def test_first_line_is_the_line_beneath_the_header() -> None:
    message = (
        "\nDatabase Error in model orders (models/orders.sql)\n"
        '  relation "raw.orders" does not exist\n'
        "  LINE 3: from raw.orders\n"
        "  compiled Code at target/run/shop/models/orders.sql"
    )
    assert first_line(message) == 'relation "raw.orders" does not exist'
    # A message that is only a header still says where; a long line is cut with an ellipsis.
    assert (
        first_line("Compilation Error in model x (models/x.sql)")
        == "Compilation Error in model x (models/x.sql)"
    )
    assert first_line("Runtime Error\n  " + "x" * 50, width=10) == "x" * 9 + "…"
    assert first_line(None) == first_line("") == first_line("\n  \n") == ""


def test_header_with_a_message_on_the_same_line_keeps_the_message() -> None:
    unwrapped = unwrap("Parsing Error: Env var required but not provided: 'DBT_USER'")
    assert unwrapped.wrappers == ("parsing",)
    assert unwrapped.body == "Env var required but not provided: 'DBT_USER'"


def test_the_database_message_under_a_wrapper_decides_the_category() -> None:
    message = (
        "Database Error in model orders (models/orders.sql)\n"
        "  permission denied for table raw_orders\n"
        "  compiled Code at target/run/shop/models/orders.sql"
    )
    verdict = classify(message, "postgres")
    assert verdict.category == "permission"
    assert verdict.evidence.signature == "postgres/permission_denied_for_object"


def test_a_compilation_error_wrapping_a_database_error_is_the_database_error() -> None:
    message = (
        "Compilation Error in model orders (models/orders.sql)\n"
        "  Runtime Error\n"
        "    Database Error\n"
        "      deadlock detected"
    )
    assert classify(message, "postgres").category == "transient"


def test_a_bare_compilation_or_parsing_error_is_code() -> None:
    for message in (
        "Compilation Error in model orders (models/orders.sql)\n"
        "  macro 'dbt_macro__weird' takes no keyword argument 'x'",
        "Parsing Error\n  Invalid test config given in models/schema.yml",
    ):
        verdict = classify(message)
        assert verdict.category == "code", message
        assert verdict.evidence.kind == "wrapper"
        assert verdict.action == "escalate"
        assert verdict.escalate_to == "owner"


def test_a_bare_database_error_with_nothing_recognizable_is_unknown() -> None:
    verdict = classify("Database Error in model orders (models/orders.sql)\n  something odd happened")
    assert verdict.category == "unknown"
    assert verdict.escalate_to == "platform"


def test_dbt_level_messages() -> None:
    assert classify("Env var required but not provided: 'SNOWFLAKE_ACCOUNT'").category == "code"
    assert classify("Got 3 results, configured to fail if != 0").category == "quality"
    assert classify("Skipped due to upstream failure").category == "dependency"
    ephemeral = (
        "Compilation Error in model.shop.orders, caused by compilation error in referenced ephemeral model "
        "model.shop.base_orders"
    )
    verdict = classify(ephemeral)
    assert verdict.category == "dependency"
    assert verdict.action == "none"
    assert verdict.escalate_to is None


# --- codes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SQLSTATE[40001]: Serialization failure", Code("sqlstate", "40001")),
        ("ERROR: canceling statement (SQLSTATE 57014)", Code("sqlstate", "57014")),
        ("ERROR: permission denied (42501)", Code("sqlstate", "42501")),
        ("psycopg2 error pgcode=40P01", Code("sqlstate", "40P01")),
        ('{"sqlState": "42601"}', Code("sqlstate", "42601")),
        ("002003 (42S02): SQL compilation error:", Code("vendor", "002003")),
        ("002003 (42S02): SQL compilation error:", Code("sqlstate", "42S02")),
        ("500 Error. reason: backendError, message: x", Code("vendor", "backendError")),
        ('"reason": "rateLimitExceeded"', Code("vendor", "rateLimitExceeded")),
        ("googleapi: Error 403: Access Denied: Table t., accessDenied", Code("vendor", "accessDenied")),
        ("[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column", Code("vendor", "UNRESOLVED_COLUMN")),
        (
            "TrinoUserError(type=USER_ERROR, name=TABLE_NOT_FOUND, message=...)",
            Code("vendor", "TABLE_NOT_FOUND"),
        ),
        ("ERROR: 1023 DETAIL: Serializable isolation violation", Code("vendor", "1023")),
        ("code:      1207", Code("vendor", "1207")),
        ("Error: [backendError]", Code("vendor", "backendError")),
        ("Post x: PERMISSION_DENIED: User does not have READ FILES", Code("vendor", "PERMISSION_DENIED")),
    ],
)
def test_extract_codes_finds_each_printed_shape(text: str, expected: Code) -> None:
    assert expected in extract_codes(text)


def test_sqlstate_keyword_needs_a_digit_so_words_are_not_codes() -> None:
    assert extract_codes("SQLSTATE error happened") == ()


def test_codes_win_over_regexes_and_vendor_codes_over_sqlstates() -> None:
    # 57014 alone would be resource (query canceled); Snowflake's 000625 is a lock queue, transient.
    message = (
        "000625 (57014): Statement 'x' has locked table 'T' in transaction 1 "
        "and this lock has not yet been released."
    )
    for adapter in ("snowflake", None):
        verdict = classify(message, adapter)
        assert verdict.category == "transient"
        assert verdict.evidence.signature == "snowflake/lock_waiters_exceeded"
        assert verdict.evidence.kind == "code"
        assert verdict.adapter == "snowflake"


def test_sqlstate_class_is_the_fallback_for_unlisted_codes() -> None:
    verdict = classify("ERROR: something new (SQLSTATE 22Z99)", "postgres")
    assert verdict.category == "data"
    assert verdict.evidence.kind == "sqlstate_class"


def test_adapter_wording_beats_a_generic_jdbc_sqlstate_class() -> None:
    message = (
        "[42000] (80) error in server: java.lang.SecurityException: User does not have permission CREATE"
    )
    assert classify(message, "databricks").category == "permission"


# --- adapters -----------------------------------------------------------------------------------------


def test_adapter_names_are_case_insensitive_and_aliases_work() -> None:
    message = (
        "[DIVIDE_BY_ZERO] Division by zero. Use `try_divide` to tolerate divisor being 0. SQLSTATE: 22012"
    )
    for adapter in ("databricks", "Databricks", "spark", "SPARK"):
        verdict = classify(message, adapter)
        assert (verdict.category, verdict.adapter) == ("data", "databricks")


def test_redshift_uses_postgres_signatures_after_its_own() -> None:
    assert (
        classify("ERROR: 1023 DETAIL: Serializable isolation violation on table", "redshift").adapter
        == "redshift"
    )
    verdict = classify("ERROR: deadlock detected (SQLSTATE 40P01)", "redshift")
    assert (verdict.category, verdict.adapter) == ("transient", "postgres")


def test_an_unknown_adapter_still_classifies_through_generic_and_all_adapters() -> None:
    assert classify("permission denied for table orders", "clickhouse").category == "permission"
    assert classify(
        "googleapi: Error 400: Job exceeded rate limits, jobRateLimitExceeded", "nope"
    ).category == ("transient")


# --- results, policy and routing ---------------------------------------------------------------------


def test_classify_result_by_status() -> None:
    skipped = classify_result(result("skipped"))
    assert skipped is not None
    assert (skipped.category, skipped.action, skipped.evidence.kind) == ("dependency", "none", "status")
    for status in ("fail", "warn"):
        verdict = classify_result(result(status, "Got 2 results, configured to fail if != 0"))
        assert verdict is not None
        assert (verdict.category, verdict.escalate_to) == ("quality", "owner")
    error = classify_result(result("runtime error", "Database Error\n  division by zero"), adapter="postgres")
    assert error is not None and error.category == "data"
    assert classify_result(result("error", None)) == classify("")
    for status in ("success", "pass", "no-op", "reused"):
        assert classify_result(result(status)) is None


def test_policy_follows_the_design_contract() -> None:
    expected = {
        "transient": ("retry", "platform", True),
        "resource": ("escalate", "platform", False),
        "permission": ("escalate", "platform", False),
        "data": ("escalate", "owner", False),
        "code": ("escalate", "owner", False),
        "dependency": ("none", None, False),
        "quality": ("escalate", "owner", False),
        "unknown": ("escalate", "platform", False),
    }
    assert {category: tuple(policy) for category, policy in POLICY.items()} == expected


def test_escalation_target_prefers_the_right_party_and_falls_back() -> None:
    data = classify("division by zero")
    permission = classify("permission denied for schema raw")
    skipped = classify("Skipped due to upstream failure")
    assert escalation_target(data, "team-orders", "data-platform") == "team-orders"
    assert escalation_target(data, None, "data-platform") == "data-platform"
    assert escalation_target(permission, "team-orders", "data-platform") == "data-platform"
    assert escalation_target(permission, "team-orders", None) == "team-orders"
    assert escalation_target(permission, None, None) is None
    assert escalation_target(skipped, "team-orders", "data-platform") is None


def test_classification_is_frozen_and_serializes() -> None:
    verdict = classify("ERROR: could not serialize access due to concurrent update", "postgres")
    assert isinstance(verdict, Classification)
    with pytest.raises(AttributeError):
        verdict.category = "code"  # type: ignore[misc]
    data = verdict.to_dict()
    assert data["category"] == "transient"
    assert data["retryable"] is True
    assert set(data["evidence"]) == {"signature", "kind", "matched", "source"}
    assert "could not serialize access" in str(verdict.evidence)
