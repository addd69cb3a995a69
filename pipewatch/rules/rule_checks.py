"""Rule-file check arguments into `Check` specs: one builder per check class, registered with `builds`.

The loader (`pipewatch.rules.loader`) finds the check type's class in `spec.CHECK_TYPES` and hands its
arguments to the class's builder here, which validates them (every problem reported with its line
through the loader) and returns the checks; a list of columns gives one check per column.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pipewatch.config import parse_duration as parse_config_duration
from pipewatch.located import LMap, Located, LScalar, LSeq
from pipewatch.rules.spec import (
    AcceptedValues,
    Check,
    Duplicates,
    Expression,
    Freshness,
    Matches,
    NotNull,
    Range,
    Relationships,
    RowCount,
    Scalar,
    Unique,
)
from pipewatch.rules.sqltext import SqlTextError, check_pattern, parse_boolean

if TYPE_CHECKING:
    from pipewatch.rules.loader import RuleLoader


#: The keys that name a table (in a table entry and in relationships' `to`).
TARGET_KEYS = ("model", "source", "relation")


def parse_duration(text: str) -> float:
    """Seconds in a rule file's duration (`48h`, `2d`, `1h30m`); zero or less is refused too."""
    total = parse_config_duration(text)
    if total <= 0:
        raise ValueError(f"bad duration `{text}`: must be more than zero")
    return total


class Invalid(Exception):
    """A value was refused and reported; stop building the current item."""


#: A builder: (loader, check type name, the type key's value, sibling options, line) -> checks.
Builder = Callable[["RuleLoader", str, Located, dict[str, Located], int], list[Check]]
#: The builder of each rule-file check class.
BUILDERS: dict[type[Check], Builder] = {}


def builds(*classes: type[Check]) -> Callable[[Builder], Builder]:
    """Register the decorated function as the rule-file builder of `classes`."""

    def register(builder: Builder) -> Builder:
        for cls in classes:
            BUILDERS[cls] = builder
        return builder

    return register


def show(node: Located) -> str:
    """A value as an error message quotes it."""
    if isinstance(node, LScalar):
        return "null" if node.value is None else str(node.value)
    return "a list" if isinstance(node, LSeq) else "a mapping"


def suggest(word: str, choices: tuple[str, ...]) -> str:
    """` (did you mean `x`?)` for the closest of `choices`, or ""."""
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


@builds(NotNull, Unique)
def _per_column(
    ld: RuleLoader, kind: str, value: Located, siblings: dict[str, Located], line: int
) -> list[Check]:
    """not_null / unique: a column, a list of columns, or `{column|columns: ..., <options>}`."""
    if isinstance(value, LMap):
        args = ld.args(kind, value, siblings, ("column", "columns"), ())
        given = [k for k in ("column", "columns") if k in args]
        if len(given) != 1:
            raise ld.fail(value.line, f"{kind}: give exactly one of `column` or `columns`")
        cols = ld.columns(args[given[0]], kind)
    else:
        args = dict(siblings)
        ld.args(kind, LMap({}, value.line), siblings, ("column", "columns"), ())
        cols = ld.columns(value, kind)
    if "name" in args and len(cols) > 1:
        raise ld.fail(args["name"].line, f"{kind}: `name` needs a single column (got {len(cols)})")
    repeated = {c: n for c, n in Counter(cols).items() if n > 1}
    if repeated:  # one line per column however often it repeats, not one per copy
        for col, times in repeated.items():
            ld.err(value.line, f"{kind}: column `{col}` is listed {times} times")
        raise Invalid()
    checks: list[Check] = []
    for col in cols:
        common = ld.common(kind, args, line, f"{kind}({col})")
        if kind == "not_null":
            checks.append(NotNull(column=col, **common))
        else:
            checks.append(Unique(columns=(col,), **common))
    return checks


@builds(AcceptedValues)
def _accepted_values(
    ld: RuleLoader, kind: str, value: Located, siblings: dict[str, Located], line: int
) -> list[Check]:
    args = ld.args(kind, value, siblings, ("column", "values"), ("column", "values"))
    col = ld.column(args["column"], kind)
    values_node = args["values"]
    if not isinstance(values_node, LSeq) or not values_node.items:
        raise ld.fail(values_node.line, f"{kind}: `values` must be a non-empty list")
    values: list[Scalar] = []
    bad = False
    for v in values_node.items:
        if isinstance(v, LScalar) and v.value is None:
            ld.err(v.line, f"{kind}: null is not a value (NULLs never fail accepted_values; use not_null)")
            bad = True
            continue
        try:
            values.append(ld.literal(v, f"{kind}: each value"))
        except Invalid:
            bad = True
    common = ld.common(kind, args, line, f"{kind}({col})")
    if bad:
        raise Invalid()
    return [AcceptedValues(column=col, values=tuple(values), **common)]


def _comparable(a: Scalar, b: Scalar) -> bool:
    numbers = (int, float, Decimal)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return True
    if isinstance(a, datetime) or isinstance(b, datetime):
        return isinstance(a, datetime) and isinstance(b, datetime)
    return type(a) is type(b)


def _bounds(ld: RuleLoader, kind: str, args: dict[str, Located], integer: bool, line: int) -> tuple[Any, Any]:
    if "min" not in args and "max" not in args:
        raise ld.fail(line, f"{kind}: give `min`, `max` or both")
    out: list[Any] = []
    for key in ("min", "max"):
        node = args.get(key)
        if node is None:
            out.append(None)
            continue
        raw = node.value if isinstance(node, LScalar) else None
        if integer:
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                raise ld.fail(node.line, f"{kind}: `{key}` must be a whole number >= 0 (got `{show(node)}`)")
        elif isinstance(raw, bool) or not isinstance(raw, (int, float, Decimal, str, date, datetime)):
            raise ld.fail(node.line, f"{kind}: `{key}` must be a number, string or date (got `{show(node)}`)")
        if isinstance(raw, float) and raw != raw:
            raise ld.fail(node.line, f"{kind}: `{key}` must not be NaN")
        out.append(raw)
    lo, hi = out
    if lo is not None and hi is not None:
        if not _comparable(lo, hi):
            raise ld.fail(args["max"].line, f"{kind}: `min` and `max` have different types ({lo!r}, {hi!r})")
        if lo > hi:
            raise ld.fail(args["min"].line, f"{kind}: min ({lo}) is greater than max ({hi})")
    return lo, hi


@builds(Range)
def _range(ld: RuleLoader, kind: str, value: Located, siblings: dict[str, Located], line: int) -> list[Check]:
    args = ld.args(kind, value, siblings, ("column", "min", "max"), ("column",))
    col = ld.column(args["column"], kind)
    lo, hi = _bounds(ld, kind, args, integer=False, line=value.line)
    common = ld.common(kind, args, line, f"{kind}({col})")
    return [Range(column=col, min=lo, max=hi, **common)]


@builds(Matches)
def _matches(
    ld: RuleLoader, kind: str, value: Located, siblings: dict[str, Located], line: int
) -> list[Check]:
    args = ld.args(kind, value, siblings, ("column", "pattern"), ("column", "pattern"))
    col = ld.column(args["column"], kind)
    pattern = ld.string(args["pattern"], f"{kind}: `pattern`", blank_ok=True)
    if pattern is None:
        raise Invalid()
    problem = check_pattern(pattern, ld.dialect)
    if problem:
        raise ld.fail(args["pattern"].line, f"{kind}: {problem}")
    common = ld.common(kind, args, line, f"{kind}({col})")
    return [Matches(column=col, pattern=pattern, **common)]


@builds(Relationships)
def _relationships(
    ld: RuleLoader, kind: str, value: Located, siblings: dict[str, Located], line: int
) -> list[Check]:
    args = ld.args(kind, value, siblings, ("column", "to", "field"), ("column", "to"))
    col = ld.column(args["column"], kind)
    field_name = col
    if "field" in args:
        f = ld.string(args["field"], f"{kind}: `field`")
        if f is None:
            raise Invalid()
        field_name = f
    to_node = args["to"]
    if isinstance(to_node, LScalar):
        parent = ld.target("model", to_node, f"{kind}: `to`: ")
    elif isinstance(to_node, LMap):
        ld.keys(to_node, TARGET_KEYS, (), f"{kind}: `to`")
        named = [k for k in TARGET_KEYS if k in to_node.items]
        if len(named) != 1:
            raise ld.fail(
                to_node.line, f"{kind}: `to` needs exactly one of `model:`, `source:` or `relation:`"
            )
        parent = ld.target(named[0], to_node.items[named[0]], f"{kind}: `to`: ")
    else:
        raise ld.fail(to_node.line, f"{kind}: `to` is a model name or a mapping with model/source/relation")
    common = ld.common(kind, args, line, "")
    if parent is None:
        raise Invalid()
    if "name" not in args:
        common["name"] = f"{kind}({col} -> {parent.relation}.{field_name})"
    return [Relationships(column=col, to=parent, field=field_name, **common)]


@builds(RowCount)
def _row_count(
    ld: RuleLoader, kind: str, value: Located, siblings: dict[str, Located], line: int
) -> list[Check]:
    args = ld.args(kind, value, siblings, ("min", "max"), ())
    lo, hi = _bounds(ld, kind, args, integer=True, line=value.line)
    common = ld.common(kind, args, line, kind)
    return [RowCount(min=lo, max=hi, **common)]


@builds(Freshness)
def _freshness(
    ld: RuleLoader, kind: str, value: Located, siblings: dict[str, Located], line: int
) -> list[Check]:
    args = ld.args(kind, value, siblings, ("column", "max_age"), ("column", "max_age"))
    col = ld.column(args["column"], kind)
    age_node = args["max_age"]
    raw = age_node.value if isinstance(age_node, LScalar) else None
    try:
        if not isinstance(raw, str):
            raise ValueError(
                f"bad duration `{show(age_node)}`: use a number and a unit s, m, h, d or w (e.g. 48h)"
            )
        seconds = parse_duration(raw)
    except ValueError as exc:
        raise ld.fail(age_node.line, f"{kind}: {exc}") from None
    common = ld.common(kind, args, line, f"{kind}({col})")
    return [Freshness(column=col, max_age_s=seconds, **common)]


@builds(Duplicates)
def _duplicates(
    ld: RuleLoader, kind: str, value: Located, siblings: dict[str, Located], line: int
) -> list[Check]:
    args = ld.args(kind, value, siblings, ("columns", "column", "max_ratio"), ())
    given = [k for k in ("column", "columns") if k in args]
    if len(given) != 1:
        raise ld.fail(value.line, f"{kind}: give exactly one of `column` or `columns`")
    if "max_ratio" in args and "max_failure_ratio" in args:
        raise ld.fail(args["max_ratio"].line, f"{kind}: give `max_ratio` or `max_failure_ratio`, not both")
    cols = ld.columns(args[given[0]], kind)
    if len(set(cols)) != len(cols):
        raise ld.fail(args[given[0]].line, f"{kind}: a column is listed twice")
    common = ld.common(kind, args, line, f"{kind}({', '.join(cols)})")
    return [Duplicates(columns=tuple(cols), **common)]


@builds(Expression)
def _expression(
    ld: RuleLoader, kind: str, value: Located, siblings: dict[str, Located], line: int
) -> list[Check]:
    if isinstance(value, LMap):
        args = ld.args(kind, value, siblings, ("sql",), ("sql",))
        sql_node = args["sql"]
    else:
        args = dict(siblings)
        ld.args(kind, LMap({}, value.line), siblings, ("sql",), ())
        sql_node = value
    sql = ld.string(sql_node, f"{kind}: `sql`")
    if sql is None:
        raise Invalid()
    try:
        parse_boolean(sql, ld.dialect, f"{kind}: `sql`")
    except SqlTextError as exc:
        raise ld.fail(sql_node.line, str(exc)) from None
    common = ld.common(kind, args, line, f"{kind}({' '.join(sql.split())})")
    return [Expression(sql=sql, **common)]
