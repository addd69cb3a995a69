"""Compile each check type to sqlglot expressions: the measures (aggregates) the check's result needs.

A measure is a decomposable aggregate the planner places in one pass of a table's fused statement:
the *flat* pass (one aggregate over the rows), the *joined* pass (the rows LEFT JOINed to parents'
distinct keys, for `relationships`) or the *grouped* pass (one `GROUP BY GROUPING SETS` over the key
sets of `unique`/`duplicates` checks, each group row carrying its row count `n`). A row-level measure
whose columns are all keys of some key set is evaluated over that set's groups, weighted by `n`, so
a key column is not read a second time by the flat pass.

Count semantics are dbt's (the `failures` of the same dbt test):

* not_null: rows where the column is NULL.
* unique: distinct non-NULL values that occur more than once (dbt returns one row per such value);
  `affected` counts the rows holding them.
* accepted_values: distinct non-NULL values outside the list (dbt groups by value); `affected` counts rows.
* range / matches / expression: rows where the condition is false; NULL never fails (dbt-utils
  `accepted_range` and `expression_is_true` use `WHERE NOT (...)`, which drops NULL).
* relationships: child rows whose non-NULL key has no equal parent key.
* duplicates: rows beyond the first of each key (pandas `duplicated(keep="first")`); NULL keys group.

Dialect differences are data (`REGEX_SEARCH`, `CARRIES_SAMPLES`), not branches in the check code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import singledispatch

from sqlglot import exp

from pipewatch.rules.measures import (
    CountIf,
    GroupMeasure,
    KeySet,
    MaxOf,
    Measure,
    literal,
    member_of,
    regex_search,
)
from pipewatch.rules.samples import RowSampler, group_samples, row_samples, value_counts
from pipewatch.rules.scope import Scope, Target
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
from pipewatch.rules.sqltext import column, name_key, parse_boolean, referenced_columns


@dataclass
class CompiledCheck:
    """A check's measures by role: `failing` (the count), `affected`, `max` (freshness), `samples`.

    `failing_unit` says what `failing` counts (`rows` or `values`). `sample_rows(n, columns)` builds the
    query that fetches failing rows from the table's column names; `sample_query(n)` the one that fetches
    duplicated keys (each None when the check has nothing to show or samples ride along).
    `followup(n)`, when set, is run only if `affected` > 0: its rows are the offending values with their
    counts (`value`, `n`, up to n of them) and every row carries the number of distinct offending values
    (`distinct_values`), which is the check's `failing` count.
    """

    check: Check
    measures: dict[str, Measure]
    failing_unit: str = "rows"
    sample_query: Callable[[int], exp.Select] | None = None
    sample_rows: RowSampler | None = None
    followup: Callable[[int], exp.Select] | None = None


# --- one compile function per check type ------------------------------------------------------------


@singledispatch
def compile_check(check: Check, _target: Target, _scope: Scope) -> CompiledCheck:
    """The measures of one check (against `target`, sharing `scope`): each check class registers its own
    compile function below."""
    raise TypeError(f"no compile function for check type {type(check).__name__}")


def _cols(*names: str, dialect: str) -> frozenset[str]:
    return frozenset(name_key(n, dialect) for n in names)


@compile_check.register
def _not_null(check: NotNull, target: Target, scope: Scope) -> CompiledCheck:
    """not_null: COUNT(CASE WHEN col IS NULL THEN 1 END)."""
    d = scope.dialect
    cond = exp.Is(this=column(check.column, d), expression=exp.Null())
    return CompiledCheck(
        check,
        {"failing": CountIf(cond, _cols(check.column, dialect=d))},
        sample_rows=row_samples(target, d, cond, (check.column,)),
    )


def _keyset(names: tuple[str, ...], dialect: str) -> tuple[KeySet, tuple[exp.Expr, ...]]:
    return KeySet(names, _cols(*names, dialect=dialect)), tuple(column(n, dialect) for n in names)


@compile_check.register
def _unique(check: Unique, target: Target, scope: Scope) -> CompiledCheck:
    """unique: duplicated key values (dbt's count), the rows holding them, and carried samples."""
    d = scope.dialect
    ks, keys = _keyset(check.columns, d)
    skip = check.ignore_null_keys
    measures: dict[str, Measure] = {
        "failing": GroupMeasure(ks, "groups", keys, skip),
        "affected": GroupMeasure(ks, "rows", keys, skip),
    }
    sample_query = None
    if scope.carries_samples:
        measures["samples"] = GroupMeasure(ks, "sample", keys, skip, scope.samples)
    else:
        sample_query = group_samples(target, d, keys, skip)
    return CompiledCheck(check, measures, failing_unit="values", sample_query=sample_query)


@compile_check.register
def _duplicates(check: Duplicates, target: Target, scope: Scope) -> CompiledCheck:
    """duplicates: rows beyond the first of each key, rows in duplicated keys, and carried samples."""
    d = scope.dialect
    ks, keys = _keyset(check.columns, d)
    measures: dict[str, Measure] = {
        "failing": GroupMeasure(ks, "excess", keys),
        "affected": GroupMeasure(ks, "rows", keys),
    }
    sample_query = None
    if scope.carries_samples:
        measures["samples"] = GroupMeasure(ks, "sample", keys, False, scope.samples)
    else:
        sample_query = group_samples(target, d, keys, False)
    return CompiledCheck(check, measures, sample_query=sample_query)


@compile_check.register
def _accepted_values(check: AcceptedValues, target: Target, scope: Scope) -> CompiledCheck:
    """accepted_values: distinct values NOT IN the list (dbt's count) and the rows holding them."""
    d = scope.dialect
    col = column(check.column, d)
    cond = exp.Not(this=member_of(col, [literal(v) for v in check.values], d))
    cols = _cols(check.column, dialect=d)
    # The fused scan counts the offending rows; only when there are some does a follow-up run dbt's own
    # query (offending values grouped) to count the distinct values and take samples in the same pass.
    # A COUNT(DISTINCT ...) in the scan would give the count too, but costs every run ~60% of the check.
    return CompiledCheck(
        check,
        {"affected": CountIf(cond, cols)},
        failing_unit="values",
        followup=value_counts(target, d, col, cond),
    )


@compile_check.register
def _range(check: Range, target: Target, scope: Scope) -> CompiledCheck:
    """range: rows with col < min or col > max (<=, >= when exclusive); NULL passes."""
    d = scope.dialect
    col = column(check.column, d)
    parts: list[exp.Expr] = []
    if check.min is not None:
        low = literal(check.min)
        parts.append(
            exp.LT(this=col.copy(), expression=low)
            if check.inclusive
            else exp.LTE(this=col.copy(), expression=low)
        )
    if check.max is not None:
        high = literal(check.max)
        parts.append(
            exp.GT(this=col.copy(), expression=high)
            if check.inclusive
            else exp.GTE(this=col.copy(), expression=high)
        )
    cond = exp.or_(*parts) if len(parts) > 1 else parts[0]
    return CompiledCheck(
        check,
        {"failing": CountIf(cond, _cols(check.column, dialect=d))},
        sample_rows=row_samples(target, d, cond, (check.column,)),
    )


@compile_check.register
def _matches(check: Matches, target: Target, scope: Scope) -> CompiledCheck:
    """matches: rows whose value has no match of the pattern (regex search per dialect); NULL passes."""
    d = scope.dialect
    cond = exp.Not(this=regex_search(column(check.column, d), check.pattern, d))
    return CompiledCheck(
        check,
        {"failing": CountIf(cond, _cols(check.column, dialect=d))},
        sample_rows=row_samples(target, d, cond, (check.column,)),
    )


@compile_check.register
def _relationships(check: Relationships, target: Target, scope: Scope) -> CompiledCheck:
    """relationships: child rows whose non-NULL key finds no row in the parent's distinct keys."""
    d = scope.dialect
    join = scope.join(check.to, check.field, check.column)
    cond = exp.and_(
        exp.Not(this=exp.Is(this=column(check.column, d), expression=exp.Null())), join.missing(d)
    )
    return CompiledCheck(
        check,
        {"failing": CountIf(cond, _cols(check.column, dialect=d), joined=True)},
        sample_rows=row_samples(target, d, cond, (check.column,), join),
    )


@compile_check.register
def _row_count(check: RowCount, _target: Target, _scope: Scope) -> CompiledCheck:
    """row_count: needs only the statement's own COUNT(*)."""
    return CompiledCheck(check, {})


@compile_check.register
def _freshness(check: Freshness, _target: Target, scope: Scope) -> CompiledCheck:
    """freshness: MAX(column); the age is computed against the run's clock."""
    d = scope.dialect
    return CompiledCheck(check, {"max": MaxOf(column(check.column, d), _cols(check.column, dialect=d))})


@compile_check.register
def _expression(check: Expression, target: Target, scope: Scope) -> CompiledCheck:
    """expression: rows where NOT (sql) is true; the SQL is parsed in the dialect and re-generated."""
    d = scope.dialect
    parsed = parse_boolean(check.sql, d)
    cond = exp.Not(this=exp.paren(parsed, copy=False))
    return CompiledCheck(
        check,
        {"failing": CountIf(cond, referenced_columns(parsed, d))},
        sample_rows=row_samples(target, d, cond, [c.name for c in parsed.find_all(exp.Column)]),
    )


@compile_check.register
def _not_null_proportion(check: NotNullProportion, _target: Target, scope: Scope) -> CompiledCheck:
    """not_null_proportion: the NULL count (shared with a not_null on the column); the share is judged later."""
    d = scope.dialect
    cond = exp.Is(this=column(check.column, d), expression=exp.Null())
    return CompiledCheck(check, {"nulls": CountIf(cond, _cols(check.column, dialect=d))})
