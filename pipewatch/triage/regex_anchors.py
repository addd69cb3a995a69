"""Literal anchors of a signature regex: substrings that must occur in any text the regex matches.

Checking `anchor in text` is far cheaper than running a case-insensitive regex over the text, so
`classify` only runs a pattern when one of its anchors is present. A pattern whose top-level
alternatives do not all carry a literal of at least `MIN_ANCHOR` characters gets no anchors (None)
and is always run.
"""

from __future__ import annotations

import re

MIN_ANCHOR = 3
_QUANTIFIER = re.compile(r"\{[0-9]{0,4},?[0-9]{0,4}\}")

# Escapes that stand for one literal character; `\\b`, `\\B`, `\\A`, `\\Z` match no character at all.
_ESCAPED_LITERAL = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}
_ZERO_WIDTH = frozenset("bBAZ")


def required_anchors(pattern: str) -> tuple[str, ...] | None:
    """One case-folded literal per top-level alternative, or None when some alternative has none."""
    anchors: list[str] = []
    for alternative in _top_level_alternatives(pattern):
        best = max(_literal_runs(alternative), key=len, default="")
        if len(best) < MIN_ANCHOR:
            return None
        anchors.append(best.casefold())
    return tuple(dict.fromkeys(anchors)) or None


def _top_level_alternatives(pattern: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _skip_class(pattern, i)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


def _literal_runs(alternative: str) -> list[str]:
    """Runs of characters that must appear, in order, for this alternative to match."""
    runs: list[str] = []
    run: list[str] = []
    depth = 0
    i = 0
    n = len(alternative)

    def end_run() -> None:
        if run:
            runs.append("".join(run))
            run.clear()

    while i < n:
        char = alternative[i]
        if depth:
            if char == "\\":
                i += 2
                continue
            if char == "[":
                i = _skip_class(alternative, i)
                continue
            depth += {"(": 1, ")": -1}.get(char, 0)
            i += 1
            if depth == 0 and i < n and (alternative[i] in "?*+" or _QUANTIFIER.match(alternative, i)):
                i = _skip_quantifier(alternative, i)
            continue
        if char == "(":
            end_run()
            depth = 1
            i += 1
            continue
        if char in "?*+" or (char == "{" and _QUANTIFIER.match(alternative, i)):
            # The previous atom is optional or repeated: it cannot anchor, and the run ends here.
            if run:
                run.pop()
            end_run()
            i = _skip_quantifier(alternative, i)
            continue
        if char == "\\" and i + 1 < n:
            escaped = alternative[i + 1]
            i += 2
            if escaped in _ZERO_WIDTH:
                continue
            if escaped == "x" and i + 2 <= n:
                run.append(chr(int(alternative[i : i + 2], 16)))
                i += 2
            elif escaped in _ESCAPED_LITERAL:
                run.append(_ESCAPED_LITERAL[escaped])
            elif not escaped.isalnum():
                run.append(escaped)
            else:
                end_run()  # \s, \d, \w ...: a class, not a literal
            continue
        if char == "[":
            end_run()
            i = _skip_class(alternative, i)
            continue
        if char in ".":
            end_run()
        elif char not in "^$":
            run.append(char)
        i += 1
    end_run()
    return runs


def _skip_quantifier(pattern: str, i: int) -> int:
    if pattern[i] == "{":
        close = pattern.find("}", i)
        i = close + 1 if close != -1 else i + 1
    else:
        i += 1
    if i < len(pattern) and pattern[i] in "?+":
        i += 1  # lazy or possessive modifier
    return i


def _skip_class(pattern: str, start: int) -> int:
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1
