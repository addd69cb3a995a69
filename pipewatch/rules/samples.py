"""The queries that fetch a failing check's examples, and how their rows become report samples.

Samples are for a person to read, so they are small at the source: at most `SAMPLE_COLUMNS` columns
(the checked ones first) and, where the dialect can cast any value to text, each value cut to
`SAMPLE_CHARS` characters in the query itself, so a 200 KB JSON column never leaves the warehouse.
Every value is cut again after fetching (group keys, offending values, dialects without the cast).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlglot import exp

from pipewatch.rules.measures import all_of
from pipewatch.rules.scope import ParentJoin, Target
from pipewatch.rules.sqltext import ident, name_key

#: The most columns a row sample shows.
SAMPLE_COLUMNS = 20
#: The longest value (in characters) a sample shows; longer ones end in `CUT_MARK`.
SAMPLE_CHARS = 200
CUT_MARK = "…"
#: Dialects where CAST(<any type> AS TEXT) works, so long values are cut inside the query.
CUTS_IN_SQL = frozenset({"duckdb", "postgres", "redshift", "snowflake", "trino"})
#: Output-column prefix of the cut text of the column before it (NULL unless the value was long).
CUT_PREFIX = "pw__cut"

#: Builds the sample query for `n` rows from the checked table's column names (as the warehouse has them).
RowSampler = Callable[[int, Sequence[str]], exp.Select]


def sample_columns(available: Sequence[str], first: Sequence[str], dialect: str) -> list[str]:
    """Up to SAMPLE_COLUMNS of the table's columns: the checked ones (`first`, as rules name them) first."""
    wanted = {name_key(c, dialect) for c in first}
    checked = [c for c in available if c in wanted]
    rest = [c for c in available if c not in wanted]
    return (checked + rest)[:SAMPLE_COLUMNS]


def row_samples(
    target: Target, dialect: str, cond: exp.Expr, first: Sequence[str], join: ParentJoin | None = None
) -> RowSampler:
    """The failing rows of `cond`: capped columns and, where the dialect can, values cut in SQL."""

    def build(n: int, available: Sequence[str]) -> exp.Select:
        """Up to n failing rows."""
        # A parent looked up by membership (`ParentJoin.mark`) sits inside `cond`: no join to add.
        joined = join if join is not None and not join.mark else None
        owner = ident(target.ref.name, dialect) if joined is not None else None
        picked: list[exp.Expr] = []
        for i, name in enumerate(sample_columns(available, first, dialect)):
            col = exp.Column(this=exp.to_identifier(name, quoted=True), table=owner.copy() if owner else None)
            picked.extend(_cut(col, name, i, dialect))
        q = exp.select(*picked).from_(target.base(dialect))
        if joined is not None:
            q = q.join(joined.subquery(dialect), on=joined.on(dialect), join_type="left")
        filt = all_of(target.where.copy() if target.where is not None else None, cond.copy())
        return q.where(filt).limit(n) if filt is not None else q.limit(n)

    return build


def _cut(col: exp.Column, name: str, i: int, dialect: str) -> list[exp.Expr]:
    """The column as it is when short (NULL when long) and, beside it, its text cut when long."""
    if dialect not in CUTS_IN_SQL:
        return [exp.alias_(col, name, quoted=True)]
    text = exp.cast(col.copy(), exp.DataType.build("text"))
    long = exp.GT(this=exp.Length(this=text), expression=exp.Literal.number(SAMPLE_CHARS))
    short = exp.Case(ifs=[exp.If(this=long, true=exp.Null())], default=col)
    head = exp.Substring(
        this=text.copy(), start=exp.Literal.number(1), length=exp.Literal.number(SAMPLE_CHARS)
    )
    cut = exp.Case(ifs=[exp.If(this=long.copy(), true=head)])
    return [exp.alias_(short, name, quoted=True), exp.alias_(cut, f"{CUT_PREFIX}{i}", quoted=True)]


def sample_record(columns: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    """One fetched sample row as {column: value}, a value cut in SQL shown as its cut text."""
    out: dict[str, Any] = {}
    last: str | None = None
    for name, value in zip(columns, row, strict=False):
        if name.startswith(CUT_PREFIX):
            if value is not None and last is not None:
                out[last] = f"{value}{CUT_MARK}"
            continue
        out[name] = value
        last = name
    return out


def shorten(value: Any) -> Any:
    """A JSON-ready sample value with every string longer than SAMPLE_CHARS cut (lists and dicts too)."""
    if isinstance(value, str):
        return value if len(value) <= SAMPLE_CHARS else value[:SAMPLE_CHARS] + CUT_MARK
    if isinstance(value, list):
        return [shorten(v) for v in value]
    if isinstance(value, dict):
        return {k: shorten(v) for k, v in value.items()}
    return value


def group_samples(
    target: Target, dialect: str, keys: tuple[exp.Expr, ...], skip_nulls: bool
) -> Callable[[int], exp.Select]:
    """The duplicated keys of a unique/duplicates check with their counts (when they cannot ride along)."""

    def build(n: int) -> exp.Select:
        """Up to n duplicated keys with their counts, most duplicated first."""
        count = exp.Count(this=exp.Star())
        q = exp.select(*[k.copy() for k in keys], exp.alias_(count, "n", quoted=True)).from_(
            target.base(dialect)
        )
        nulls = (
            [exp.Not(this=exp.Is(this=k.copy(), expression=exp.Null())) for k in keys] if skip_nulls else []
        )
        filt = all_of(target.where.copy() if target.where is not None else None, *nulls)
        if filt is not None:
            q = q.where(filt)
        q = q.group_by(*[k.copy() for k in keys]).having(
            exp.GT(this=count.copy(), expression=exp.Literal.number(1))
        )
        return q.order_by(exp.Ordered(this=exp.column("n", quoted=True), desc=True)).limit(n)

    return build


def value_counts(
    target: Target, dialect: str, value: exp.Expr, cond: exp.Expr
) -> Callable[[int], exp.Select]:
    """dbt's own accepted_values query: the offending values with counts and their distinct count."""

    def build(n: int) -> exp.Select:
        """The offending values with counts, most frequent first, each row carrying the distinct count."""
        count = exp.Count(this=exp.Star())
        grouped = exp.select(
            exp.alias_(value.copy(), "value", quoted=True), exp.alias_(count, "n", quoted=True)
        )
        grouped = grouped.from_(target.base(dialect))
        filt = all_of(target.where.copy() if target.where is not None else None, cond.copy())
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
