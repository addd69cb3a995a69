"""One builder per supported dbt generic test, keyed by (package namespace, test name): each turns the
test's context into the `Check` that counts what dbt's test query counts."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from pipewatch.config import parse_duration
from pipewatch.rules.dbt_test_context import (
    TestContext,
    Unsupported,
    column_name,
    is_number,
    parent_ref,
    sql_literal,
)
from pipewatch.rules.spec import (
    AcceptedValues,
    Check,
    Duplicates,
    Expression,
    Freshness,
    Matches,
    NotNull,
    NotNullProportion,
    Range,
    Relationships,
    RowCount,
    Unique,
)
from pipewatch.rules.sqltext import (
    SqlTextError,
    check_pattern,
    name_key,
    parse_boolean,
)

# --- one builder per test ---------------------------------------------------------------------------

Builder = Callable[[TestContext], Check]


def _not_null(ctx: TestContext) -> Check:
    return NotNull(column=ctx.column(), **ctx.common())


def _unique(ctx: TestContext) -> Check:
    return Unique(columns=(ctx.column(),), **ctx.common())


def _accepted_values(ctx: TestContext, own: bool = False) -> Check:
    values = ctx.arg("values")
    if not isinstance(values, (list, tuple)) or not values:
        raise Unsupported("accepted_values without a list of values")
    # dbt quotes every value as a string unless `quote: false`, then pastes them as SQL.
    if ctx.arg("quote", True) is False:
        parsed = [
            v if is_number(v) or isinstance(v, bool) else sql_literal(str(v), ctx.dialect) for v in values
        ]
    else:
        parsed = [str(v) for v in values]
    return AcceptedValues(column=ctx.column(), values=tuple(parsed), **ctx.common(own_thresholds=own))


def _relationships(ctx: TestContext, own: bool = False) -> Check:
    col = ctx.column()
    field_name = ctx.arg("field") or col
    return Relationships(
        column=col,
        to=parent_ref(ctx, ctx.arg("to")),
        field=column_name(str(field_name), ctx.dialect),
        **ctx.common(own_thresholds=own),
    )


def _boolean_sql(ctx: TestContext, sql: str, what: str) -> str:
    try:
        parse_boolean(sql, ctx.dialect, what)
    except SqlTextError as exc:
        raise Unsupported(str(exc)) from None
    return sql


def _expression_is_true(ctx: TestContext) -> Check:
    expression = ctx.arg("expression")
    if not isinstance(expression, str) or not expression.strip():
        raise Unsupported("expression_is_true without an `expression`")
    column = ctx.info.column_name
    sql = f"{column} {expression}" if column else expression
    return Expression(sql=_boolean_sql(ctx, sql, "expression"), **ctx.common())


def _accepted_range(ctx: TestContext) -> Check:
    col = ctx.column()
    low, high = ctx.arg("min_value"), ctx.arg("max_value")
    inclusive = ctx.arg("inclusive", True) is not False
    if low is None and high is None:
        raise Unsupported("accepted_range without min_value or max_value")
    common = ctx.common()
    if all(v is None or is_number(v) for v in (low, high)):
        return Range(column=col, min=low, max=high, inclusive=inclusive, **common)
    # dbt-utils pastes the bounds as SQL (`current_date`, `'2024-01-01'`): the same test as an expression.
    eq = "=" if inclusive else ""
    parts = [f"{ctx.info.column_name} >{eq} {low}" if low is not None else None]
    parts.append(f"{ctx.info.column_name} <{eq} {high}" if high is not None else None)
    sql = " AND ".join(p for p in parts if p)
    return Expression(sql=_boolean_sql(ctx, sql, "accepted_range"), **common)


def _unique_combination(ctx: TestContext) -> Check:
    cols = ctx.arg("combination_of_columns")
    if not isinstance(cols, (list, tuple)) or not cols:
        raise Unsupported("unique_combination_of_columns without `combination_of_columns`")
    names = tuple(column_name(str(c), ctx.dialect) for c in cols)
    if ctx.arg("quote_columns") is True and any(name_key(n, ctx.dialect) != n for n in names):
        raise Unsupported("quote_columns with names the dialect would fold")
    # dbt-utils groups by the columns as they are: NULL keys group together.
    return Unique(columns=names, ignore_null_keys=False, **ctx.common())


def _not_null_proportion(ctx: TestContext) -> Check:
    if ctx.arg("group_by_columns"):
        raise Unsupported("not_null_proportion with group_by_columns (one result per group)")
    at_least = ctx.arg("at_least", ctx.arg("arg"))
    at_most = ctx.arg("at_most", 1)
    if not is_number(at_least) or not is_number(at_most):
        raise Unsupported("not_null_proportion needs numeric at_least (and at_most)")
    return NotNullProportion(
        column=ctx.column(), at_least=float(at_least), at_most=float(at_most), **ctx.common()
    )


# The pipewatch package's tests take the rule file's arguments and thresholds.


def _pw_not_null(ctx: TestContext) -> Check:
    return NotNull(column=ctx.column(), **ctx.common(own_thresholds=True))


def _pw_unique(ctx: TestContext) -> Check:
    return Unique(columns=(ctx.column(),), **ctx.common(own_thresholds=True))


def _pw_range(ctx: TestContext) -> Check:
    low, high = ctx.arg("min"), ctx.arg("max")
    if low is None and high is None:
        raise Unsupported("range without min or max")
    for v in (low, high):
        if isinstance(v, bool) or (v is not None and not isinstance(v, (int, float, Decimal, str))):
            raise Unsupported(f"range bound `{v}` is not a number or string")
    inclusive = ctx.arg("inclusive", True) is not False
    return Range(
        column=ctx.column(), min=low, max=high, inclusive=inclusive, **ctx.common(own_thresholds=True)
    )


def _pw_matches(ctx: TestContext) -> Check:
    pattern = ctx.arg("pattern")
    if not isinstance(pattern, str):
        raise Unsupported("matches without a `pattern`")
    problem = check_pattern(pattern, ctx.dialect)
    if problem:
        raise Unsupported(problem)
    return Matches(column=ctx.column(), pattern=pattern, **ctx.common(own_thresholds=True))


def _pw_expression(ctx: TestContext) -> Check:
    sql = ctx.arg("sql")
    if not isinstance(sql, str):
        raise Unsupported("expression without `sql`")
    return Expression(sql=_boolean_sql(ctx, sql, "expression"), **ctx.common(own_thresholds=True))


def _pw_row_count(ctx: TestContext) -> Check:
    low, high = ctx.arg("min"), ctx.arg("max")
    for v in (low, high):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise Unsupported(f"row_count bound `{v}` is not a whole number >= 0")
    if low is None and high is None:
        raise Unsupported("row_count without min or max")
    return RowCount(min=low, max=high, **ctx.common(counts_rows=False, own_thresholds=True))


def _pw_freshness(ctx: TestContext) -> Check:
    try:
        seconds = parse_duration(ctx.arg("max_age"))
    except (TypeError, ValueError) as exc:
        raise Unsupported(f"freshness: {exc}") from None
    return Freshness(
        column=ctx.column(), max_age_s=seconds, **ctx.common(counts_rows=False, own_thresholds=True)
    )


def _pw_duplicates(ctx: TestContext) -> Check:
    cols = ctx.arg("columns")
    if cols is None:
        cols = [ctx.column()]
    elif isinstance(cols, str):
        cols = [cols]
    if not isinstance(cols, (list, tuple)) or not cols:
        raise Unsupported("duplicates without columns")
    names = tuple(column_name(str(c), ctx.dialect) for c in cols)
    return Duplicates(columns=names, **ctx.common(own_thresholds=True))


BUILDERS: dict[tuple[str, str], Builder] = {
    ("", "not_null"): _not_null,
    ("", "unique"): _unique,
    ("", "accepted_values"): _accepted_values,
    ("", "relationships"): _relationships,
    ("dbt", "not_null"): _not_null,
    ("dbt", "unique"): _unique,
    ("dbt", "accepted_values"): _accepted_values,
    ("dbt", "relationships"): _relationships,
    ("dbt_utils", "expression_is_true"): _expression_is_true,
    ("dbt_utils", "accepted_range"): _accepted_range,
    ("dbt_utils", "unique_combination_of_columns"): _unique_combination,
    ("dbt_utils", "not_null_proportion"): _not_null_proportion,
    ("pipewatch", "not_null"): _pw_not_null,
    ("pipewatch", "unique"): _pw_unique,
    ("pipewatch", "accepted_values"): lambda ctx: _accepted_values(ctx, own=True),
    ("pipewatch", "relationships"): lambda ctx: _relationships(ctx, own=True),
    ("pipewatch", "range"): _pw_range,
    ("pipewatch", "matches"): _pw_matches,
    ("pipewatch", "expression"): _pw_expression,
    ("pipewatch", "row_count"): _pw_row_count,
    ("pipewatch", "freshness"): _pw_freshness,
    ("pipewatch", "duplicates"): _pw_duplicates,
}
