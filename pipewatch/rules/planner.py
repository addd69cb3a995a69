"""Fuse every check on one relation under one filter into a single statement.

For each (relation, where) the planner builds one SELECT with up to three kinds of part:

* the **flat** part: `SELECT COUNT(*), <aggregates> FROM rel WHERE ...`, one streaming aggregate pass;
* the **joined** part: `relationships` checks, counting the child rows whose key has no parent row
  (a LEFT JOIN to each parent's distinct keys, `GROUP BY field` so child rows are never multiplied,
  or where the engine runs `x IN (subquery)` as a hash join, a membership test: see `rules.scope`);
  measures that read only the join columns (a `not_null` on the foreign key) ride along. With a
  `where`, this part folds into the flat one so the filter's columns are not read a third time;
* the **grouped** part(s): `SELECT ... FROM (SELECT keys, COUNT(*) AS n FROM rel WHERE ... GROUP BY
  ...) g` for the `unique`/`duplicates` key sets: one GROUPING SETS pass, or on DuckDB a GROUP BY per
  key set with the larger sets narrowed by the smaller (see `rules.grouping`). Row-level measures that
  read only key columns (a `not_null` on a unique key, say) are evaluated over the groups weighted by
  `n`, so the flat part need not read those columns again.

The parts become one statement, `SELECT * FROM (flat) CROSS JOIN (joined) CROSS JOIN (grouped)`: one
round trip, and each column is read once per filter, except the `where` columns (read by each part)
and a key or join column that a flat measure also reads (reported by `Plan.scan_counts`). One
statement on every engine: on DuckDB it measured as fast as the expert's single SELECT, and faster
than its parts as statements of their own, one after the other or concurrently on separate cursors
(benchmarks/bench_plans.py); on per-query-billed warehouses it scans, and bills, each column once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import ErrorLevel

from pipewatch.errors import ConfigError
from pipewatch.rules.compiler import CompiledCheck, compile_check
from pipewatch.rules.grouping import GROUPED, Grouping
from pipewatch.rules.measures import N_COL, KeySet, Measure
from pipewatch.rules.scope import Scope, Target
from pipewatch.rules.spec import Check, RuleSet, TableSpec
from pipewatch.rules.sqltext import SqlTextError, name_key, parse_boolean
from pipewatch.warehouse.dialects import engine_of

#: The scan passes a statement can make over its relation (see the module docstring; the grouped
#: passes are named in `rules.grouping`).
FLAT, JOINED = "flat", "joined"


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
    parts: tuple[str, ...]  # the passes, in column order: "flat", "joined", "grouped" or "grouped1"...
    scans: dict[str, Counter[str]] = field(default_factory=dict)  # relation -> column -> reads
    dialect: str = "duckdb"
    samples: int = 0  # the sample size the statement was planned with (re-planning keeps it)

    def sql(self, pretty: bool = False) -> str:
        """The statement in its dialect (raises if sqlglot cannot express a construct there)."""
        return _render(self.expression, self.dialect, pretty)

    def run_sql(self) -> str:
        """The SQL the engine sends, pretty-printed.

        Rendered once per run and used both to execute and to report: generating SQL from a tree is
        most of the engine's own time on a project of a thousand tests.
        """
        # copy=False: sqlglot copies a tree before transforming it for a dialect, to keep the caller's
        # tree intact; this tree is built for this run and rendered this once.
        return _render(self.expression, self.dialect, True, copy=False)

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
    layout.grouping.narrow(passes.aggregates, passes.group_filters)
    used = [p for p in (FLAT, JOINED, *layout.grouping.parts) if passes.aggregates.get(p)] or [FLAT]
    if layout.grouping.narrowed and used[0] not in (FLAT, JOINED):
        used.insert(0, FLAT)  # the row count from a plain scan: a narrowed pass does not see every row
    columns, offset, selects = layout.selects(passes, used)
    planned = [
        PlannedCheck(spec, cc, {role: offset[part] + idx for role, (part, idx) in slots.items()})
        for spec, cc, slots in placed
    ]
    st = Statement(
        target=target,
        where=spec0.where,
        checks=planned,
        expression=_fuse(selects, used, layout.grouping.ctes(target, dialect, passes.group_filters)),
        total=offset[used[0]] - 1,
        columns=columns,
        parts=tuple(used),
        dialect=dialect,
        samples=samples,
    )
    st.scans = _scans(st, passes, layout)
    return st


@dataclass
class _Passes:
    """The aggregates placed in each pass, and per grouped pass the filters of the group rows its
    measures read (keyed by their SQL, so a filter shared by two measures is ORed in once)."""

    aggregates: dict[str, list[tuple[exp.Expr, Measure]]] = field(default_factory=dict)
    group_filters: dict[str, dict[str, exp.Expr | None]] = field(default_factory=dict)


@dataclass
class _Layout:
    """How one statement is laid out: its target and scope, the grouping of its key sets, the columns
    its parent joins read, and which pass holds the joins."""

    target: Target
    scope: Scope
    grouping: Grouping
    join_cols: frozenset[str]
    join_pass: str

    @classmethod
    def of(cls, target: Target, scope: Scope, compiled: list[CompiledCheck]) -> _Layout:
        """The layout for these compiled checks (their key sets, in first-seen order)."""
        d = scope.dialect
        measures = [m for cc in compiled for m in cc.measures.values()]
        grouping = Grouping.of(measures, d, engine_of(d).group_each_key_set)
        join_cols = frozenset(name_key(j.child_column, d) for j in scope.joins.values())
        # Parent joins get a pass of their own (measured ~10% faster on DuckDB: the join then carries one
        # column, not every column the flat aggregates read) unless a `where` would be read once more.
        join_pass = JOINED if target.where is None else FLAT
        return cls(target, scope, grouping, join_cols, join_pass)

    def home(self, m: Measure) -> tuple[str, KeySet | None]:
        """Where a measure is computed: over groups of a key set, in the joined pass, or in the flat pass."""
        grouping = self.grouping
        if m.keyset is not None:
            return grouping.part_of(m.keyset), m.keyset
        if m.needs_join:
            return self.join_pass, None
        cols = m.columns
        if cols:
            fits = [ks for ks in grouping.keysets.values() if cols <= ks.keys]
            if fits:
                ks = min(fits, key=lambda ks: len(ks.keys))
                return grouping.part_of(ks), ks
            if cols <= self.join_cols:
                return self.join_pass, None
        return FLAT, None

    def place(
        self, compiled: list[tuple[TableSpec, CompiledCheck]]
    ) -> tuple[_Passes, list[tuple[TableSpec, CompiledCheck, dict[str, tuple[str, int]]]]]:
        """Put each distinct measure in its pass once; each check's roles point at (pass, index)."""
        d = self.scope.dialect
        n = exp.column(N_COL, quoted=True)
        passes = _Passes()
        slot: dict[str, tuple[str, int]] = {}  # measure identity -> (pass, index in pass)
        placed = []
        for spec, cc in compiled:
            slots: dict[str, tuple[str, int]] = {}
            for role, m in cc.measures.items():
                identity = m.identity(d)
                if identity not in slot:
                    part, ks = self.home(m)
                    if ks is not None:
                        agg = m.over_groups(self.grouping.in_set(ks), n)
                        gf = m.group_filter(n)
                        filters = passes.group_filters.setdefault(part, {})
                        filters[gf.sql(dialect=d) if gf is not None else ""] = gf
                    else:
                        agg = m.flat()
                    if agg is None:
                        raise TypeError(f"measure {identity} cannot be computed in the {part} pass")
                    aggregates = passes.aggregates.setdefault(part, [])
                    aggregates.append((agg, m))
                    slot[identity] = (part, len(aggregates) - 1)
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
            named = [(e, f"c{first + i}") for i, (e, _) in enumerate(passes.aggregates.get(part, []))]
            offset[part] = first
            if part == counted:
                columns.append("total")
            columns.extend(a for _, a in named)
            if part.startswith(GROUPED):
                filters = list(passes.group_filters.get(part, {}).values())
                grouped = self.grouping.select(
                    part, named, filters, self.target, self.scope.dialect, counted=part == counted
                )
                selects.append(grouped)
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
                if not join.mark:
                    q = q.join(join.subquery(d), on=join.on(d), join_type="left", copy=False)
        return q.where(where.copy(), copy=False) if where is not None else q


def _fuse(selects: list[exp.Select], used: list[str], ctes: list[exp.CTE]) -> exp.Select:
    """The passes as one statement: `[WITH ctes] SELECT * FROM (p1) CROSS JOIN (p2) ...` (one row, one
    round trip)."""
    statement = selects[0]
    if len(selects) > 1:
        statement = exp.select(exp.Star(), copy=False).from_(
            exp.Subquery(this=selects[0], alias=exp.TableAlias(this=exp.to_identifier(f"pw__{used[0]}"))),
            copy=False,
        )
        for part, sel in zip(used[1:], selects[1:], strict=True):
            sub = exp.Subquery(this=sel, alias=exp.TableAlias(this=exp.to_identifier(f"pw__{part}")))
            statement.append("joins", exp.Join(this=sub, kind="CROSS"))
    if ctes:
        statement.set("with_", exp.With(expressions=ctes))
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
        if part.startswith(GROUPED):
            cols |= {k for ks in layout.grouping.sets_of(part) for k in ks.keys}
        else:
            for agg, _ in passes.aggregates.get(part, []):
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
