"""Seeing through dbt's wrapper to the warehouse's own message.

dbt reports a failure as `Database Error in model orders (models/orders.sql)`, then the database's text
indented by two spaces, then `compiled Code at target/run/...`; the CLI prefixes `Encountered an error:`
and log lines carry a `12:34:56  ` timestamp. Runtime, Compilation, Parsing and Internal errors look the
same. `unwrap` returns the kinds of wrapper it peeled off and the lines that remain; `first_line` is the
one line to show for a message (outputs, retry plans, warehouse errors): the first line beneath the wrapper.
"""

from __future__ import annotations

import re
from typing import NamedTuple

#: dbt exception types as their `type` property spells them (dbt_common.exceptions, dbt.exceptions).
WRAPPER_KINDS = ("database", "runtime", "compilation", "parsing", "internal", "dependency")

_TIMESTAMP = re.compile(r"\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?\s{1,8}")
_KIND = re.compile(rf"({'|'.join(WRAPPER_KINDS)}) error(?![a-z])", re.IGNORECASE)
_COMPILED_AT = re.compile(r"compiled (?:sql|code) at\b", re.IGNORECASE)
_ENCOUNTERED = "encountered an error"


class Unwrapped(NamedTuple):
    """What remains of a message once dbt's wrapper lines are removed."""

    body: str
    wrappers: tuple[str, ...]  # wrapper kinds, outermost first: "encountered", "database", "compilation", ...


def unwrap(text: str) -> Unwrapped:
    """Split dbt's wrapper headers off `text`; the body is the warehouse's (or Jinja's) message."""
    wrappers: list[str] = []
    body: list[str] = []
    for raw_line in text.split("\n"):
        line = raw_line.strip()
        stamp = _TIMESTAMP.match(line)
        if stamp:
            line = line[stamp.end() :].strip()
        line = _peel_headers(line, wrappers)
        if line and not _COMPILED_AT.match(line):
            body.append(line)
    return Unwrapped("\n".join(body), tuple(wrappers))


def _peel_headers(line: str, wrappers: list[str]) -> str:
    """Remove wrapper headers from the start of one line, recording their kinds; return the rest."""
    while line:
        if line.lower().startswith(_ENCOUNTERED):
            wrappers.append("encountered")
            _, colon, rest = line.partition(":")
            line = rest.strip() if colon else ""
            continue
        match = _KIND.match(line)
        if match is None:
            return line
        wrappers.append(match.group(1).lower())
        rest = line[match.end() :]
        if rest.lower().startswith(" in "):
            return ""  # "Database Error in model x (path)": the node header carries no diagnosis
        stripped = rest.strip()
        line = stripped[1:].strip() if stripped.startswith(":") else stripped
    return line


def first_line(message: str | None, width: int | None = None) -> str:
    """The first meaningful line of a dbt error message, dbt's header stripped, for showing in one line.

    `Database Error in model orders (path)\n  relation "raw.x" does not exist` gives the second line; a
    message that is nothing but a header gives the header itself (it still says where). `width` cuts a
    longer line, ending it with `…`. "" for no message.
    """
    text = message or ""
    line = _first_raw_line(unwrap(text).body) or _first_raw_line(text)
    if width is not None and len(line) > width:
        return line[: max(0, width - 1)] + "…"
    return line


def _first_raw_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
