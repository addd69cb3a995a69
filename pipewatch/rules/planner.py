"""Fuse every check on one relation under one filter into a single statement.

For each (relation, where) the planner builds one SELECT with up to two parts:

* the **flat** part: `SELECT COUNT(*), <aggregates> FROM rel WHERE ...`, one streaming aggregate pass;
* the **joined** part: `relationships` checks as LEFT JOINs of the rows to each parent's distinct keys
  (`GROUP BY field`, so child rows are never multiplied), counting orphans; measures that read only
  the join columns (a `not_null` on the foreign key) ride along. With a `where`, this part folds into
  the flat one so the filter's columns are not read a third time;
* the **grouped** part: `SELECT ... FROM (SELECT keys, COUNT(*) AS n FROM rel WHERE ... GROUP BY GROUPING
  SETS ((k1), (k1, k2), ...)) g`: one hash-aggregate pass for all `unique`/`duplicates` key sets
  (a plain GROUP BY when there is one). Row-level measures that read only key columns (a `not_null`
  on a unique key, say) are evaluated over the groups weighted by `n`, so the flat part need not
  read those columns again.

The parts become one statement, `SELECT * FROM (flat) CROSS JOIN (joined) CROSS JOIN (grouped)`: one
round trip, and each column is read once per filter, except the `where` columns (read by each part)
and a key or join column that a flat measure also reads (reported by `Plan.scan_counts`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import ErrorLevel

from pipewatch.errors import ConfigError
from pipewatch.rules.compiler import CompiledCheck, compile_check
from pipewatch.rules.measures import N_COL, KeySet, Measure
from pipewatch.rules.scope import Scope, Target
from pipewatch.rules.spec import Check, RuleSet, TableSpec
from pipewatch.rules.sqltext import SqlTextError, column, name_key, parse_boolean

#: The passes a statement can make over its relation (see the module docstring).
FLAT, JOINED, GROUPED = "flat", "joined", "grouped"


@dataclass
class PlannedCheck:
    """A check inside a statement: its spec, its compiled measures, and the output column of each role."""

    table: TableSpec
    compiled: CompiledCheck
    outputs: dict[str, int]  # role -> position in the statement's result row

    @property
    def check(self) -> Check:
        """The check spec."""
        return self.compiled.check


@dataclass
class Statement:
    """One fused query: a relation, its filter, its checks, the SQL tree and what it reads."""

    target: Target
    where: str | None
    checks: list[PlannedCheck]
    expression: exp.Select
    total: int  # position of the row count in the result row
    columns: list[str]  # output aliases in order
    parts: tuple[str, ...]  # "flat" and/or "grouped"
    scans: dict[str, Counter[str]] = field(default_factory=dict)  # relation -> column -> reads
    dialect: str = "duckdb"
    samples: int = 0  # the sample size the statement was planned with (re-planning keeps it)

    def sql(self, pretty: bool = False) -> str:
        """The statement in its dialect (raises if sqlglot cannot express a construct there)."""
        return self.expression.sql(dialect=self.dialect, pretty=pretty, unsupported_level=ErrorLevel.RAISE)

    @property
    def items(self) -> list[tuple[TableSpec, Check]]:
        """The (table spec, check) pairs this statement evaluates."""
        return [(p.table, p.check) for p in self.checks]


@dataclass
class Plan:
    """Every statement of a run, in rule-file order."""

    dialect: str
    statements: list[Statement]

    def scan_counts(self) -> dict[str, dict[str, int]]:
        """For each relation, how many times the plan reads each column (the bytes a per-query-billed
        warehouse charges for). Filters count separately: a table checked under two `where`s is read twice."""
        total: dict[str, Counter[str]] = {}
        for st in self.statements:
            for rel, cols in st.scans.items():
                total.setdefault(rel, Counter()).update(cols)
        return {rel: dict(sorted(c.items())) for rel, c in total.items()}

    def sql(self, pretty: bool = True) -> list[str]:
        """Every statement's SQL."""
        return [s.sql(pretty=pretty) for s in self.statements]


def plan(rules: RuleSet | Iterable[TableSpec], dialect: str, *, samples: int = 5) -> Plan:
    """Group checks by (relation, where) and build one fused statement per group.

    `samples` > 0 lets duplicated-key samples ride along where the dialect can (see compiler).
    """
    tables = rules.tables if isinstance(rules, RuleSet) else list(rules)
    groups: dict[tuple[tuple[str, ...], str], list[tuple[TableSpec, Check]]] = {}
    for spec in tables:
        where_key = _where(spec, dialect).sql(dialect=dialect) if spec.where else ""
        key = (tuple(name_key(p, dialect) for p in spec.target.parts), where_key)
        groups.setdefault(key, []).extend((spec, c) for c in spec.checks)
    statements = []
    for items in groups.values():
        if not items:
            continue
        try:
            statements.append(build_statement(items, dialect, samples=samples))
        except SqlTextError as exc:  # rules validated for another dialect than the warehouse's
            raise ConfigError(f"{items[0][0].loc}: {exc} (in {dialect} SQL)") from None
    return Plan(dialect, statements)


def _where(spec: TableSpec, dialect: str) -> exp.Expr:
    assert spec.where is not None
    try:
        return parse_boolean(spec.where, dialect, "`where`")
    except SqlTextError as exc:
        raise ConfigError(f"{spec.loc}: {exc} (in {dialect} SQL)") from None


def build_statement(items: list[tuple[TableSpec, Check]], dialect: str, *, samples: int = 5) -> Statement:
    """The fused statement for checks that share a relation and a filter (the first item's)."""
    spec0 = items[0][0]
    where = _where(spec0, dialect) if spec0.where else None
    target = Target(spec0.target, where)
    scope = Scope(dialect, samples)
    compiled = [(spec, compile_check(check, target, scope)) for spec, check in items]

    keysets: dict[frozenset[str], KeySet] = {}
    for _, cc in compiled:
        for m in cc.measures.values():
            ks = m.keyset
            if ks is not None and ks.keys not in keysets:
                keysets[ks.keys] = ks
    # Key columns in first-seen order; GROUPING(col) per column tells the sets apart.
    key_names: dict[str, str] = {}
    for ks in keysets.values():
        for name in ks.names:
            key_names.setdefault(name_key(name, dialect), name)
    key_order = list(key_names)
    join_cols = frozenset(name_key(j.child_column, dialect) for j in scope.joins.values())
    # Parent joins get a pass of their own (measured ~10% faster on DuckDB: the join then carries one
    # column, not every column the flat aggregates read) unless a `where` would be read once more.
    join_pass = JOINED if where is None else FLAT

    def in_set(ks: KeySet) -> exp.Expr | None:
        """The condition selecting the group rows of key set `ks` (None when there is only one)."""
        if len(keysets) == 1:
            return None
        conds = [
            exp.EQ(this=exp.column(f"pw__g{i}"), expression=exp.Literal.number(0 if k in ks.keys else 1))
            for i, k in enumerate(key_order)
        ]
        return exp.and_(*conds)

    def home(m: Measure) -> tuple[str, KeySet | None]:
        """Where a measure is computed: over groups of a key set, in the joined pass, or in the flat pass."""
        if m.keyset is not None:
            return GROUPED, m.keyset
        if m.needs_join:
            return join_pass, None
        cols = m.columns
        if cols:
            fits = [ks for ks in keysets.values() if cols <= ks.keys]
            if fits:
                return GROUPED, min(fits, key=lambda ks: len(ks.keys))
            if cols <= join_cols:
                return join_pass, None
        return FLAT, None

    n = exp.column(N_COL, quoted=True)
    parts: dict[str, list[tuple[exp.Expr, Measure]]] = {FLAT: [], JOINED: [], GROUPED: []}
    group_filters: dict[str, exp.Expr | None] = {}
    slot: dict[str, tuple[str, int]] = {}  # measure identity -> (part, index in part)
    roles: list[tuple[TableSpec, CompiledCheck, dict[str, tuple[str, int]]]] = []
    for spec, cc in compiled:
        where_is: dict[str, tuple[str, int]] = {}
        for role, m in cc.measures.items():
            ident = m.identity(dialect)
            if ident not in slot:
                part, ks = home(m)
                if part == GROUPED:
                    assert ks is not None
                    agg = m.over_groups(in_set(ks), n)
                    gf = m.group_filter(n)
                    group_filters[gf.sql(dialect=dialect) if gf is not None else ""] = gf
                else:
                    agg = m.flat()
                assert agg is not None
                parts[part].append((agg, m))
                slot[ident] = (part, len(parts[part]) - 1)
            where_is[role] = slot[ident]
        roles.append((spec, cc, where_is))

    # The row count comes from the first pass that runs: flat, else joined, else grouped.
    used = [p for p in (FLAT, JOINED, GROUPED) if parts[p]]
    if not used:
        used = [FLAT]
    counted = used[0]
    base = target.base(dialect)
    selects: list[exp.Select] = []
    columns: list[str] = []
    offset: dict[str, int] = {}
    for part in used:
        items_ = [(e, f"c{len(columns) + i + (part == counted)}") for i, (e, _) in enumerate(parts[part])]
        offset[part] = len(columns) + (1 if part == counted else 0)
        if part == counted:
            columns.append("total")
        columns.extend(a for _, a in items_)
        if part in (FLAT, JOINED):
            q = exp.select(*(exp.alias_(e, a) for e, a in items_))
            if part == counted:
                q = exp.select(exp.alias_(exp.Count(this=exp.Star()), "total"), *q.expressions)
            q = q.from_(base.copy())
            if part == join_pass:
                for join in scope.joins.values():
                    q = q.join(join.subquery(dialect), on=join.on(dialect), join_type="left")
            selects.append(q.where(where.copy()) if where is not None else q)
            continue
        inner = exp.select(*(column(key_names[k], dialect) for k in key_order))
        if len(keysets) > 1:
            inner = inner.select(
                *(
                    exp.alias_(
                        exp.Anonymous(this="GROUPING", expressions=[column(key_names[k], dialect)]),
                        f"pw__g{i}",
                    )
                    for i, k in enumerate(key_order)
                )
            )
        inner = inner.select(exp.alias_(exp.Count(this=exp.Star()), N_COL, quoted=True)).from_(base.copy())
        if where is not None:
            inner = inner.where(where.copy())
        if len(keysets) == 1:
            inner = inner.group_by(*(column(key_names[k], dialect) for k in key_order))
        else:
            sets = [
                exp.Tuple(expressions=[column(name, dialect) for name in ks.names]) for ks in keysets.values()
            ]
            inner.set("group", exp.Group(grouping_sets=[exp.GroupingSets(expressions=sets)]))
        outer_items = [exp.alias_(e, a) for e, a in items_]
        if part == counted:
            first = next(iter(keysets.values()))
            outer_items.insert(0, exp.alias_(exp.Sum(this=_when(in_set(first), n.copy())), "total"))
        outer = exp.select(*outer_items).from_(inner.subquery("pw__g"))
        filters = list(group_filters.values())
        if part != counted and filters and all(f is not None for f in filters):
            outer = outer.where(exp.or_(*(f for f in filters if f is not None)))
        selects.append(outer)

    statement = selects[0]
    if len(selects) > 1:
        statement = exp.select(exp.Star()).from_(selects[0].subquery(f"pw__{used[0]}"))
        for part, sel in zip(used[1:], selects[1:], strict=True):
            statement = statement.join(sel.subquery(f"pw__{part}"), join_type="cross")
    planned = [
        PlannedCheck(spec, cc, {role: offset[part] + idx for role, (part, idx) in where_is.items()})
        for spec, cc, where_is in roles
    ]
    st = Statement(
        target=target,
        where=spec0.where,
        checks=planned,
        expression=statement,
        total=offset[counted] - 1,
        columns=columns,
        parts=tuple(used),
        dialect=dialect,
        samples=samples,
    )
    st.scans = _scans(st, parts, scope, key_names, dialect, join_pass)
    return st


def _when(cond: exp.Expr | None, then: exp.Expr) -> exp.Expr:
    return then if cond is None else exp.Case(ifs=[exp.If(this=cond, true=then)])


def _scans(
    st: Statement,
    parts: dict[str, list[tuple[exp.Expr, Measure]]],
    scope: Scope,
    key_names: dict[str, str],
    dialect: str,
    join_pass: str,
) -> dict[str, Counter[str]]:
    """Columns each pass of the statement reads, per relation (a pass reads a column once)."""
    rel = st.target.ref.relation
    where = st.target.where
    where_cols = (
        {name_key(c.name, dialect) for c in where.find_all(exp.Column)} if where is not None else set()
    )
    scans: dict[str, Counter[str]] = {rel: Counter()}
    for part in st.parts:
        cols = set(where_cols)
        if part == GROUPED:
            cols |= set(key_names)
        else:
            for agg, _ in parts[part]:
                cols |= {
                    name_key(c.name, dialect)
                    for c in agg.find_all(exp.Column)
                    if not c.table.startswith("pw__")
                }
        if part == join_pass:
            for join in scope.joins.values():
                cols.add(name_key(join.child_column, dialect))
                scans.setdefault(join.parent.relation, Counter())[name_key(join.field, dialect)] += 1
        scans[rel].update(cols)
    return scans
