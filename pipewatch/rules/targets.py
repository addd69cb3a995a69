"""Resolve the tables rule files name (`model:`, `source:`, `relation:`) to `TableRef`s.

`model:` and `source:` resolve through the manifest's nodes to the relation dbt built (database,
schema, alias); `relation:` is taken as written. Without a manifest only `relation:` can work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pipewatch.rules.spec import TableRef
from pipewatch.rules.sqltext import SqlTextError, parse_relation, refuse_external

#: Manifest resource types that build a table a rule can check by `model:` name.
MODEL_TYPES = ("model", "seed", "snapshot")


class NodeLike(Protocol):
    """The part of `pipewatch.artifacts.model.Node` resolution needs."""

    @property
    def unique_id(self) -> str:
        """The manifest unique id."""

    @property
    def resource_type(self) -> str:
        """model, seed, snapshot, source, ..."""

    @property
    def name(self) -> str:
        """The node name (the table name for sources)."""

    @property
    def database(self) -> str | None:
        """The database dbt built into."""

    @property
    def schema(self) -> str | None:
        """The schema dbt built into."""

    @property
    def alias(self) -> str | None:
        """The relation name (identifier for sources)."""


class TargetError(ValueError):
    """A table name that does not resolve; the message says why."""


class Resolver:
    """Looks tables up by model name or `source.table` in a manifest's nodes (or refuses without one)."""

    def __init__(self, nodes: Mapping[str, NodeLike] | None, dialect: str) -> None:
        self.dialect = dialect
        self.has_manifest = nodes is not None
        self._models: dict[str, list[NodeLike]] = {}
        self._sources: dict[str, NodeLike] = {}
        for uid, node in (nodes or {}).items():
            if node.resource_type in MODEL_TYPES:
                self._models.setdefault(node.name, []).append(node)
            elif node.resource_type == "source":
                parts = uid.split(".", 2)  # source.<package>.<source_name>.<table>
                if len(parts) == 3:
                    self._sources[parts[2]] = node

    def model(self, name: str) -> TableRef:
        """The table dbt built for model (or seed/snapshot) `name`."""
        if not self.has_manifest:
            raise TargetError(
                f"`model: {name}` needs the dbt manifest; without one name the table with `relation:`"
            )
        found = self._models.get(name, [])
        if not found:
            raise TargetError(f"unknown model `{name}` (not in the manifest)")
        if len(found) > 1:
            ids = ", ".join(sorted(n.unique_id for n in found))
            raise TargetError(f"model name `{name}` is ambiguous ({ids}); use `relation:`")
        return _ref(found[0])

    def source(self, name: str) -> TableRef:
        """The table of source `source_name.table`."""
        if not self.has_manifest:
            raise TargetError(
                f"`source: {name}` needs the dbt manifest; without one name the table with `relation:`"
            )
        if name.count(".") != 1:
            raise TargetError(f"`source: {name}` must be `source_name.table_name`")
        node = self._sources.get(name)
        if node is None:
            raise TargetError(f"unknown source `{name}` (not in the manifest)")
        return _ref(node)

    def relation(self, text: str) -> TableRef:
        """A table named directly: `table`, `schema.table` or `db.schema.table`."""
        try:
            parts = parse_relation(text, self.dialect)
        except SqlTextError as exc:
            raise TargetError(str(exc)) from None
        return TableRef(parts=parts, relation=".".join(parts))


def _ref(node: NodeLike) -> TableRef:
    if getattr(node, "materialization", None) == "ephemeral":
        raise TargetError(f"`{node.name}` is an ephemeral model: there is no table to check")
    alias = node.alias or node.name
    parts = tuple(p for p in (node.database, node.schema, alias) if p)
    relation = ".".join(parts)
    try:
        refuse_external(parts, relation)
    except SqlTextError as exc:
        raise TargetError(f"`{node.unique_id}`: {exc}") from None
    return TableRef(parts=parts, relation=relation, model=node.unique_id)
