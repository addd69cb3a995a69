"""What the checks of one fused statement share: the checked relation and filter, the dialect, the
sample size, and the LEFT JOINs to parent tables' distinct keys (one per parent key, for relationships)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from pipewatch.rules.measures import CARRIES_SAMPLES, PARENT_KEY
from pipewatch.rules.spec import TableRef
from pipewatch.rules.sqltext import column, name_key, table


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
    """A LEFT JOIN of a check's rows to the distinct keys of a parent table (relationships)."""

    parent: TableRef
    field: str
    child_column: str
    alias: str

    def key(self) -> exp.Column:
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
            self.joins[key] = ParentJoin(parent, field_name, child_column, f"pw__p{len(self.joins)}")
        return self.joins[key]

    @property
    def carries_samples(self) -> bool:
        """Whether duplicated-key samples ride along in the fused statement."""
        return self.samples > 0 and self.dialect in CARRIES_SAMPLES
