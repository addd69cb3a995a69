"""manifest.json (schema v1–v12, and unstamped pre-0.19 files) -> `Manifest` of normalized `Node`s.

The Structs below declare only the fields pipewatch reads; msgspec skips everything else while
parsing (`macros`, `docs`, `columns` and raw SQL are never materialized; compiled SQL is kept for tests). Field types are
unions where dbt's own types drifted across versions (`depends_on`, exposure `owner`, `tags`,
`disabled` as a list in v1–v3 and a mapping from v4 on).
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from pipewatch.artifacts.model import Node, TestInfo
from pipewatch.artifacts.timestamps import to_posix
from pipewatch.artifacts.versions import check_schema


class _DependsOn(Struct):
    nodes: list[str] | None = None


class _Owner(Struct):
    name: Scalar = None
    email: Scalar = None


# Config values come from users' YAML: a number or boolean where dbt documents a string is read as
# text rather than failing the whole manifest.
class _Config(Struct):
    enabled: bool | None = None
    materialized: Scalar = None
    meta: dict[str, Any] | None = None
    tags: list[Scalar] | Scalar = None
    group: Scalar = None
    severity: Scalar = None
    where: Scalar = None
    fail_calc: Scalar = None
    warn_if: Scalar = None
    error_if: Scalar = None
    limit: Scalar = None


class _TestMetadata(Struct):
    name: str | None = None
    namespace: str | None = None
    kwargs: dict[str, Any] | None = None


class _Node(Struct):
    """Any graph member: node, source, exposure, metric, semantic model, saved query, unit test, function."""

    resource_type: str | None = None
    name: str | None = None
    package_name: str | None = None
    path: str | None = None
    original_file_path: str | None = None
    database: str | None = None
    schema: str | None = None
    alias: str | None = None
    identifier: str | None = None
    config: _Config | None = None
    tags: list[Scalar] | Scalar = None
    meta: dict[str, Any] | None = None
    source_meta: dict[str, Any] | None = None
    group: Scalar = None
    depends_on: _DependsOn | list[str] | None = None
    owner: _Owner | Scalar = None
    test_metadata: _TestMetadata | None = None
    column_name: Scalar = None
    attached_node: str | None = None
    compiled_path: str | None = None
    build_path: str | None = None
    # A test's SQL as dbt compiled it (`compiled_sql` before dbt 1.3): what `--dbt-tests` runs for a
    # test it cannot fuse. Decoded for every node, kept for tests only.
    compiled_code: str | None = None
    compiled_sql: str | None = None


class _Group(Struct):
    name: str | None = None
    owner: _Owner | Scalar = None


class _IdOnly(Struct):
    unique_id: str | None = None


class _ManifestFile(Struct):
    metadata: ArtifactMetadata | None = None
    nodes: dict[str, _Node] | msgspec.UnsetType | None = msgspec.UNSET
    sources: dict[str, _Node] | None = None
    exposures: dict[str, _Node] | None = None
    metrics: dict[str, _Node] | None = None
    semantic_models: dict[str, _Node] | None = None
    saved_queries: dict[str, _Node] | None = None
    unit_tests: dict[str, _Node] | None = None
    functions: dict[str, _Node] | None = None
    groups: dict[str, _Group] | None = None
    disabled: dict[str, list[_IdOnly]] | list[_IdOnly] | None = None
    parent_map: dict[str, list[str]] | None = None
    child_map: dict[str, list[str]] | None = None


#: The manifest sections that hold graph members, with the resource type of their entries
#: (None: `nodes` mixes models, seeds, snapshots, tests, analyses, operations; the id prefix says which).
NODE_SECTIONS: dict[str, str | None] = {
    "nodes": None,
    "sources": "source",
    "exposures": "exposure",
    "metrics": "metric",
    "semantic_models": "semantic_model",
    "saved_queries": "saved_query",
    "unit_tests": "unit_test",
    "functions": "function",
}


@dataclass(slots=True)
class Manifest:
    """A loaded manifest.json: every enabled graph member as a `Node`, plus dbt's graph maps."""

    path: str
    schema_version: int  # 0 when the file carries no (recognizable) schema stamp
    dbt_version: str | None
    invocation_id: str | None
    generated_at: float | None
    adapter_type: str | None
    project_name: str | None
    nodes: dict[str, Node]
    disabled: frozenset[str]
    parent_map: dict[str, tuple[str, ...]] | None
    child_map: dict[str, tuple[str, ...]] | None
    groups: dict[str, str | None]  # group unique id -> owner
    warnings: list[str] = field(default_factory=list)


def load_manifest(path: Path | str) -> Manifest:
    """Load a dbt manifest.json of any schema version; raise ArtifactError if it is not one."""
    return load_artifact(path, "manifest", decode_manifest)


@gc_paused()
def decode_manifest(data: Buffer, source: str = "<manifest>") -> Manifest:
    """Decode manifest.json bytes; `source` names the file in errors and warnings."""
    raw = decode_json(data, _ManifestFile, source, "manifest")
    meta = raw.metadata or ArtifactMetadata()
    version, warnings = check_schema(
        meta.dbt_schema_version, "manifest", source, has_shape=raw.nodes is not msgspec.UNSET
    )
    group_owners, groups = _groups(raw.groups)
    nodes: dict[str, Node] = {}
    for section, default_type in NODE_SECTIONS.items():
        entries = getattr(raw, section)
        if not entries or entries is msgspec.UNSET:
            continue
        # Popping frees each decoded entry as soon as its Node exists, which keeps the peak
        # memory of a large manifest near the size of the result rather than twice it.
        for unique_id in list(entries):
            nodes[unique_id] = _to_node(unique_id, entries.pop(unique_id), default_type, group_owners)
    return Manifest(
        path=source,
        schema_version=version,
        dbt_version=meta.dbt_version,
        invocation_id=meta.invocation_id,
        generated_at=to_posix(meta.generated_at),
        adapter_type=meta.adapter_type,
        project_name=meta.project_name or _project_from_nodes(nodes, meta.project_id),
        nodes=nodes,
        disabled=_disabled_ids(raw.disabled).difference(nodes),
        parent_map=_graph_map(raw.parent_map, nodes),
        child_map=_graph_map(raw.child_map, nodes),
        groups=groups,
        warnings=warnings,
    )


def _groups(raw: dict[str, _Group] | None) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """(group name -> owner, group unique id -> owner); nodes name their group by name."""
    by_name: dict[str, str | None] = {}
    by_id: dict[str, str | None] = {}
    for unique_id, group in (raw or {}).items():
        owner = _owner_of(group.owner)
        by_id[unique_id] = owner
        name = group.name or unique_id.rsplit(".", 1)[-1]
        by_name[name] = owner
    return by_name, by_id


def _owner_of(owner: _Owner | Scalar) -> str | None:
    if isinstance(owner, _Owner):
        return as_str(owner.email) or as_str(owner.name)
    return as_str(owner)


def owner_text(value: Any) -> str | None:
    """An owner as written in `meta.owner`: a name, a list of names, or a {name, email} mapping.

    Emails win over display names: they are what routing rules and Slack handle maps key on.
    """
    if value is None:
        return None
    if isinstance(value, dict):
        return as_str(value.get("email")) or as_str(value.get("name"))
    if isinstance(value, (list, tuple)):
        names = [text for text in (owner_text(v) for v in value) if text]
        return ", ".join(names) or None
    return as_str(value)


def _tags(*sources: list[Scalar] | Scalar) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for tags in sources:
        for tag in tags if isinstance(tags, list) else (tags,):
            text = tag if type(tag) is str else as_str(tag)
            if text:
                seen.setdefault(text, None)
    return tuple(seen)


def _default_name(unique_id: str) -> str:
    parts = unique_id.split(".")
    return parts[2] if len(parts) > 2 else parts[-1]


def _to_node(
    unique_id: str, raw: _Node, default_type: str | None, group_owners: dict[str, str | None]
) -> Node:
    config = raw.config or _Config()
    resource_type = sys.intern(raw.resource_type or default_type or unique_id.split(".", 1)[0])
    # config.meta is where dbt >= 1.10 keeps meta; versions in between mirror it at the top level.
    # The decoded dicts are ours, so they are reused rather than copied unless both differ.
    top, configured = raw.meta, config.meta
    if not top:
        meta: dict[str, Any] = configured if configured is not None else (top if top is not None else {})
    elif not configured or configured == top:
        meta = top
    else:
        meta = {**top, **configured}
    group = as_str(raw.group) or as_str(config.group)
    owner = owner_text(meta.get("owner")) if meta else None
    if owner is None and raw.source_meta:
        owner = owner_text(raw.source_meta.get("owner"))
    if owner is None and group:
        owner = group_owners.get(group)
    if owner is None and raw.owner is not None:
        owner = _owner_of(raw.owner)
    if isinstance(raw.depends_on, _DependsOn):
        depends_on = tuple(raw.depends_on.nodes or ())
    else:
        depends_on = tuple(raw.depends_on or ())
    alias = raw.identifier if resource_type == "source" else raw.alias
    test = _test_info(raw, config, depends_on) if resource_type == "test" else None
    return Node(
        unique_id=unique_id,
        resource_type=resource_type,
        name=raw.name or _default_name(unique_id),
        # Interned: a handful of distinct values repeated on every node.
        package=sys.intern(raw.package_name or (unique_id.split(".")[1] if unique_id.count(".") else "")),
        path=raw.original_file_path or raw.path or "",
        database=sys.intern(raw.database) if raw.database else raw.database,
        schema=sys.intern(raw.schema) if raw.schema else raw.schema,
        alias=alias or raw.alias,
        materialization=as_str(config.materialized),
        tags=_tags(raw.tags, config.tags),
        owner=owner,
        depends_on=depends_on,
        meta=meta,
        group=group,
        test=test,
        enabled=config.enabled is not False,
        compiled_path=raw.compiled_path or raw.build_path,
    )


_CALL = re.compile(r"\b(ref|source)\s*\(([^()]*)\)")
_QUOTED = re.compile(r"""^\s*(['"])(.*?)\1\s*$""")


def _tested_parent(model_arg: Any, parents: tuple[str, ...]) -> str | None:
    """The parent a multi-parent generic test is attached to, from its `model` kwarg (a Jinja ref/source)."""
    if not isinstance(model_arg, str):
        return None
    match = _CALL.search(model_arg)
    if match is None:
        return None
    positional = []
    for arg in match.group(2).split(","):
        quoted = _QUOTED.match(arg)
        if quoted:
            positional.append(quoted.group(2))
    if not positional:
        return None
    if match.group(1) == "source":
        suffix = "." + ".".join(positional[-2:])
        candidates = [p for p in parents if p.startswith("source.") and p.endswith(suffix)]
    else:
        name = positional[-1]
        candidates = [p for p in parents if not p.startswith("source.") and _default_name(p) == name]
    return candidates[0] if len(candidates) == 1 else None


def _test_info(raw: _Node, config: _Config, parents: tuple[str, ...]) -> TestInfo:
    metadata = raw.test_metadata
    kwargs: dict[str, Any] = (metadata.kwargs if metadata else None) or {}
    generic = metadata is not None and bool(metadata.name)
    attached = raw.attached_node
    if attached is None:
        if len(parents) == 1:
            attached = parents[0]
        elif generic:
            attached = _tested_parent(kwargs.get("model"), parents)
    column = as_str(raw.column_name) or as_str(kwargs.get("column_name"))
    severity = (as_str(config.severity) or "error").lower()
    return TestInfo(
        name=(metadata.name if metadata and metadata.name else None) or raw.name or "",
        namespace=metadata.namespace if metadata else None,
        kwargs=kwargs,
        column_name=column,
        attached_node=attached,
        severity=severity,
        where=as_str(config.where),
        fail_calc=as_str(config.fail_calc),
        warn_if=as_str(config.warn_if),
        error_if=as_str(config.error_if),
        generic=generic,
        limit=_limit(config.limit),
        compiled_code=raw.compiled_code or raw.compiled_sql,
    )


def _limit(value: Scalar) -> int | None:
    """dbt's `limit` test config (a whole number; anything else is not a limit dbt would apply)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    text = as_str(value)
    return int(text) if text is not None and text.strip().isdigit() else None


def _disabled_ids(raw: dict[str, list[_IdOnly]] | list[_IdOnly] | None) -> frozenset[str]:
    if isinstance(raw, dict):
        return frozenset(raw)
    return frozenset(entry.unique_id for entry in raw or () if entry.unique_id)


def _graph_map(raw: dict[str, list[str]] | None, nodes: dict[str, Node]) -> dict[str, tuple[str, ...]] | None:
    if raw is None:
        return None
    # The maps repeat every unique id several times; pointing them at the nodes' own id strings
    # instead of keeping msgspec's fresh copies saves a large share of a big manifest's memory.
    canonical = {unique_id: node.unique_id for unique_id, node in nodes.items()}
    get = canonical.get
    return {get(unique_id, unique_id): tuple([get(i, i) for i in ids]) for unique_id, ids in raw.items()}


def _project_from_nodes(nodes: dict[str, Node], project_id: str | None) -> str | None:
    """The root project of manifests without `metadata.project_name` (dbt < 1.6).

    dbt's `project_id` is the md5 of the project name, so the package whose name hashes to it is
    the root project; failing that, the package holding the most models, seeds and snapshots.
    """
    packages = Counter(n.package for n in nodes.values() if n.resource_type in ("model", "seed", "snapshot"))
    if project_id:
        for package in packages.keys() | {n.package for n in nodes.values()}:
            if hashlib.md5(package.encode(), usedforsecurity=False).hexdigest() == project_id:
                return package
    return packages.most_common(1)[0][0] if packages else None


class _CodeNode(Struct):
    compiled_code: str | None = None
    compiled_sql: str | None = None  # dbt < 1.3


class _CodeManifest(Struct):
    nodes: dict[str, _CodeNode] | None = None


def load_compiled_code(path: Path | str) -> dict[str, str]:
    """Each node's compiled SQL as the manifest holds it (nodes compiled in its invocation only).

    A second, narrow read of the file, for the few callers that need SQL the run's results lack
    (schema-change lineage of nodes that did not run): the main decode never keeps SQL.
    """

    def decode(data: Buffer, source: str) -> dict[str, str]:
        raw = decode_json(data, _CodeManifest, source, "manifest")
        return {
            uid: code
            for uid, node in (raw.nodes or {}).items()
            if (code := node.compiled_code or node.compiled_sql)
        }

    return load_artifact(path, "manifest", decode)
