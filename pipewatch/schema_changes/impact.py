"""Who reads a changed column, and which failure of this run it probably caused.

`trace_impact` walks down from each changed column (not additions: nobody reads a new column yet),
parsing a node's compiled SQL only when one of its parents has a changed column it might read, and
each node at most once. A node whose SQL cannot be parsed (or has no compiled SQL in this run's
artifacts) is taken as reading the column, with everything below it: the change's `precision` is
then `table`. `attach_to_failures` pairs failures with the changes they read; `schema_gate` is the
`schema.fail_on` rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from pipewatch.artifacts.catalog import CatalogColumn, CatalogTable
from pipewatch.artifacts.model import Run
from pipewatch.config import OwnerRule
from pipewatch.lineage.graph import Graph
from pipewatch.owners import owner_of
from pipewatch.schema_changes.model import DROPPED, RENAMED, TABLE, ColumnChange

if TYPE_CHECKING:
    from pipewatch.schema_changes.column_lineage import NodeColumns

#: Error categories of a failure that reading a changed column explains (unknown column, bad cast).
_EXPLAINED = frozenset({"code", "data"})


#: How many nodes one after-run parses to trace column lineage. Parsing costs about a millisecond a
#: node; a column that thousands of models read would otherwise hold after-run for seconds. Past the
#: budget a node counts as unparsed: it and all below it are listed at `table` precision (never missed).
PARSE_BUDGET = 1000


class SqlColumns:
    """Each node's parsed column lineage, computed on first request and kept (None: could not parse)."""

    def __init__(
        self,
        run: Run,
        graph: Graph,
        columns: Mapping[str, Sequence[CatalogColumn]],
        code_of: Callable[[str], str | None],
        dialect: str | None,
        budget: int = PARSE_BUDGET,
    ) -> None:
        self.run, self.graph, self.columns, self.code_of, self.dialect = run, graph, columns, code_of, dialect
        self._cache: dict[str, NodeColumns | None] = {}
        self._patterns: dict[str, re.Pattern[str]] = {}
        self.parsed = 0  # how many nodes were parsed (the benchmark and tests read it)
        self.budget = budget
        self.over_budget = 0  # nodes left at table precision because the parse budget was spent

    def may_read(self, uid: str, column: str) -> bool:
        """False when `uid`'s SQL cannot read `column`: it neither names it nor has a star or a natural
        join (a cheap text test that spares parsing most nodes below a change)."""
        sql = self.code_of(uid)
        if not sql:
            return True  # no SQL: the caller falls back to the table level
        pattern = self._patterns.get(column)
        if pattern is None:
            pattern = re.compile(rf"(?<![\w$]){re.escape(column)}(?![\w$])|\*|\bnatural\b", re.IGNORECASE)
            self._patterns[column] = pattern
        return pattern.search(sql) is not None

    def of(self, uid: str) -> NodeColumns | None:
        """The column lineage of node `uid`'s compiled SQL, or None when there is none or it won't parse."""
        if uid in self._cache:
            return self._cache[uid]
        from pipewatch.schema_changes.column_lineage import analyze_sql, relation_key

        if self.parsed >= self.budget:
            self.over_budget += 1
            self._cache[uid] = None
            return None
        sql = self.code_of(uid)
        result = None
        if sql:
            parents: dict[tuple[str, ...], str] = {}
            tables: list[tuple[tuple[str, ...], dict[str, str]]] = []
            for p in self.graph.parent_idx[self.graph.index[uid]]:
                parent = self.graph.ids[p]
                node = self.run.nodes.get(parent)
                if node is None or node.relation is None:
                    continue
                key = relation_key([node.database, node.schema, node.alias])
                parents[key] = parent
                if parent in self.columns:
                    tables.append((key, {c.name: "UNKNOWN" for c in self.columns[parent]}))
            self.parsed += 1
            result = analyze_sql(sql, parents, _nested(tables), self.dialect)
        self._cache[uid] = result
        return result


def _nested(
    tables: Sequence[tuple[tuple[str, ...], dict[str, str]]],
) -> dict[str, dict[str, dict[str, dict[str, str]]]]:
    """sqlglot's schema mapping; every table at the depth of the shortest name, which sqlglot requires."""
    if not tables:
        return {}
    depth = min(len(key) for key, _ in tables)
    if depth < 3:
        return {}  # unqualified relations: let qualify place columns without a schema
    out: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
    for key, cols in tables:
        database, schema, name = key[-3:]
        out.setdefault(database, {}).setdefault(schema, {})[name] = cols
    return out


def trace_impact(
    changes: Sequence[ColumnChange],
    run: Run,
    graph: Graph,
    sql: SqlColumns,
    rules: Sequence[OwnerRule] = (),
) -> None:
    """Fill in each breaking change's downstream nodes and columns, exposures, owners and precision."""
    from pipewatch.schema_changes.walk import downstream_columns

    kinds = graph.kinds
    for change in changes:
        if not change.breaks_readers or change.unique_id not in graph.index:
            continue
        reach = downstream_columns(graph, sql, change.unique_id, change.read_name)
        exposures = {uid for uid in reach.consumers if kinds[graph.index[uid]] == "exposure"}
        # An exposure straight on the changed relation may show the column: it is listed too.
        exposures.update(
            graph.ids[c] for c in graph.child_idx[graph.index[change.unique_id]] if kinds[c] == "exposure"
        )
        if reach.table_level:
            change.precision = TABLE
        change.downstream = sorted(reach.readers.keys() | reach.table_level)
        change.downstream_columns = {uid: cols for uid, cols in sorted(reach.readers.items()) if cols}
        change.exposures = sorted(exposures)
        change.owners = _owners(change.unique_id, [*change.downstream, *change.exposures], run, rules)


def _owners(changed: str, reached: Iterable[str], run: Run, rules: Sequence[OwnerRule]) -> list[str]:
    first = owner_of(run.nodes.get(changed), list(rules))
    others = {o for uid in reached if (o := owner_of(run.nodes.get(uid), list(rules))) and o != first}
    return ([first] if first else []) + sorted(others)


def explains(change: ColumnChange, unique_id: str, message: str | None, category: str) -> bool:
    """Whether the failure of `unique_id` (its message and triage category) probably comes from `change`.

    The failed node must read the column; at column precision a code or data error is enough, else
    the message must name the column.
    """
    if not change.breaks_readers or unique_id not in change.downstream:
        return False
    pattern = rf"(?<!\w){re.escape(change.read_name)}(?!\w)"
    if message and re.search(pattern, message, re.IGNORECASE):
        return True
    return change.precision != TABLE and category in _EXPLAINED


def schema_gate(changes: Sequence[ColumnChange], fail_on: Iterable[str]) -> list[str]:
    """The gate reasons `schema.fail_on` gives for these changes (a possible rename counts as dropped)."""
    kinds = set(fail_on)
    if DROPPED in kinds:
        kinds.add(RENAMED)
    hits = [c for c in changes if c.change in kinds]
    if not hits:
        return []
    shown = "; ".join(c.phrase() for c in hits[:3]) + ("; ..." if len(hits) > 3 else "")
    return [f"{len(hits)} column change(s) of a kind pipewatch.yml `schema.fail_on` fails on: {shown}"]


def current_columns(
    tables: Mapping[str, CatalogTable], previous: Mapping[str, Sequence[CatalogColumn]]
) -> dict[str, list[CatalogColumn]]:
    """Each relation's columns for parsing downstream SQL: today's, plus yesterday's for changed ones, so SQL
    written against a dropped or renamed column still resolves to it."""
    out = {uid: list(table.columns) for uid, table in tables.items()}
    for uid, old in previous.items():
        names = {c.name for c in out.get(uid, [])}
        out.setdefault(uid, []).extend(c for c in old if c.name not in names)
    return out
