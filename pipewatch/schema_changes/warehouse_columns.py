"""Columns read from the warehouse's information schema, through the dbt profile (or a DuckDB file).

One query per schema, built as a sqlglot expression: `information_schema.columns` filtered on the
schema and on the names of the relations in it (compared lower-cased: Snowflake keeps names in upper
case, the manifest in whatever case the project wrote). A schema whose query fails is left out with
a note; a warehouse that cannot be reached leaves the whole snapshot empty, with a note, so the run's
own verdict is still reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlglot import exp

from pipewatch.artifacts.catalog import CatalogColumn, CatalogTable
from pipewatch.artifacts.model import Run
from pipewatch.errors import ConfigError, WarehouseError
from pipewatch.schema_changes.model import Snapshot
from pipewatch.warehouse import QueryError, open_warehouse

if TYPE_CHECKING:
    from pipewatch.schema_changes.snapshot import SnapshotRequest

_COLUMNS = ("table_name", "column_name", "data_type", "ordinal_position")
# The information schema's own names are left unquoted on purpose: they are pipewatch's constants, not
# user text, and Snowflake spells them in upper case (a quoted "table_name" would not be found there).


def _lower(column: str) -> exp.Expr:
    return exp.Lower(this=exp.column(column, quoted=False))


def columns_query(database: str | None, schema: str, tables: Sequence[str]) -> exp.Select:
    """The one statement that reads `tables`' columns in `database.schema` from the information schema."""
    source = exp.Table(
        this=exp.to_identifier("columns", quoted=False),
        db=exp.to_identifier("information_schema", quoted=False),
    )
    condition: exp.Expr = exp.EQ(this=_lower("table_schema"), expression=exp.Literal.string(schema.lower()))
    if database:
        condition = exp.and_(
            condition, exp.EQ(this=_lower("table_catalog"), expression=exp.Literal.string(database.lower()))
        )
    names = sorted({t.lower() for t in tables})
    condition = exp.and_(
        condition, exp.In(this=_lower("table_name"), expressions=[exp.Literal.string(n) for n in names])
    )
    return (
        exp.select(*(exp.column(c, quoted=False) for c in _COLUMNS))
        .from_(source)
        .where(condition)
        .order_by(exp.column("table_name", quoted=False), exp.column("ordinal_position", quoted=False))
    )


def snapshot_from_warehouse(run: Run, built: Sequence[str], request: SnapshotRequest) -> Snapshot:
    """The columns of the `built` relations, read from the warehouse in one query per schema."""
    groups: dict[tuple[str | None, str], dict[str, str]] = defaultdict(dict)
    for uid in built:
        node = run.nodes[uid]
        if node.schema and node.alias:
            groups[(node.database, node.schema)][node.alias.lower()] = uid
    snapshot = Snapshot("warehouse", {})
    if not groups:
        return snapshot
    try:
        warehouse = open_warehouse(
            duckdb=request.duckdb,
            project_dir=request.project_dir,
            profiles_dir=request.profiles_dir,
            target=request.target,
            profile=request.profile,
        )
    except ConfigError as exc:
        snapshot.notes.append(f"schema: cannot read columns from the warehouse: {exc}")
        return snapshot
    try:
        for (database, schema), by_name in sorted(groups.items(), key=lambda g: (g[0][0] or "", g[0][1])):
            query = columns_query(database, schema, list(by_name))
            try:
                result = warehouse.execute(query)
            except WarehouseError as exc:
                snapshot.notes.append(f"schema: columns of schema {schema} not read: {exc}")
                if not isinstance(exc, QueryError):
                    break  # unreachable: the other schemas would fail the same way
                continue
            found: dict[str, list[CatalogColumn]] = defaultdict(list)
            for table, column, data_type, position in result.rows:
                owner = by_name.get(str(table).lower())
                if owner is not None:
                    found[owner].append(CatalogColumn(str(column), str(data_type), int(position)))
            for uid, columns in found.items():
                built_node = run.nodes[uid]
                snapshot.tables[uid] = CatalogTable(
                    uid,
                    built_node.database,
                    built_node.schema,
                    built_node.alias,
                    tuple(sorted(columns, key=lambda c: c.position)),
                )
    finally:
        warehouse.close()
    missing = [uid for uid in built if uid not in snapshot.tables]
    if missing and len(missing) < len(built):
        snapshot.notes.append(
            f"schema: {len(missing)} relation(s) this build made were not found in the warehouse "
            f"({', '.join(missing[:3])}); their columns were not recorded"
        )
    return snapshot
