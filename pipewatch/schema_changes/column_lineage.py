"""Column-level lineage of one node's compiled SQL: which parent columns it reads, and which of its own
output columns each one flows into.

The SQL is parsed and qualified once per node (sqlglot `qualify` against the parents' columns, so
`select *` expands into the columns it carries on), then walked scope by scope: a column read in a
WHERE, JOIN or GROUP BY counts as read, and an output column derives from every base column its
expression reaches through CTEs, derived tables and set operations. A star sqlglot could not expand
(a parent without known columns) reads, and carries on, every column of that parent.

SQL that does not parse or qualify is `None`: callers fall back to table-level lineage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope

#: A column of a parent relation: (parent unique id, lower-cased column name).
ParentColumn = tuple[str, str]
_ANY = "*"  # a parent column name that stands for every column (an unexpanded star)


@dataclass(slots=True)
class NodeColumns:
    """What one node's SQL reads from its parents, and where each of its output columns comes from."""

    outputs: list[str]  # output column names, lower-cased, in order
    reads: set[ParentColumn] = field(default_factory=set)
    derives: dict[str, set[ParentColumn]] = field(default_factory=dict)  # output column -> parent columns

    def reads_column(self, parent: str, column: str) -> bool:
        """Whether the SQL reads `parent.column` anywhere (select list, filter, join, grouping)."""
        return (parent, column.lower()) in self.reads or (parent, _ANY) in self.reads

    def outputs_from(self, parent: str, column: str) -> list[str]:
        """The output columns whose values come from `parent.column`, in output order."""
        wanted = (parent, column.lower())
        found = [out for out in self.outputs if out != _ANY and wanted in self.derives.get(out, ())]
        if (parent, _ANY) in self.derives.get(_ANY, ()) and wanted[1] not in found:
            found.append(wanted[1])  # `select *` of a parent whose columns were unknown carries it on
        return found


def relation_key(parts: Sequence[str | None]) -> tuple[str, ...]:
    """A relation's name as lower-cased parts without quotes, for matching a table reference to a node."""
    return tuple(p.strip('"`[]').lower() for p in parts if p)


def analyze_sql(
    sql: str,
    parents: Mapping[tuple[str, ...], str],
    schema: Mapping[str, Mapping[str, Mapping[str, Mapping[str, str]]]],
    dialect: str | None,
) -> NodeColumns | None:
    """Parse and qualify one node's compiled SQL and trace its columns to its parents' columns.

    `parents` maps each parent's relation key (`relation_key`: database, schema, name) to its unique id;
    `schema` is sqlglot's nested mapping database -> schema -> table -> column -> type. None when the
    SQL does not parse or cannot be qualified.
    """
    try:
        parsed: exp.Expr = exp.maybe_parse(sql, dialect=dialect)
        root = build_scope(parsed)
        if root is not None and _ambiguous(root):
            # Unqualified columns over several tables: only the parents' columns can say whose they are.
            tree = qualify(
                parsed,
                dialect=dialect,
                schema=dict(schema),  # type: ignore[arg-type]
                validate_qualify_columns=False,
                quote_identifiers=False,
                identify=False,
            )
            root = build_scope(tree)
    except (SqlglotError, RecursionError, ValueError, KeyError, AttributeError, TypeError):
        return None
    if root is None:
        return None
    tracer = _Tracer(parents)
    result = NodeColumns(outputs=[])
    for scope in root.traverse():
        result.reads.update(tracer.scope_reads(scope))
    outputs = tracer.output_names(root)
    result.outputs = outputs
    for name in outputs:
        result.derives[name] = tracer.projection(root, name)
    return result


def _ambiguous(root: Scope) -> bool:
    """Whether some scope reads a column without saying from which of its several sources (qualify needed).

    Parsing alone places every other column: a qualified one by its table alias, an unqualified one
    in a scope with one source by that source; a star carries columns on by name. Qualifying costs
    about three times the parse, so it is spent only where it decides something.
    """
    return any(len(scope.selected_sources) > 1 and scope.unqualified_columns for scope in root.traverse())


class _Tracer:
    """Resolves columns through a query's scopes to the parents' columns (memoized per scope and name)."""

    def __init__(self, parents: Mapping[tuple[str, ...], str]) -> None:
        self.parents = parents
        self.memo: dict[tuple[int, str], set[ParentColumn]] = {}

    def parent_of(self, table: exp.Table) -> str | None:
        key = relation_key([table.catalog, table.db, table.name])
        for size in range(len(key), 0, -1):
            found = self.parents.get(key[-size:])
            if found is not None:
                return found
        return None

    def scope_reads(self, scope: Scope) -> set[ParentColumn]:
        reads: set[ParentColumn] = set()
        for column in scope.columns:
            source = scope.sources.get(column.table)
            if isinstance(source, exp.Table):
                parent = self.parent_of(source)
                if parent is not None:
                    reads.add((parent, column.name.lower()))
            elif not column.table:
                reads.update(
                    (parent, column.name.lower())
                    for _, source in scope.selected_sources.values()
                    if isinstance(source, exp.Table) and (parent := self.parent_of(source)) is not None
                )
        for star_source in self._star_tables(scope):
            reads.add((star_source, _ANY))
        return reads

    def _unqualified(self, scope: Scope, name: str) -> set[ParentColumn]:
        # One source: the column is its. Several (qualify could not place it): any of them may hold it.
        found: set[ParentColumn] = set()
        for _, source in scope.selected_sources.values():
            if isinstance(source, exp.Table):
                parent = self.parent_of(source)
                if parent is not None:
                    found.add((parent, name.lower()))
            elif isinstance(source, Scope):
                found |= self.projection(source, name.lower())
        return found

    def _star_tables(self, scope: Scope) -> list[str]:
        if not isinstance(scope.expression, exp.Select):
            return []
        out = []
        for projection in scope.expression.selects:
            star = projection if isinstance(projection, exp.Star) else None
            if isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
                star = projection.this
                source = scope.sources.get(projection.table)
                tables = [source] if isinstance(source, exp.Table) else []
            elif star is not None:
                tables = [s for s in scope.sources.values() if isinstance(s, exp.Table)]
            else:
                continue
            out += [p for t in tables if (p := self.parent_of(t)) is not None]
        return out

    def output_names(self, scope: Scope) -> list[str]:
        set_scopes = getattr(scope, "set_operation_scopes", None) or getattr(scope, "union_scopes", None)
        if set_scopes:
            return self.output_names(set_scopes[0])
        if not isinstance(scope.expression, exp.Select):
            return []
        return [p.alias_or_name.lower() for p in scope.expression.selects if p.alias_or_name]

    def projection(self, scope: Scope, name: str) -> set[ParentColumn]:
        key = (id(scope), name)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = set()  # a cycle (recursive CTE) resolves to what is found without it
        found: set[ParentColumn] = set()
        set_scopes = getattr(scope, "set_operation_scopes", None) or getattr(scope, "union_scopes", None)
        if set_scopes:
            position = self.output_names(scope).index(name) if name in self.output_names(scope) else -1
            for branch in set_scopes:
                names = self.output_names(branch)
                if 0 <= position < len(names):
                    found |= self.projection(branch, names[position])
        elif isinstance(scope.expression, exp.Select):
            for projection in scope.expression.selects:
                if isinstance(projection, exp.Star) or (
                    isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
                ):
                    # An unexpanded star carries every column of its sources on under its own name.
                    found |= self._through_star(scope, projection, name)
                elif projection.alias_or_name.lower() == name:
                    found |= self.expression(scope, projection)
        self.memo[key] = found
        return found

    def _through_star(self, scope: Scope, projection: exp.Expr, name: str) -> set[ParentColumn]:
        if isinstance(projection, exp.Column) and projection.table:
            chosen = scope.selected_sources.get(projection.table)
            sources = [chosen[1]] if chosen is not None else []
        else:
            sources = [source for _, source in scope.selected_sources.values()]
        found: set[ParentColumn] = set()
        for source in sources:
            if isinstance(source, exp.Table):
                parent = self.parent_of(source)
                if parent is not None:
                    found.add((parent, _ANY if name == _ANY else name))
            elif isinstance(source, Scope):
                found |= self.projection(source, name)
        return found

    def expression(self, scope: Scope, node: exp.Expr) -> set[ParentColumn]:
        found: set[ParentColumn] = set()
        for column in node.find_all(exp.Column):
            source = scope.sources.get(column.table)
            if isinstance(source, exp.Table):
                parent = self.parent_of(source)
                if parent is not None:
                    found.add((parent, column.name.lower()))
            elif isinstance(source, Scope):
                found |= self.projection(source, column.name.lower())
            elif not column.table:
                found |= self._unqualified(scope, column.name)
            else:
                found |= self._in_subquery(scope, column)
        return found

    def _in_subquery(self, scope: Scope, column: exp.Column) -> set[ParentColumn]:
        # A column of a scalar subquery in a projection: its table is a source of the subquery's scope.
        for sub in scope.subquery_scopes:
            source = sub.sources.get(column.table)
            if isinstance(source, exp.Table):
                parent = self.parent_of(source)
                return {(parent, column.name.lower())} if parent is not None else set()
            if isinstance(source, Scope):
                return self.projection(source, column.name.lower())
        return set()
