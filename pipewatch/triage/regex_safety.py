"""A static check that a signature regex runs in linear time on Python's backtracking engine.

Catastrophic backtracking needs either an unbounded repeat or a repeated group whose inside can match
the same text in more than one way. The rules below forbid both, so every attempt from one start
position explores a bounded number of paths and a search costs O(len(text)) with a constant set by
the pattern:

* no unbounded quantifier: `*`, `+` and `{n,}` are refused; write `{0,200}` instead;
* bounded repeats `{m,n}` with n at most `MAX_REPEAT`;
* a group may only be made optional (`?`); repeating a group (`(...){2,5}`) is refused;
* no backreferences (`\\1`, `(?P=name)`).
"""

from __future__ import annotations

MAX_REPEAT = 1000

_GROUP_PREFIXES = ("?:", "?=", "?!", "?<=", "?<!", "?P<", "?P=", "?>", "?(")


def pattern_problems(pattern: str) -> list[str]:
    """Reasons the pattern could run in more than linear time; an empty list means it is safe."""
    problems: list[str] = []
    i = 0
    n = len(pattern)
    # What the previous token was: "atom", "group" (a closing parenthesis), "quant" or "start".
    previous = "start"
    while i < n:
        char = pattern[i]
        if char == "\\":
            if i + 1 < n and pattern[i + 1] in "123456789":
                problems.append(f"backreference \\{pattern[i + 1]} at {i}")
            i += 2
            previous = "atom"
            continue
        if char == "[":
            i = _skip_class(pattern, i)
            previous = "atom"
            continue
        if char == "(":
            rest = pattern[i + 1 : i + 4]
            if rest.startswith("?P="):
                problems.append(f"named backreference at {i}")
            prefix = next((p for p in _GROUP_PREFIXES if pattern.startswith(p, i + 1)), None)
            if prefix is None and rest.startswith("?"):
                # Inline flags such as (?i) or (?i:...): skip the letters.
                j = i + 2
                while j < n and pattern[j].isalpha():
                    j += 1
                i = j + 1 if j < n and pattern[j] in ":)" else j
            else:
                i += 1 + (len(prefix) if prefix else 0)
            previous = "start"
            continue
        if char == ")":
            i += 1
            previous = "group"
            continue
        if char in "*+":
            if previous == "quant" and char == "+":
                problems.append(f"possessive quantifier at {i}")
            else:
                problems.append(f"unbounded quantifier {char!r} at {i}")
            i += 1
            previous = "quant"
            continue
        if char == "?":
            if previous == "quant":
                i += 1  # lazy modifier of the previous quantifier
                continue
            i += 1
            previous = "quant"
            continue
        if char == "{":
            close = pattern.find("}", i)
            body = pattern[i + 1 : close] if close != -1 else ""
            bounds = _parse_bounds(body)
            if bounds is None:
                i += 1  # a literal brace
                previous = "atom"
                continue
            _low, high = bounds
            if high is None:
                problems.append(f"unbounded repeat {{{body}}} at {i}")
            elif high > MAX_REPEAT:
                problems.append(f"repeat {{{body}}} above {MAX_REPEAT} at {i}")
            if previous == "group" and (high is None or high > 1):
                problems.append(f"repeated group {{{body}}} at {i}")
            i = close + 1
            previous = "quant"
            continue
        i += 1
        previous = "atom"
    return problems


def _skip_class(pattern: str, start: int) -> int:
    """Index just past the character class that opens at `start`."""
    i = start + 1
    n = len(pattern)
    if i < n and pattern[i] == "^":
        i += 1
    if i < n and pattern[i] == "]":
        i += 1  # a leading ] is a literal
    while i < n and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


def _parse_bounds(body: str) -> tuple[int, int | None] | None:
    """`(low, high)` of a `{m}`, `{m,}` or `{m,n}` repeat; None if the braces are a literal."""
    low_text, comma, high_text = body.partition(",")
    if not low_text.isdigit() and not (comma and low_text == ""):
        return None
    low = int(low_text) if low_text else 0
    if not comma:
        return low, low
    if high_text == "":
        return low, None
    if not high_text.isdigit():
        return None
    return low, int(high_text)
