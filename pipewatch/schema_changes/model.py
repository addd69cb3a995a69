"""The values schema-change tracking passes around: a build's column snapshot and one column change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from pipewatch.artifacts.catalog import CatalogColumn, CatalogTable

#: The kinds of change a column can go through between two snapshots of its relation.
ADDED, DROPPED, TYPE_CHANGED, RENAMED = "added", "dropped", "type_changed", "possibly_renamed"
CHANGE_KINDS = (ADDED, DROPPED, TYPE_CHANGED, RENAMED)
#: `precision` of a change's downstream: parsed to the column, or the whole table below an unparsed node.
COLUMN, TABLE = "column", "table"


@dataclass(slots=True)
class Snapshot:
    """Every built relation's columns in one build, by unique id, and where they were read from."""

    source: str  # `catalog` or `warehouse`
    tables: dict[str, CatalogTable]
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ColumnChange:
    """One column of one relation that changed since the node's previous snapshot, and what reads it.

    A possible rename names the new column in `column` and the old one in `old_column`.
    """

    unique_id: str
    relation: str
    column: str
    change: str  # one of CHANGE_KINDS
    old_type: str | None = None
    new_type: str | None = None
    old_column: str | None = None
    downstream: list[str] = field(default_factory=list)  # nodes whose SQL reads the column, sorted
    downstream_columns: dict[str, list[str]] = field(default_factory=dict)  # node -> its columns from it
    exposures: list[str] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)
    precision: str = COLUMN

    @property
    def read_name(self) -> str:
        """The column name that downstream SQL was written against (the old one for a rename)."""
        return self.old_column or self.column

    @property
    def node_name(self) -> str:
        """The changed node's name as people say it (`stg_orders` for `model.shop.stg_orders`)."""
        parts = self.unique_id.split(".")
        return parts[2] if len(parts) > 2 else parts[-1]

    def phrase(self) -> str:
        """The change in words: `stg_x dropped column y`, `stg_x changed column a from INTEGER to VARCHAR`."""
        name = self.node_name
        if self.change == DROPPED:
            return f"{name} dropped column {self.column}"
        if self.change == ADDED:
            return f"{name} added column {self.column}"
        if self.change == RENAMED:
            return f"{name} possibly renamed column {self.old_column} to {self.column}"
        return f"{name} changed column {self.column} from {self.old_type} to {self.new_type}"

    @property
    def breaks_readers(self) -> bool:
        """Whether SQL that read the column before may fail now (anything but an addition)."""
        return self.change != ADDED


def columns_digest(columns: Sequence[CatalogColumn]) -> str:
    """A short stable digest of a relation's columns (names, types, positions): equal digests, same columns.

    History keeps each distinct column set once under its digest; comparing digests finds the
    relations worth diffing without reading their columns.
    """
    encoded = msgspec.json.encode([(c.name, c.type, c.position) for c in columns])
    import hashlib  # here: OpenSSL's bindings cost every after-run ~3 ms at start-up, digests are rare

    return hashlib.blake2b(encoded, digest_size=12).hexdigest()
