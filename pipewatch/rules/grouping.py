"""The grouped passes of a statement: how the `unique` / `duplicates` key sets of one relation are grouped.

Two plans, picked per engine (`Engine.group_each_key_set` in `warehouse.dialects`):

* **one GROUPING SETS pass** (every engine but DuckDB): `GROUP BY GROUPING SETS ((k1), (k1, k2), ...)`
  reads each key column once, which is what a per-query-billed warehouse charges for; `GROUPING(col)`
  tells the sets' rows apart (a plain GROUP BY when there is one set);
* **a GROUP BY per key set** (DuckDB, where a scan costs no bill): DuckDB aggregates GROUPING SETS in
  one hash table and that costs more than the separate GROUP BYs together (1.58 s against 1.05 s for
  `unique(order_id)` and `duplicates(order_id, line_no)` on 10M rows). And a key set that contains
  another one is **narrowed**: a key duplicated on (k1, k2) is duplicated on k1, so its pass groups
  only the rows whose k1 is duplicated, found in k1's groups, which are computed once as a
  materialized CTE: 0.6 s instead of 1.1 s for those two checks (benchmarks/bench_plans.py). Only a
  pass whose every measure looks at duplicated groups alone (`GroupMeasure`) is narrowed; one that
  needs every group (a `not_null` on a key evaluated over the groups) groups all rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from pipewatch.rules.measures import N_COL, GroupMeasure, KeySet, Measure, all_of, when
from pipewatch.rules.scope import Target
from pipewatch.rules.sqltext import column, ident, name_key

#: The grouped pass (GROUPING SETS plan); with a GROUP BY per key set, the i-th set's pass is `grouped<i>`.
GROUPED = "grouped"
#: Alias of the narrowing key set's groups inside a narrowed pass's EXISTS.
_SOURCE = "pw__s"


def _n() -> exp.Column:
    return exp.column(N_COL, quoted=True)


def _duplicated() -> exp.Expr:
    return exp.GT(this=_n(), expression=exp.Literal.number(1))


@dataclass
class Grouping:
    """The key sets of one statement (key columns in first-seen order) and how they are grouped.

    `each`: a GROUP BY per key set (else one GROUPING SETS pass). `narrowed`: a grouped pass -> the pass
    of the smaller key set whose duplicated groups narrow its rows (set by `narrow`).
    """

    keysets: dict[frozenset[str], KeySet]
    key_names: dict[str, str]  # folded key column -> the name as written
    each: bool
    narrowed: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, measures: list[Measure], dialect: str, each: bool) -> Grouping:
        """The grouping of these measures' key sets (`each`: the engine groups each set by itself)."""
        keysets: dict[frozenset[str], KeySet] = {}
        for m in measures:
            ks = m.keyset
            if ks is not None and ks.keys not in keysets:
                keysets[ks.keys] = ks
        key_names: dict[str, str] = {}
        for ks in keysets.values():
            for name in ks.names:
                key_names.setdefault(name_key(name, dialect), name)
        return cls(keysets, key_names, each and len(keysets) > 1)

    @property
    def parts(self) -> list[str]:
        """The grouped passes, in key-set order."""
        return [f"{GROUPED}{i}" for i in range(1, len(self.keysets) + 1)] if self.each else [GROUPED]

    def part_of(self, ks: KeySet) -> str:
        """The grouped pass that groups by `ks`."""
        return f"{GROUPED}{list(self.keysets).index(ks.keys) + 1}" if self.each else GROUPED

    def sets_of(self, part: str) -> list[KeySet]:
        """The key sets the grouped pass `part` groups by."""
        return [ks for ks in self.keysets.values() if self.part_of(ks) == part]

    def in_set(self, ks: KeySet) -> exp.Expr | None:
        """The condition selecting the group rows of key set `ks` (None when its pass groups by it alone)."""
        if len(self.keysets) == 1 or self.each:
            return None
        conds = [
            exp.EQ(this=exp.column(f"pw__g{i}"), expression=exp.Literal.number(0 if k in ks.keys else 1))
            for i, k in enumerate(self.key_names)
        ]
        return exp.and_(*conds)

    def narrow(
        self,
        aggregates: dict[str, list[tuple[exp.Expr, Measure]]],
        filters: dict[str, dict[str, exp.Expr | None]],
    ) -> None:
        """Pick, for each pass that looks at duplicated groups alone, the largest smaller key set whose
        groups can be kept to the duplicated ones (every filter of that pass is known)."""
        if not self.each:
            return
        for part in self.parts:
            if not all(isinstance(m, GroupMeasure) for _, m in aggregates.get(part, [])):
                continue
            (ks,) = self.sets_of(part)
            sources = [
                other
                for other in self.keysets.values()
                if other.keys < ks.keys
                and all(f is not None for f in filters.get(self.part_of(other), {}).values())
            ]
            if sources:
                self.narrowed[part] = self.part_of(max(sources, key=lambda s: len(s.keys)))

    def cte_name(self, part: str) -> str:
        """The CTE holding the groups of `part` when it narrows another pass."""
        return f"pw__{part}_groups"

    def ctes(
        self, target: Target, dialect: str, filters: dict[str, dict[str, exp.Expr | None]]
    ) -> list[exp.CTE]:
        """The groups of every narrowing key set, materialized once: its own duplicated or offending
        groups (its pass's filters, and `n > 1` for the passes it narrows)."""
        out = []
        # Smaller key sets first: a narrowing set may itself be narrowed by a smaller one.
        sources = sorted(dict.fromkeys(self.narrowed.values()), key=lambda p: len(self.sets_of(p)[0].keys))
        for part in sources:
            kept = {f.sql(): f for f in filters.get(part, {}).values() if f is not None}
            kept.setdefault(_duplicated().sql(), _duplicated())
            groups = exp.select(exp.Star(), copy=False).from_(
                self._groups(part, target, dialect).subquery("pw__g", copy=False), copy=False
            )
            groups = groups.where(exp.or_(*kept.values()), copy=False)
            alias = exp.TableAlias(this=exp.to_identifier(self.cte_name(part), quoted=True))
            out.append(exp.CTE(this=groups, alias=alias, materialized=True))
        return out

    def select(
        self,
        part: str,
        named: list[tuple[exp.Expr, str]],
        filters: list[exp.Expr | None],
        target: Target,
        dialect: str,
        *,
        counted: bool,
    ) -> exp.Select:
        """The grouped pass `part`: aggregates over its group rows (`filters`: the group rows each of its
        measures reads; None for all of them)."""
        outputs = [exp.alias_(e, a) for e, a in named]
        if counted:
            first = self.sets_of(part)[0]
            outputs.insert(0, exp.alias_(exp.Sum(this=when(self.in_set(first), _n())), "total"))
        if part in self.narrowed.values():  # its groups are a CTE, already kept to the ones that matter
            groups: exp.Expr = exp.Table(this=exp.to_identifier(self.cte_name(part), quoted=True))
            groups = exp.alias_(groups, "pw__g", table=True)
        else:
            groups = self._groups(part, target, dialect).subquery("pw__g", copy=False)
        outer = exp.select(*outputs, copy=False).from_(groups, copy=False)
        # Only the duplicated or offending groups matter to the measures (unless this pass also counts rows).
        if not counted and filters and all(f is not None for f in filters):
            outer = outer.where(exp.or_(*(f for f in filters if f is not None)), copy=False)
        return outer

    def _groups(self, part: str, target: Target, dialect: str) -> exp.Select:
        """SELECT keys, COUNT(*) AS n FROM rel WHERE ... GROUP BY keys (or GROUPING SETS)."""
        keysets = self.sets_of(part)
        names = list(self.key_names) if len(keysets) > 1 else [name_key(n, dialect) for n in keysets[0].names]
        keys = [column(self.key_names[k], dialect) for k in names]
        inner = exp.select(*keys, copy=False)
        if len(keysets) > 1:
            grouping = [
                exp.alias_(exp.Anonymous(this="GROUPING", expressions=[k.copy()]), f"pw__g{i}")
                for i, k in enumerate(keys)
            ]
            inner = inner.select(*grouping, copy=False)
        inner = inner.select(exp.alias_(exp.Count(this=exp.Star()), N_COL, quoted=True), copy=False).from_(
            target.base(dialect), copy=False
        )
        source = self.narrowed.get(part)
        where = all_of(
            target.where.copy() if target.where is not None else None,
            self._in_duplicated(source, target, dialect) if source is not None else None,
        )
        if where is not None:
            inner = inner.where(where, copy=False)
        if len(keysets) == 1:
            return inner.group_by(*(k.copy() for k in keys), copy=False)
        sets = [exp.Tuple(expressions=[column(name, dialect) for name in ks.names]) for ks in keysets]
        inner.set("group", exp.Group(grouping_sets=[exp.GroupingSets(expressions=sets)]))
        return inner

    def _in_duplicated(self, source: str, target: Target, dialect: str) -> exp.Expr:
        """EXISTS a duplicated group of the `source` key set with this row's key (NULL keys equal, as
        GROUP BY has them): the rows a narrowed pass groups."""
        (ks,) = self.sets_of(source)
        owner = ident(target.ref.name, dialect)
        alias = exp.to_identifier(_SOURCE, quoted=True)
        same = [
            exp.NullSafeEQ(
                this=exp.Column(this=ident(name, dialect), table=alias.copy()),
                expression=exp.Column(this=ident(name, dialect), table=owner.copy()),
            )
            for name in ks.names
        ]
        dup = exp.GT(this=exp.column(N_COL, table=_SOURCE, quoted=True), expression=exp.Literal.number(1))
        groups = exp.alias_(
            exp.Table(this=exp.to_identifier(self.cte_name(source), quoted=True)), alias, table=True
        )
        probe = exp.select(exp.Literal.number(1), copy=False).from_(groups, copy=False)
        return exp.Exists(this=probe.where(exp.and_(dup, *same), copy=False))
