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
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlglot import exp

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
    Scalar,
    TableRef,
    Unique,
)
from pipewatch.rules.sqltext import column, ident, name_key, parse_boolean, referenced_columns, table

#: Regex *search* (match anywhere, like Python's `re.search`) per dialect. sqlglot's RegexpLike renders
#: as a search everywhere but Snowflake, whose REGEXP_LIKE must match the whole string.
REGEX_SEARCH: dict[str, Callable[[exp.Expr, exp.Expr], exp.Expr]] = {
    "snowflake": lambda value, pattern: exp.GT(
        this=exp.RegexpInstr(this=value, expression=pattern), expression=exp.Literal.number(0)
    ),
}
#: Dialects with a bounded top-k aggregate (`ARG_MAX(x, n, k)`), so duplicated-key samples ride along
#: in the fused statement instead of costing a second aggregation.
CARRIES_SAMPLES = frozenset({"duckdb"})

#: Internal column names in generated SQL (quoted; a user column would have to be named exactly so).
N_COL = "pw__n"
PARENT_KEY = "pw__k"


def regex_search(value: exp.Expr, pattern: str, dialect: str) -> exp.Expr:
    """`value` contains a match of `pattern` (NULL when value is NULL), in `dialect`."""
    lit = exp.Literal.string(pattern)
    build = REGEX_SEARCH.get(dialect)
    return build(value, lit) if build else exp.RegexpLike(this=value, expression=lit)


def literal(value: Scalar) -> exp.Expr:
    """A SQL literal for a rule-file value (never text pasted into SQL)."""
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float, Decimal)):
        return exp.Literal.number(str(value))
    if isinstance(value, datetime):
        kind = "timestamptz" if value.tzinfo is not None else "timestamp"
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), kind)
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), "date")
    return exp.Literal.string(str(value))


def _count_if(cond: exp.Expr) -> exp.Expr:
    return exp.Count(this=exp.Case(ifs=[exp.If(this=cond, true=exp.Literal.number(1))]))


def _when(cond: exp.Expr | None, then: exp.Expr) -> exp.Expr:
    if cond is None:
        return then
    return exp.Case(ifs=[exp.If(this=cond, true=then)])


def _and(*conds: exp.Expr | None) -> exp.Expr | None:
    present = [c for c in conds if c is not None]
    if not present:
        return None
    return exp.and_(*present) if len(present) > 1 else present[0]


# --- measures ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeySet:
    """The key columns of a unique/duplicates check: names as written, and their dialect-folded keys."""

    names: tuple[str, ...]
    keys: frozenset[str]


@dataclass(frozen=True, eq=False)
class Measure:
    """An aggregate a check needs. Subclasses say how to compute it flat and over grouped rows."""

    def identity(self, dialect: str) -> str:
        """Two measures with the same identity compute the same value (the planner shares one column)."""
        raise NotImplementedError

    @property
    def columns(self) -> frozenset[str] | None:
        """Folded names of the columns read; None when only the flat scan can compute it."""
        return None

    def flat(self) -> exp.Expr | None:
        """The aggregate over the base rows (None if it needs grouped rows)."""
        return None

    def over_groups(self, in_set: exp.Expr | None, n: exp.Expr) -> exp.Expr | None:
        """The aggregate over group rows of the key set `in_set` selects, each of `n` base rows."""
        return None

    def group_filter(self, n: exp.Expr) -> exp.Expr | None:
        """The only group rows this measure looks at (None: all of them).

        The planner ORs these into a WHERE on the grouped rows, so the outer aggregates see the few
        duplicated or offending groups instead of every key (measured ~15% off the grouped part).
        """
        return None

    @property
    def keyset(self) -> KeySet | None:
        """The key set this measure must be grouped by (group-only measures)."""
        return None

    @property
    def needs_join(self) -> bool:
        """Whether the measure reads the parent joins (relationships)."""
        return False


@dataclass(frozen=True, eq=False)
class CountIf(Measure):
    """Rows where `cond` is true."""

    cond: exp.Expr
    cols: frozenset[str] | None
    joined: bool = False

    def identity(self, dialect: str) -> str:
        """By condition."""
        return f"count_if:{self.cond.sql(dialect=dialect)}"

    @property
    def needs_join(self) -> bool:
        """Set for orphan counts, which read the joined parent key."""
        return self.joined

    @property
    def columns(self) -> frozenset[str] | None:
        """The condition's columns."""
        return self.cols

    def flat(self) -> exp.Expr:
        """COUNT(CASE WHEN cond THEN 1 END)."""
        return _count_if(self.cond.copy())

    def over_groups(self, in_set: exp.Expr | None, n: exp.Expr) -> exp.Expr:
        """SUM(CASE WHEN in_set AND cond THEN n END)."""
        return exp.Sum(this=_when(_and(in_set, self.cond.copy()), n.copy()))

    def group_filter(self, n: exp.Expr) -> exp.Expr | None:
        """Groups where the condition holds."""
        return self.cond.copy()


@dataclass(frozen=True, eq=False)
class MaxOf(Measure):
    """The largest value of `value`."""

    value: exp.Expr
    cols: frozenset[str]

    def identity(self, dialect: str) -> str:
        """By value."""
        return f"max:{self.value.sql(dialect=dialect)}"

    @property
    def columns(self) -> frozenset[str] | None:
        """The value's columns."""
        return self.cols

    def flat(self) -> exp.Expr:
        """MAX(value)."""
        return exp.Max(this=self.value.copy())

    def over_groups(self, in_set: exp.Expr | None, n: exp.Expr) -> exp.Expr:
        """MAX(CASE WHEN in_set THEN value END)."""
        return exp.Max(this=_when(in_set, self.value.copy()))


@dataclass(frozen=True, eq=False)
class GroupMeasure(Measure):
    """A measure over the groups of one key set: duplicated groups, their rows, or samples of them.

    `what`: `groups` (keys occurring more than once), `rows` (rows in such groups), `excess` (rows
    beyond the first of each key), `sample` (up to `k` duplicated keys with their counts).
    `skip_null_keys` leaves out groups with a NULL key (dbt's `unique`).
    """

    ks: KeySet
    what: str
    key_exprs: tuple[exp.Expr, ...]
    skip_null_keys: bool = False
    k: int = 0

    def identity(self, dialect: str) -> str:
        """By key set, kind and NULL handling (samples also by key order: it fixes the struct fields)."""
        keys = list(self.ks.names) if self.what == "sample" else sorted(self.ks.keys)
        return f"group:{self.what}:{keys}:{self.skip_null_keys}:{self.k}"

    @property
    def keyset(self) -> KeySet | None:
        """The grouping key set."""
        return self.ks

    def group_filter(self, n: exp.Expr) -> exp.Expr | None:
        """Duplicated groups only."""
        return exp.GT(this=n.copy(), expression=exp.Literal.number(1))

    def over_groups(self, in_set: exp.Expr | None, n: exp.Expr) -> exp.Expr:
        """The aggregate over the group rows of this key set."""
        dup = exp.GT(this=n.copy(), expression=exp.Literal.number(1))
        nulls = (
            [exp.Not(this=exp.Is(this=k.copy(), expression=exp.Null())) for k in self.key_exprs]
            if self.skip_null_keys
            else []
        )
        cond = _and(in_set, dup, *nulls)
        assert cond is not None
        if self.what == "groups":
            return _count_if(cond)
        if self.what == "rows":
            return exp.Sum(this=_when(cond, n.copy()))
        if self.what == "excess":
            return exp.Sum(this=_when(cond, exp.Sub(this=n.copy(), expression=exp.Literal.number(1))))
        fields = [
            exp.PropertyEQ(this=exp.to_identifier(f"k{i}"), expression=k.copy())
            for i, k in enumerate(self.key_exprs)
        ]
        fields.append(exp.PropertyEQ(this=exp.to_identifier("n"), expression=n.copy()))
        top = exp.ArgMax(
            this=exp.Struct(expressions=fields), expression=n.copy(), count=exp.Literal.number(self.k)
        )
        return exp.Filter(this=top, expression=exp.Where(this=cond))


@dataclass(frozen=True)
class ParentJoin:
    """A LEFT JOIN of a check's rows to the distinct keys of a parent table (relationships)."""

    parent: TableRef
    field: str
    child_column: str
    alias: str

    def key(self, dialect: str) -> exp.Column:
        """The joined parent key (NULL when the child row is an orphan)."""
        return exp.Column(
            this=exp.to_identifier(PARENT_KEY, quoted=True), table=exp.to_identifier(self.alias, quoted=True)
        )

    def subquery(self, dialect: str) -> exp.Subquery:
        """(SELECT field AS pw__k FROM parent GROUP BY field) AS alias: one row per distinct parent key."""
        parent_col = column(self.field, dialect)
        select = (
            exp.select(exp.alias_(parent_col, PARENT_KEY, quoted=True))
            .from_(table(self.parent, dialect))
            .group_by(parent_col.copy())
        )
        return select.subquery(exp.to_identifier(self.alias, quoted=True))

    def on(self, dialect: str) -> exp.Expr:
        """child_column = alias.pw__k."""
        return exp.EQ(this=column(self.child_column, dialect), expression=self.key(dialect))


@dataclass
class Scope:
    """What the checks of one statement share: the dialect and the parent joins (one per parent key)."""

    dialect: str
    samples: int = 0
    joins: dict[tuple[tuple[str, ...], str, str], ParentJoin] = field(default_factory=dict)

    def join(self, parent: TableRef, field_name: str, child_column: str) -> ParentJoin:
        """The join for (parent table, parent field, child column), created on first use."""
        d = self.dialect
        key = (
            tuple(name_key(p, d) for p in parent.parts),
            name_key(field_name, d),
            name_key(child_column, d),
        )
        if key not in self.joins:
            self.joins[key] = ParentJoin(parent, field_name, child_column, f"pw__p{len(self.joins)}")
        return self.joins[key]

    @property
    def carries_samples(self) -> bool:
        """Whether duplicated-key samples ride along in the fused statement."""
        return self.samples > 0 and self.dialect in CARRIES_SAMPLES


@dataclass
class CompiledCheck:
    """A check's measures by role: `failing` (the count), `affected`, `max` (freshness), `samples`.

    `failing_unit` says what `failing` counts (`rows` or `values`). `sample_query(n)` builds the query
    that fetches failing rows (None when the check has no rows to show or samples ride along).
    `followup(n)`, when set, is run only if `affected` > 0: its rows are the offending values with their
    counts (`value`, `n`, up to n of them) and every row carries the number of distinct offending values
    (`distinct_values`), which is the check's `failing` count.
    """

    check: Check
    measures: dict[str, Measure]
    failing_unit: str = "rows"
    sample_query: Callable[[int], exp.Select] | None = None
    followup: Callable[[int], exp.Select] | None = None


@dataclass(frozen=True)
class Target:
    """The relation and filter a statement scans, as sqlglot expressions."""

    ref: TableRef
    where: exp.Expr | None

    def base(self, dialect: str) -> exp.Table:
        """The checked table."""
        return table(self.ref, dialect)


def _row_samples(
    target: Target, dialect: str, cond: exp.Expr, join: ParentJoin | None = None
) -> Callable[[int], exp.Select]:
    def build(n: int) -> exp.Select:
        """Up to n failing rows."""
        star: exp.Expr = exp.Star()
        if join is not None:
            star = exp.Column(this=exp.Star(), table=ident(target.ref.name, dialect))
        q = exp.select(star).from_(target.base(dialect))
        if join is not None:
            q = q.join(join.subquery(dialect), on=join.on(dialect), join_type="left")
        filt = _and(target.where.copy() if target.where is not None else None, cond.copy())
        return q.where(filt).limit(n) if filt is not None else q.limit(n)

    return build


def _group_samples(
    target: Target, dialect: str, keys: tuple[exp.Expr, ...], skip_nulls: bool
) -> Callable[[int], exp.Select]:
    def build(n: int) -> exp.Select:
        """Up to n duplicated keys with their counts, most duplicated first."""
        count = exp.Count(this=exp.Star())
        q = exp.select(*[k.copy() for k in keys], exp.alias_(count, "n", quoted=True)).from_(
            target.base(dialect)
        )
        nulls = (
            [exp.Not(this=exp.Is(this=k.copy(), expression=exp.Null())) for k in keys] if skip_nulls else []
        )
        filt = _and(target.where.copy() if target.where is not None else None, *nulls)
        if filt is not None:
            q = q.where(filt)
        q = q.group_by(*[k.copy() for k in keys]).having(
            exp.GT(this=count.copy(), expression=exp.Literal.number(1))
        )
        return q.order_by(exp.Ordered(this=exp.column("n", quoted=True), desc=True)).limit(n)

    return build


def _value_counts(
    target: Target, dialect: str, value: exp.Expr, cond: exp.Expr
) -> Callable[[int], exp.Select]:
    def build(n: int) -> exp.Select:
        """The offending values with counts, most frequent first, each row carrying the distinct count."""
        count = exp.Count(this=exp.Star())
        grouped = exp.select(
            exp.alias_(value.copy(), "value", quoted=True), exp.alias_(count, "n", quoted=True)
        )
        grouped = grouped.from_(target.base(dialect))
        filt = _and(target.where.copy() if target.where is not None else None, cond.copy())
        assert filt is not None
        grouped = grouped.where(filt).group_by(value.copy())
        total = exp.Window(this=exp.Count(this=exp.Star()), partition_by=[], order=None)
        outer = exp.select(
            exp.column("value", quoted=True),
            exp.column("n", quoted=True),
            exp.alias_(total, "distinct_values", quoted=True),
        ).from_(grouped.subquery("pw__v"))
        return outer.order_by(exp.Ordered(this=exp.column("n", quoted=True), desc=True)).limit(max(n, 1))

    return build


# --- one compile function per check type ------------------------------------------------------------

Compile = Callable[[Check, Target, Scope], CompiledCheck]


def _cols(*names: str, dialect: str) -> frozenset[str]:
    return frozenset(name_key(n, dialect) for n in names)


def compile_not_null(check: Check, target: Target, scope: Scope) -> CompiledCheck:
    """not_null: COUNT(CASE WHEN col IS NULL THEN 1 END)."""
    assert isinstance(check, NotNull)
    d = scope.dialect
    cond = exp.Is(this=column(check.column, d), expression=exp.Null())
    return CompiledCheck(
        check,
        {"failing": CountIf(cond, _cols(check.column, dialect=d))},
        sample_query=_row_samples(target, d, cond),
    )


def _keyset(names: tuple[str, ...], dialect: str) -> tuple[KeySet, tuple[exp.Expr, ...]]:
    return KeySet(names, _cols(*names, dialect=dialect)), tuple(column(n, dialect) for n in names)


def compile_unique(check: Check, target: Target, scope: Scope) -> CompiledCheck:
    """unique: duplicated key values (dbt's count), the rows holding them, and carried samples."""
    assert isinstance(check, Unique)
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
        sample_query = _group_samples(target, d, keys, skip)
    return CompiledCheck(check, measures, failing_unit="values", sample_query=sample_query)


def compile_duplicates(check: Check, target: Target, scope: Scope) -> CompiledCheck:
    """duplicates: rows beyond the first of each key, rows in duplicated keys, and carried samples."""
    assert isinstance(check, Duplicates)
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
        sample_query = _group_samples(target, d, keys, False)
    return CompiledCheck(check, measures, sample_query=sample_query)


def compile_accepted_values(check: Check, target: Target, scope: Scope) -> CompiledCheck:
    """accepted_values: distinct values NOT IN the list (dbt's count) and the rows holding them."""
    assert isinstance(check, AcceptedValues)
    d = scope.dialect
    col = column(check.column, d)
    cond = exp.Not(this=exp.In(this=col, expressions=[literal(v) for v in check.values]))
    cols = _cols(check.column, dialect=d)
    # The fused scan counts the offending rows; only when there are some does a follow-up run dbt's own
    # query (offending values grouped) to count the distinct values and take samples in the same pass.
    # A COUNT(DISTINCT ...) in the scan would give the count too, but costs every run ~60% of the check.
    return CompiledCheck(
        check,
        {"affected": CountIf(cond, cols)},
        failing_unit="values",
        followup=_value_counts(target, d, col, cond),
    )


def compile_range(check: Check, target: Target, scope: Scope) -> CompiledCheck:
    """range: rows with col < min or col > max (<=, >= when exclusive); NULL passes."""
    assert isinstance(check, Range)
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
        sample_query=_row_samples(target, d, cond),
    )


def compile_matches(check: Check, target: Target, scope: Scope) -> CompiledCheck:
    """matches: rows whose value has no match of the pattern (regex search per dialect); NULL passes."""
    assert isinstance(check, Matches)
    d = scope.dialect
    cond = exp.Not(this=regex_search(column(check.column, d), check.pattern, d))
    return CompiledCheck(
        check,
        {"failing": CountIf(cond, _cols(check.column, dialect=d))},
        sample_query=_row_samples(target, d, cond),
    )


def compile_relationships(check: Check, target: Target, scope: Scope) -> CompiledCheck:
    """relationships: child rows whose non-NULL key finds no row in the parent's distinct keys."""
    assert isinstance(check, Relationships)
    d = scope.dialect
    join = scope.join(check.to, check.field, check.column)
    cond = exp.and_(
        exp.Not(this=exp.Is(this=column(check.column, d), expression=exp.Null())),
        exp.Is(this=join.key(d), expression=exp.Null()),
    )
    return CompiledCheck(
        check,
        {"failing": CountIf(cond, _cols(check.column, dialect=d), joined=True)},
        sample_query=_row_samples(target, d, cond, join),
    )


def compile_row_count(check: Check, target: Target, scope: Scope) -> CompiledCheck:
    """row_count: needs only the statement's own COUNT(*)."""
    assert isinstance(check, RowCount)
    return CompiledCheck(check, {})


def compile_freshness(check: Check, target: Target, scope: Scope) -> CompiledCheck:
    """freshness: MAX(column); the age is computed against the run's clock."""
    assert isinstance(check, Freshness)
    d = scope.dialect
    return CompiledCheck(check, {"max": MaxOf(column(check.column, d), _cols(check.column, dialect=d))})


def compile_expression(check: Check, target: Target, scope: Scope) -> CompiledCheck:
    """expression: rows where NOT (sql) is true; the SQL is parsed in the dialect and re-generated."""
    assert isinstance(check, Expression)
    d = scope.dialect
    parsed = parse_boolean(check.sql, d)
    cond = exp.Not(this=exp.paren(parsed, copy=False))
    return CompiledCheck(
        check,
        {"failing": CountIf(cond, referenced_columns(parsed, d))},
        sample_query=_row_samples(target, d, cond),
    )


def compile_not_null_proportion(check: Check, target: Target, scope: Scope) -> CompiledCheck:
    """not_null_proportion: the NULL count (shared with a not_null on the column); the share is judged later."""
    assert isinstance(check, NotNullProportion)
    d = scope.dialect
    cond = exp.Is(this=column(check.column, d), expression=exp.Null())
    return CompiledCheck(check, {"nulls": CountIf(cond, _cols(check.column, dialect=d))})


COMPILERS: dict[str, Compile] = {
    "not_null": compile_not_null,
    "unique": compile_unique,
    "accepted_values": compile_accepted_values,
    "range": compile_range,
    "matches": compile_matches,
    "relationships": compile_relationships,
    "row_count": compile_row_count,
    "freshness": compile_freshness,
    "duplicates": compile_duplicates,
    "expression": compile_expression,
    "not_null_proportion": compile_not_null_proportion,
}


def compile_check(check: Check, target: Target, scope: Scope) -> CompiledCheck:
    """The measures of one check (dispatch on its type)."""
    return COMPILERS[check.type](check, target, scope)
