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
from pipewatch.rules.measures import N_COL, KeySet, Measure, when
from pipewatch.rules.scope import Scope, Target
from pipewatch.rules.spec import Check, RuleSet, TableSpec
from pipewatch.rules.sqltext import SqlTextError, column, name_key, parse_boolean
from pipewatch.warehouse.dialects import splits_passes

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
    # The passes as statements of their own, in column order; `split`: the engine runs these (their
    # one-row results side by side are the fused row) instead of `expression` (see warehouse.dialects).
    passes: tuple[exp.Select, ...] = ()
    split: bool = False

    def sql(self, pretty: bool = False) -> str:
        """The statement in its dialect (raises if sqlglot cannot express a construct there)."""
        return _render(self.expression, self.dialect, pretty)

    def runs(self) -> tuple[str, ...]:
        """The SQL the engine sends, pretty-printed: the fused statement, or each pass when `split`.

        Rendered once per run and used both to execute and to report: generating SQL from a tree is
        most of the engine's own time on a project of a thousand tests.
        """
        # copy=False: sqlglot copies a tree before transforming it for a dialect, to keep the caller's
        # tree intact; these trees are built for this run and rendered this once.
        if self.split:
            return tuple(_render(p, self.dialect, True, copy=False) for p in self.passes)
        return (_render(self.expression, self.dialect, True, copy=False),)

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
    return Plan(dialect, [statement_for(items, dialect, samples=samples) for items in groups(rules, dialect)])


def groups(rules: RuleSet | Iterable[TableSpec], dialect: str) -> list[list[tuple[TableSpec, Check]]]:
    """The checks grouped by (relation, where), in rule-file order: one fused statement each."""
    tables = rules.tables if isinstance(rules, RuleSet) else list(rules)
    grouped: dict[tuple[tuple[str, ...], str], list[tuple[TableSpec, Check]]] = {}
    for spec in tables:
        where_key = _where(spec, dialect).sql(dialect=dialect) if spec.where else ""
        key = (tuple(name_key(p, dialect) for p in spec.target.parts), where_key)
        grouped.setdefault(key, []).extend((spec, c) for c in spec.checks)
    return [items for items in grouped.values() if items]


def statement_for(items: list[tuple[TableSpec, Check]], dialect: str, *, samples: int = 5) -> Statement:
    """`build_statement`, with an SQL construct the dialect lacks reported against the rule file."""
    try:
        return build_statement(items, dialect, samples=samples)
    except SqlTextError as exc:  # rules validated for another dialect than the warehouse's
        raise ConfigError(f"{items[0][0].loc}: {exc} (in {dialect} SQL)") from None


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
    layout = _Layout.of(target, scope, [cc for _, cc in compiled])
    passes, placed = layout.place(compiled)
    used = [p for p in (FLAT, JOINED, GROUPED) if passes.aggregates[p]] or [FLAT]
    columns, offset, selects = layout.selects(passes, used)
    planned = [
        PlannedCheck(spec, cc, {role: offset[part] + idx for role, (part, idx) in slots.items()})
        for spec, cc, slots in placed
    ]
    st = Statement(
        target=target,
        where=spec0.where,
        checks=planned,
        expression=_fuse(selects, used),
        total=offset[used[0]] - 1,
        columns=columns,
        parts=tuple(used),
        dialect=dialect,
        samples=samples,
        passes=tuple(selects),
        split=len(selects) > 1 and splits_passes(dialect),
    )
    st.scans = _scans(st, passes, layout)
    return st


@dataclass
class _Passes:
    """The aggregates placed in each pass, and the filters of the group rows the grouped measures read."""

    aggregates: dict[str, list[tuple[exp.Expr, Measure]]]
    group_filters: dict[str, exp.Expr | None]


@dataclass
class _Layout:
    """How one statement is laid out: its target and scope, the key sets of its grouped pass (with the
    key columns in first-seen order), the columns its parent joins read, and which pass holds the joins."""

    target: Target
    scope: Scope
    keysets: dict[frozenset[str], KeySet]
    key_names: dict[str, str]  # folded key column -> the name as written
    join_cols: frozenset[str]
    join_pass: str

    @classmethod
    def of(cls, target: Target, scope: Scope, compiled: list[CompiledCheck]) -> _Layout:
        """The layout for these compiled checks (their key sets, in first-seen order)."""
        d = scope.dialect
        keysets: dict[frozenset[str], KeySet] = {}
        for cc in compiled:
            for m in cc.measures.values():
                ks = m.keyset
                if ks is not None and ks.keys not in keysets:
                    keysets[ks.keys] = ks
        # Key columns in first-seen order; GROUPING(col) per column tells the sets apart.
        key_names: dict[str, str] = {}
        for ks in keysets.values():
            for name in ks.names:
                key_names.setdefault(name_key(name, d), name)
        join_cols = frozenset(name_key(j.child_column, d) for j in scope.joins.values())
        # Parent joins get a pass of their own (measured ~10% faster on DuckDB: the join then carries one
        # column, not every column the flat aggregates read) unless a `where` would be read once more.
        join_pass = JOINED if target.where is None else FLAT
        return cls(target, scope, keysets, key_names, join_cols, join_pass)

    def in_set(self, ks: KeySet) -> exp.Expr | None:
        """The condition selecting the group rows of key set `ks` (None when there is only one)."""
        if len(self.keysets) == 1:
            return None
        conds = [
            exp.EQ(this=exp.column(f"pw__g{i}"), expression=exp.Literal.number(0 if k in ks.keys else 1))
            for i, k in enumerate(self.key_names)
        ]
        return exp.and_(*conds)

    def home(self, m: Measure) -> tuple[str, KeySet | None]:
        """Where a measure is computed: over groups of a key set, in the joined pass, or in the flat pass."""
        if m.keyset is not None:
            return GROUPED, m.keyset
        if m.needs_join:
            return self.join_pass, None
        cols = m.columns
        if cols:
            fits = [ks for ks in self.keysets.values() if cols <= ks.keys]
            if fits:
                return GROUPED, min(fits, key=lambda ks: len(ks.keys))
            if cols <= self.join_cols:
                return self.join_pass, None
        return FLAT, None

    def place(
        self, compiled: list[tuple[TableSpec, CompiledCheck]]
    ) -> tuple[_Passes, list[tuple[TableSpec, CompiledCheck, dict[str, tuple[str, int]]]]]:
        """Put each distinct measure in its pass once; each check's roles point at (pass, index)."""
        d = self.scope.dialect
        n = exp.column(N_COL, quoted=True)
        passes = _Passes({FLAT: [], JOINED: [], GROUPED: []}, {})
        slot: dict[str, tuple[str, int]] = {}  # measure identity -> (pass, index in pass)
        placed = []
        for spec, cc in compiled:
            slots: dict[str, tuple[str, int]] = {}
            for role, m in cc.measures.items():
                identity = m.identity(d)
                if identity not in slot:
                    part, ks = self.home(m)
                    if ks is not None:
                        agg = m.over_groups(self.in_set(ks), n)
                        gf = m.group_filter(n)
                        passes.group_filters[gf.sql(dialect=d) if gf is not None else ""] = gf
                    else:
                        agg = m.flat()
                    if agg is None:
                        raise TypeError(f"measure {identity} cannot be computed in the {part} pass")
                    passes.aggregates[part].append((agg, m))
                    slot[identity] = (part, len(passes.aggregates[part]) - 1)
                slots[role] = slot[identity]
            placed.append((spec, cc, slots))
        return passes, placed

    def selects(self, passes: _Passes, used: list[str]) -> tuple[list[str], dict[str, int], list[exp.Select]]:
        """One SELECT per pass used, the output column names, and where each pass's columns start.

        The row count comes from the first pass that runs: flat, else joined, else grouped.
        """
        counted = used[0]
        columns: list[str] = []
        offset: dict[str, int] = {}
        selects: list[exp.Select] = []
        for part in used:
            first = len(columns) + (part == counted)
            named = [(e, f"c{first + i}") for i, (e, _) in enumerate(passes.aggregates[part])]
            offset[part] = first
            if part == counted:
                columns.append("total")
            columns.extend(a for _, a in named)
            if part == GROUPED:
                selects.append(self._grouped(named, passes, counted=part == counted))
            else:
                selects.append(self._scan(part, named, counted=part == counted))
        return columns, offset, selects

    def _scan(self, part: str, named: list[tuple[exp.Expr, str]], *, counted: bool) -> exp.Select:
        """The flat or joined pass: aggregates over the (joined) rows under the filter."""
        d, where = self.scope.dialect, self.target.where
        outputs = [exp.alias_(e, a) for e, a in named]
        if counted:
            outputs.insert(0, exp.alias_(exp.Count(this=exp.Star()), "total"))
        # copy=False throughout: every part is built fresh here, and sqlglot's default copies the whole
        # query at each builder call (measured: most of planning a 1,000-test project).
        q = exp.select(*outputs, copy=False).from_(self.target.base(d), copy=False)
        if part == self.join_pass:
            for join in self.scope.joins.values():
                q = q.join(join.subquery(d), on=join.on(d), join_type="left", copy=False)
        return q.where(where.copy(), copy=False) if where is not None else q

    def _grouped(self, named: list[tuple[exp.Expr, str]], passes: _Passes, *, counted: bool) -> exp.Select:
        """The grouped pass: aggregates over the group rows of every key set (one GROUPING SETS pass)."""
        d, where = self.scope.dialect, self.target.where
        keys = [column(self.key_names[k], d) for k in self.key_names]
        inner = exp.select(*keys, copy=False)
        if len(self.keysets) > 1:
            grouping = [
                exp.alias_(exp.Anonymous(this="GROUPING", expressions=[k.copy()]), f"pw__g{i}")
                for i, k in enumerate(keys)
            ]
            inner = inner.select(*grouping, copy=False)
        inner = inner.select(exp.alias_(exp.Count(this=exp.Star()), N_COL, quoted=True), copy=False).from_(
            self.target.base(d), copy=False
        )
        if where is not None:
            inner = inner.where(where.copy(), copy=False)
        if len(self.keysets) == 1:
            inner = inner.group_by(*(k.copy() for k in keys), copy=False)
        else:
            sets = [
                exp.Tuple(expressions=[column(name, d) for name in ks.names]) for ks in self.keysets.values()
            ]
            inner.set("group", exp.Group(grouping_sets=[exp.GroupingSets(expressions=sets)]))
        outputs = [exp.alias_(e, a) for e, a in named]
        if counted:
            first_set = next(iter(self.keysets.values()))
            n = exp.column(N_COL, quoted=True)
            outputs.insert(0, exp.alias_(exp.Sum(this=when(self.in_set(first_set), n)), "total"))
        outer = exp.select(*outputs, copy=False).from_(inner.subquery("pw__g", copy=False), copy=False)
        filters = list(passes.group_filters.values())
        # Only the duplicated or offending groups matter to the measures (unless this pass also counts rows).
        if not counted and filters and all(f is not None for f in filters):
            outer = outer.where(exp.or_(*(f for f in filters if f is not None)), copy=False)
        return outer


def _fuse(selects: list[exp.Select], used: list[str]) -> exp.Select:
    """The passes as one statement: `SELECT * FROM (p1) CROSS JOIN (p2) ...` (one row, one round trip).

    The passes are wrapped without copies: rendering copies a tree before it transforms one, so the
    fused statement and the passes may share their subtrees.
    """
    statement = selects[0]
    if len(selects) > 1:
        statement = exp.select(exp.Star(), copy=False).from_(
            exp.Subquery(this=selects[0], alias=exp.TableAlias(this=exp.to_identifier(f"pw__{used[0]}"))),
            copy=False,
        )
        for part, sel in zip(used[1:], selects[1:], strict=True):
            sub = exp.Subquery(this=sel, alias=exp.TableAlias(this=exp.to_identifier(f"pw__{part}")))
            statement.append("joins", exp.Join(this=sub, kind="CROSS"))
    return statement


def _render(tree: exp.Expr, dialect: str, pretty: bool, *, copy: bool = True) -> str:
    return tree.sql(dialect=dialect, pretty=pretty, unsupported_level=ErrorLevel.RAISE, copy=copy)


def _scans(st: Statement, passes: _Passes, layout: _Layout) -> dict[str, Counter[str]]:
    """Columns each pass of the statement reads, per relation (a pass reads a column once)."""
    dialect, scope, join_pass = st.dialect, layout.scope, layout.join_pass
    rel = st.target.ref.relation
    where = st.target.where
    where_cols = (
        {name_key(c.name, dialect) for c in where.find_all(exp.Column)} if where is not None else set()
    )
    scans: dict[str, Counter[str]] = {rel: Counter()}
    for part in st.parts:
        cols = set(where_cols)
        if part == GROUPED:
            cols |= set(layout.key_names)
        else:
            for agg, _ in passes.aggregates[part]:
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
