"""Pulling SQLSTATEs and vendor error codes out of an error message.

Warehouses print their codes in a handful of shapes: `SQLSTATE[40001]`, `(SQLSTATE 57014)`, `(42501)`,
Snowflake's `002003 (42S02):`, psycopg's `pgcode`, BigQuery's `reason: rateLimitExceeded`, Databricks'
`[TABLE_OR_VIEW_NOT_FOUND]` or `PERMISSION_DENIED: ...`, Trino's `name=TABLE_NOT_FOUND`, Redshift's
`ERROR: 1023` or `code: 1207`.
Every pattern here has bounded repeats only, so extraction stays linear in the message length.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

CodeKind = Literal["sqlstate", "vendor"]

#: More codes than this in one message are noise; the first ones are the ones that matter.
MAX_CODES = 64


class Code(NamedTuple):
    """One code found in a message: a five-character SQLSTATE or a vendor code, as printed."""

    kind: CodeKind
    value: str


_SQLSTATE_KEYWORD = re.compile(
    r"(?i:\bsql ?state\b|\bsql_state\b|\bpgcode\b)['\"]?(?:\s{0,3}(?i:is))?\s{0,3}[:=\[(]?\s{0,3}['\"]?"
    r"([0-9A-Z]{5})(?![0-9A-Za-z])"
)
_SNOWFLAKE = re.compile(r"(?<![0-9])([0-9]{6}) \(([0-9A-Z]{5})\)")
_BRACKETED_NUMBER = re.compile(r"[(\[]([0-9][0-9A-Z]{4}|[0-9]{6})[)\]]")
_VENDOR_NUMBER = re.compile(
    r"(?i:\b(?:error|err_code|code|invalid operation|vendorcode|errno))['\"]?"
    r"\s{0,12}[:=|]?\s{0,12}([0-9]{3,6})\b"
)
_CONDITION = re.compile(r"\[([A-Z][A-Z0-9_]{2,80})(?:\.([A-Z0-9_]{1,80}))?\]")
_NAMED = re.compile(
    r"\b(?:name|errorName|error_name|type|errorType|error_type)['\"]?\s{0,2}[=:]\s{0,2}['\"]?([A-Z][A-Z0-9_]{2,80})\b"
)
_PARENTHESISED_NAME = re.compile(r"\(([A-Z][A-Z0-9_]{2,80})\)")
_LABEL = re.compile(r"\b([A-Z][A-Z0-9]{1,30}_[A-Z0-9_]{1,60}): ")
_REASON = re.compile(r"(?i:\breason)['\"]?\s{0,3}[:=]\s{0,3}['\"]?([A-Za-z]{3,60})")
_BRACKETED_REASON = re.compile(r"\[([a-z]{2,30}[A-Z][A-Za-z]{1,40})\]")
_GOOGLEAPI = "googleapi: error "


def extract_codes(text: str) -> tuple[Code, ...]:
    """Every SQLSTATE and vendor code in `text`, first occurrence first, without duplicates."""
    found: dict[Code, None] = {}

    def add(kind: CodeKind, value: str) -> None:
        if len(found) < MAX_CODES:
            found.setdefault(Code(kind, value), None)

    for match in _SNOWFLAKE.finditer(text):
        add("vendor", match.group(1))
        add("sqlstate", match.group(2))
    for match in _SQLSTATE_KEYWORD.finditer(text):
        if _has_digit(match.group(1)):
            add("sqlstate", match.group(1))
    for match in _BRACKETED_NUMBER.finditer(text):
        value = match.group(1)
        add("sqlstate" if len(value) == 5 else "vendor", value)
    for match in _VENDOR_NUMBER.finditer(text):
        add("vendor", match.group(1))
    for match in _CONDITION.finditer(text):
        add("vendor", match.group(1))
        if match.group(2):
            add("vendor", f"{match.group(1)}.{match.group(2)}")
    for match in _NAMED.finditer(text):
        add("vendor", match.group(1))
    for match in _PARENTHESISED_NAME.finditer(text):
        if "_" in match.group(1):
            add("vendor", match.group(1))
    for match in _LABEL.finditer(text):
        add("vendor", match.group(1))
    for match in _REASON.finditer(text):
        add("vendor", match.group(1))
    for match in _BRACKETED_REASON.finditer(text):
        add("vendor", match.group(1))
    for reason in _googleapi_reasons(text):
        add("vendor", reason)
    return tuple(found)


def _has_digit(value: str) -> bool:
    return any(c.isdigit() for c in value)


def _googleapi_reasons(text: str) -> list[str]:
    """The reason ending a googleapi error line: `googleapi: Error 403: Access Denied: ..., accessDenied`."""
    reasons: list[str] = []
    lowered = text.lower()
    start = lowered.find(_GOOGLEAPI)
    while start != -1 and len(reasons) < MAX_CODES:
        end = text.find("\n", start)
        line = text[start : end if end != -1 else len(text)]
        _, comma, tail = line.rpartition(", ")
        candidate = tail.strip().strip("\"'[]}{,.\\")
        if comma and candidate.isascii() and candidate.isalpha() and 3 <= len(candidate) <= 60:
            reasons.append(candidate)
        start = lowered.find(_GOOGLEAPI, start + len(_GOOGLEAPI))
    return reasons
