"""Diffing a relation's columns against its previous snapshot: added, dropped, retyped, possibly renamed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipewatch.artifacts.catalog import CatalogColumn, CatalogTable
from pipewatch.schema_changes.model import ADDED, DROPPED, RENAMED, TYPE_CHANGED, ColumnChange
from pipewatch.schema_changes.types import same_type

#: Within one position, what went comes before what came.
_ORDER = {DROPPED: 0, RENAMED: 1, TYPE_CHANGED: 2, ADDED: 3}


def diff_columns(
    previous: Mapping[str, Sequence[CatalogColumn]],
    current: Mapping[str, CatalogTable],
    dialect: str | None = None,
) -> list[ColumnChange]:
    """The column changes of every relation in both `previous` and `current`, by unique id then position.

    A relation without a previous snapshot has no changes (its first snapshot is the baseline).
    Column names match exactly; types match after `types.same_type`. A dropped column and an added
    one of the same type at the same position are reported once, as a possible rename.
    """
    changes: list[ColumnChange] = []
    for unique_id in sorted(previous.keys() & current.keys()):
        table = current[unique_id]
        changes.extend(_diff_one(unique_id, table.relation, previous[unique_id], table.columns, dialect))
    return changes


def _diff_one(
    unique_id: str,
    relation: str,
    old: Sequence[CatalogColumn],
    new: Sequence[CatalogColumn],
    dialect: str | None,
) -> list[ColumnChange]:
    before = {c.name: c for c in old}
    after = {c.name: c for c in new}
    dropped = [c for c in old if c.name not in after]
    added = [c for c in new if c.name not in before]
    found: list[tuple[int, ColumnChange]] = []
    for column in new:
        was = before.get(column.name)
        if was is not None and not same_type(was.type, column.type, dialect):
            found.append(
                (
                    column.position,
                    ColumnChange(unique_id, relation, column.name, TYPE_CHANGED, was.type, column.type),
                )
            )
    renamed: set[str] = set()
    for gone in dropped:
        twin = next(
            (
                a
                for a in added
                if a.name not in renamed
                and a.position == gone.position
                and same_type(gone.type, a.type, dialect)
            ),
            None,
        )
        if twin is not None:
            renamed.add(twin.name)
            change = ColumnChange(unique_id, relation, twin.name, RENAMED, gone.type, twin.type, gone.name)
            found.append((twin.position, change))
        else:
            found.append(
                (gone.position, ColumnChange(unique_id, relation, gone.name, DROPPED, gone.type, None))
            )
    for column in added:
        if column.name not in renamed:
            found.append(
                (column.position, ColumnChange(unique_id, relation, column.name, ADDED, None, column.type))
            )
    found.sort(key=lambda item: (item[0], _ORDER[item[1].change], item[1].column))
    return [change for _, change in found]
