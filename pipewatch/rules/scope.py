"""What the checks of one fused statement share: the checked relation and filter, the dialect, the
sample size, and the lookups of parent keys (one per parent key, for relationships): a LEFT JOIN to
the parent's distinct keys, or on an engine that runs `IN (subquery)` as a hash join anywhere in a
query (`Engine.mark_join`), a `NOT x IN (SELECT field FROM parent ...)` that needs no join at all."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from pipewatch.rules.measures import CARRIES_SAMPLES, PARENT_KEY
from pipewatch.rules.spec import TableRef
from pipewatch.rules.sqltext import column, name_key, table
from pipewatch.warehouse.dialects import engine_of


@dataclass(frozen=True)
class Target:
    """The relation and filter a statement scans, as sqlglot expressions."""

    ref: TableRef
    where: exp.Expr | None

    def base(self, dialect: str) -> exp.Table:
        """The checked table."""
        return table(self.ref, dialect)


@dataclass(frozen=True)
class ParentJoin:
    """How a check's rows find their parent row (relationships): a LEFT JOIN to the distinct keys of
    the parent table, or with `mark` a membership test in the parent's keys (no join)."""

    parent: TableRef
    field: str
    child_column: str
    alias: str
    mark: bool = False

    def missing(self, dialect: str) -> exp.Expr:
        """True for a child row whose non-NULL key has no parent row (NULL or false otherwise)."""
        if not self.mark:
            return exp.Is(this=self.key(), expression=exp.Null())
        parent_col = self._parent_key(dialect)
        keys = (
            exp.select(parent_col, copy=False)
            .from_(self._parent(dialect), copy=False)
            .where(exp.Not(this=exp.Is(this=parent_col.copy(), expression=exp.Null())), copy=False)
        )
        # The parent's NULL keys are left out: `x IN (..., NULL)` is NULL, never false, for an orphan.
        return exp.Not(this=exp.In(this=column(self.child_column, dialect), query=exp.Subquery(this=keys)))

    def key(self) -> exp.Column:
        """The joined parent key (NULL when the child row is an orphan)."""
        return exp.Column(
            this=exp.to_identifier(PARENT_KEY, quoted=True), table=exp.to_identifier(self.alias, quoted=True)
        )

    def subquery(self, dialect: str) -> exp.Subquery:
        """(SELECT alias.field AS pw__k FROM parent AS alias GROUP BY alias.field) AS alias: one row per
        distinct parent key."""
        parent_col = self._parent_key(dialect)
        select = (
            exp.select(exp.alias_(parent_col, PARENT_KEY, quoted=True))
            .from_(self._parent(dialect))
            .group_by(parent_col.copy())
        )
        return select.subquery(exp.to_identifier(self.alias, quoted=True))

    def _parent(self, dialect: str) -> exp.Expr:
        return exp.alias_(table(self.parent, dialect), exp.to_identifier(self.alias, quoted=True), table=True)

    def _parent_key(self, dialect: str) -> exp.Column:
        # Qualified by the parent's alias: were the field missing from the parent, a bare name would bind
        # to the child's column of that name (DuckDB joins subqueries laterally) and find every key.
        key = column(self.field, dialect)
        key.set("table", exp.to_identifier(self.alias, quoted=True))
        return key

    def on(self, dialect: str) -> exp.Expr:
        """child_column = alias.pw__k."""
        return exp.EQ(this=column(self.child_column, dialect), expression=self.key())


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
            alias = f"pw__p{len(self.joins)}"
            self.joins[key] = ParentJoin(parent, field_name, child_column, alias, engine_of(d).mark_join)
        return self.joins[key]

    @property
    def carries_samples(self) -> bool:
        """Whether duplicated-key samples ride along in the fused statement."""
        return self.samples > 0 and self.dialect in CARRIES_SAMPLES
