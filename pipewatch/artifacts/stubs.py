"""Minimal `Node`s for unique ids the manifest does not describe (or when there is no manifest).

A run_results without its manifest still names every node it ran; the unique id says the
resource type, package and name, and v5+ results carry the relation dbt built.
"""

from __future__ import annotations

import re

from pipewatch.artifacts.model import Node

# `"db"."schema"."table"`, `` `project`.`dataset`.`table` ``, `[db].[schema].[table]` or bare names.
_RELATION_PART = re.compile(r'"((?:[^"]|"")*)"|`([^`]*)`|\[([^\]]*)\]|([^."`\[\]]+)')

#: Unique id prefixes of results that never appear among manifest nodes (run-operation macros).
NON_NODE_PREFIXES = ("macro.",)


def split_relation(relation_name: str | None) -> tuple[str | None, str | None, str | None]:
    """(database, schema, identifier) from a rendered relation name; Nones for the parts it lacks."""
    if not relation_name:
        return None, None, None
    parts: list[str] = []
    position = 0
    text = relation_name.strip()
    while position < len(text):
        match = _RELATION_PART.match(text, position)
        if match is None:
            return None, None, None
        parts.append(next(group for group in match.groups() if group is not None).strip())
        position = match.end()
        if position < len(text):
            if text[position] != ".":
                return None, None, None
            position += 1
    if not 1 <= len(parts) <= 3:
        return None, None, None
    padded: list[str | None] = [None, None, None]
    for offset, part in enumerate(parts, start=3 - len(parts)):
        padded[offset] = part or None
    return padded[0], padded[1], padded[2]


def stub_node(unique_id: str, relation_name: str | None = None) -> Node:
    """A Node that knows only what its unique id (and, if given, its relation name) says."""
    parts = unique_id.split(".")
    resource_type = parts[0] if len(parts) > 1 else "unknown"
    package = parts[1] if len(parts) > 2 else ""
    # Tests and versioned models carry a hash or a version after the name; sources and unit tests
    # have two name parts (source name and table, model and test) of which the last is the name.
    short = resource_type in ("source", "unit_test") or len(parts) <= 2
    name = parts[-1] if short else parts[2]
    database, schema, alias = split_relation(relation_name)
    return Node(
        unique_id=unique_id,
        resource_type=resource_type,
        name=name,
        package=package,
        path="",
        database=database,
        schema=schema,
        alias=alias,
        materialization=None,
        tags=(),
        owner=None,
        depends_on=(),
    )
