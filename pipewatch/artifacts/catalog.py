"""catalog.json (schema v1, and unstamped pre-0.19 files) -> `Catalog`: every relation's columns.

`dbt docs generate` writes the catalog: for each model, seed, snapshot and source, the relation it
found in the warehouse and that relation's columns (name, type, position). pipewatch reads it as the
column snapshot of a build (`pipewatch.schema_changes`). The Structs declare only what is read; a
column's `index` is an integer in most adapters, but a float or missing in some, so it is read
loosely and a missing one falls back to the column's place in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from pipewatch.artifacts.decoding import (
    ArtifactMetadata,
    Buffer,
    Scalar,
    Struct,
    as_str,
    decode_json,
    gc_paused,
    load_artifact,
)
from pipewatch.artifacts.timestamps import to_posix
from pipewatch.artifacts.versions import check_schema

CATALOG_FILE = "catalog.json"


class CatalogColumn(msgspec.Struct, frozen=True, gc=False):
    """One column of a relation: its name, its type as the warehouse spells it, its 1-based position."""

    name: str
    type: str
    position: int


class CatalogTable(msgspec.Struct, frozen=True, gc=False):
    """One relation of the catalog: which node it is, where it lives, and its columns in position order."""

    unique_id: str
    database: str | None
    schema: str | None
    name: str | None
    columns: tuple[CatalogColumn, ...]

    @property
    def relation(self) -> str:
        """`database.schema.name`, skipping empty parts."""
        return ".".join(p for p in (self.database, self.schema, self.name) if p)


class _CatalogMetadata(ArtifactMetadata):
    invocation_started_at: str | None = None


class _TableMeta(Struct):
    database: Scalar = None
    schema: Scalar = None
    name: Scalar = None


class _Column(Struct):
    name: Scalar = None
    type: Scalar = None
    index: int | float | str | None = None


class _Table(Struct):
    unique_id: str | None = None
    metadata: _TableMeta | None = None
    columns: dict[str, _Column] | None = None


class _CatalogFile(Struct):
    metadata: _CatalogMetadata | None = None
    generated_at: str | None = None  # pre-0.19 files carry it at the top level
    nodes: dict[str, _Table] | msgspec.UnsetType | None = msgspec.UNSET
    sources: dict[str, _Table] | None = None
    errors: list[Scalar] | None = None


@dataclass(slots=True)
class Catalog:
    """A loaded catalog.json: its provenance and every relation it describes, by unique id."""

    path: str
    schema_version: int
    dbt_version: str | None
    invocation_id: str | None
    generated_at: float | None
    invocation_started_at: float | None
    tables: dict[str, CatalogTable]
    errors: list[str] = field(default_factory=list)  # what dbt could not catalog
    warnings: list[str] = field(default_factory=list)


def load_catalog(path: Path | str) -> Catalog:
    """Load a dbt catalog.json of any schema version; raise ArtifactError if it is not one."""
    return load_artifact(path, "catalog", decode_catalog)


@gc_paused()
def decode_catalog(data: Buffer, source: str = "<catalog>") -> Catalog:
    """Decode catalog.json bytes; `source` names the file in errors and warnings."""
    raw = decode_json(data, _CatalogFile, source, "catalog")
    meta = raw.metadata or _CatalogMetadata()
    version, warnings = check_schema(
        meta.dbt_schema_version, "catalog", source, has_shape=raw.nodes is not msgspec.UNSET
    )
    tables: dict[str, CatalogTable] = {}
    sections = [raw.sources, None if isinstance(raw.nodes, msgspec.UnsetType) else raw.nodes]
    for section in sections:
        for unique_id, table in (section or {}).items():
            tables[table.unique_id or unique_id] = _table(table.unique_id or unique_id, table)
    return Catalog(
        path=source,
        schema_version=version,
        dbt_version=meta.dbt_version,
        invocation_id=meta.invocation_id,
        generated_at=to_posix(meta.generated_at or raw.generated_at),
        invocation_started_at=to_posix(meta.invocation_started_at),
        tables=tables,
        errors=[text for e in raw.errors or () if (text := as_str(e))],
        warnings=warnings,
    )


def _position(index: int | float | str | None, fallback: int) -> int:
    if isinstance(index, bool) or index is None:
        return fallback
    try:
        return int(float(index))
    except (TypeError, ValueError):
        return fallback


def _table(unique_id: str, raw: _Table) -> CatalogTable:
    meta = raw.metadata or _TableMeta()
    entries = list((raw.columns or {}).items())
    columns = [
        CatalogColumn(
            name=as_str(column.name) or key,
            type=as_str(column.type) or "",
            position=_position(column.index, place),
        )
        for place, (key, column) in enumerate(entries, start=1)
    ]
    if columns and min(c.position for c in columns) == 0:
        # Spark and a few others count from 0; positions are 1-based everywhere else in pipewatch.
        columns = [CatalogColumn(c.name, c.type, c.position + 1) for c in columns]
    columns.sort(key=lambda c: (c.position, c.name))
    return CatalogTable(
        unique_id=unique_id,
        database=as_str(meta.database),
        schema=as_str(meta.schema),
        name=as_str(meta.name),
        columns=tuple(columns),
    )
