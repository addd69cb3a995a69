"""The measures a check needs: decomposable aggregates the planner places in one pass of a statement.

A measure says how to compute itself over the base rows (`flat`) and over the rows of a grouped pass
weighted by their count (`over_groups`); two measures with the same `identity` share one output column.
Dialect differences are data (`REGEX_SEARCH`, `HASHED_IN_SUBQUERY`), not branches in the check code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlglot import exp

from pipewatch.rules.spec import Scalar

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
#: Dialects that test `x IN (<literal list>)` value by value, so a long list costs rows x values; there
#: a long list becomes `x IN (SELECT UNNEST([...]))`, a hash semi-join (200k values: minutes -> < 1 s).
HASHED_IN_SUBQUERY = frozenset({"duckdb"})
LONG_IN_LIST = 64

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


def member_of(value: exp.Expr, members: list[exp.Expr], dialect: str) -> exp.Expr:
    """`value IN (members)`, as a hashed subquery where the dialect scans a literal list linearly."""
    if len(members) > LONG_IN_LIST and dialect in HASHED_IN_SUBQUERY:
        listed = exp.select(exp.Unnest(expressions=[exp.Array(expressions=members)]))
        return exp.In(this=value, query=listed.subquery())
    return exp.In(this=value, expressions=members)


def count_if(cond: exp.Expr) -> exp.Expr:
    """COUNT(CASE WHEN cond THEN 1 END): the rows where `cond` holds."""
    return exp.Count(this=exp.Case(ifs=[exp.If(this=cond, true=exp.Literal.number(1))]))


def when(cond: exp.Expr | None, then: exp.Expr) -> exp.Expr:
    """CASE WHEN cond THEN then END (just `then` when there is no condition)."""
    if cond is None:
        return then
    return exp.Case(ifs=[exp.If(this=cond, true=then)])


def all_of(*conds: exp.Expr | None) -> exp.Expr | None:
    """The AND of the conditions given (None when none is)."""
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

    def over_groups(self, _in_set: exp.Expr | None, _n: exp.Expr) -> exp.Expr | None:
        """The aggregate over group rows of the key set `in_set` selects, each of `n` base rows."""
        return None

    def group_filter(self, _n: exp.Expr) -> exp.Expr | None:
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
        return count_if(self.cond.copy())

    def over_groups(self, in_set: exp.Expr | None, n: exp.Expr) -> exp.Expr:
        """SUM(CASE WHEN in_set AND cond THEN n END)."""
        return exp.Sum(this=when(all_of(in_set, self.cond.copy()), n.copy()))

    def group_filter(self, _n: exp.Expr) -> exp.Expr | None:
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

    def over_groups(self, in_set: exp.Expr | None, _n: exp.Expr) -> exp.Expr:
        """MAX(CASE WHEN in_set THEN value END)."""
        return exp.Max(this=when(in_set, self.value.copy()))


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

    def identity(self, _dialect: str) -> str:
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
        cond = all_of(in_set, dup, *nulls)
        assert cond is not None
        if self.what == "groups":
            return count_if(cond)
        if self.what == "rows":
            return exp.Sum(this=when(cond, n.copy()))
        if self.what == "excess":
            return exp.Sum(this=when(cond, exp.Sub(this=n.copy(), expression=exp.Literal.number(1))))
        fields = [
            exp.PropertyEQ(this=exp.to_identifier(f"k{i}"), expression=k.copy())
            for i, k in enumerate(self.key_exprs)
        ]
        fields.append(exp.PropertyEQ(this=exp.to_identifier("n"), expression=n.copy()))
        top = exp.ArgMax(
            this=exp.Struct(expressions=fields), expression=n.copy(), count=exp.Literal.number(self.k)
        )
        return exp.Filter(this=top, expression=exp.Where(this=cond))
