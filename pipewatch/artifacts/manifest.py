"""manifest.json (schema v1–v12, and unstamped pre-0.19 files) -> `Manifest` of normalized `Node`s.

The Structs below declare only the fields pipewatch reads; msgspec skips everything else while
parsing (`macros`, `docs`, `columns` and raw SQL are never materialized; compiled SQL is kept for tests). Field types are
unions where dbt's own types drifted across versions (`depends_on`, exposure `owner`, `tags`,
`disabled` as a list in v1–v3 and a mapping from v4 on).
"""

from __future__ import annotations

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
    release_pages,
)
from pipewatch.artifacts.model import Node, TestInfo
from pipewatch.artifacts.timestamps import to_posix
from pipewatch.artifacts.versions import check_schema
from pipewatch.errors import ArtifactError


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
    store_failures: Scalar = None
    store_failures_as: Scalar = None


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


#: A section kept as raw JSON (a view of the file's bytes) by the first pass; empty: the file lacks it.
_MISSING = msgspec.Raw()
#: A node section's members, each still raw JSON.
_Entries = dict[str, msgspec.Raw]


class _ManifestFile(Struct):
    metadata: ArtifactMetadata | None = None
    # UNSET when the file has no `nodes` at all (not a manifest's shape, see `check_schema`).
    nodes: _Entries | msgspec.UnsetType | None = msgspec.UNSET
    sources: _Entries | None = None
    exposures: _Entries | None = None
    metrics: _Entries | None = None
    semantic_models: _Entries | None = None
    saved_queries: _Entries | None = None
    unit_tests: _Entries | None = None
    functions: _Entries | None = None
    groups: dict[str, _Group] | None = None
    disabled: dict[str, list[_IdOnly]] | list[_IdOnly] | None = None
    parent_map: msgspec.Raw = _MISSING
    child_map: msgspec.Raw = _MISSING


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
    # With a parent map, only the entries for ids it lacks (the maps mirror each other in a sound
    # manifest, and the graph reads the child map for nothing else).
    child_map: dict[str, tuple[str, ...]] | None
    groups: dict[str, str | None]  # group unique id -> owner
    warnings: list[str] = field(default_factory=list)


def load_manifest(path: Path | str) -> Manifest:
    """Load a dbt manifest.json of any schema version; raise ArtifactError if it is not one."""
    return load_artifact(path, "manifest", decode_manifest)


@gc_paused()
def decode_manifest(data: Buffer, source: str = "<manifest>") -> Manifest:
    """Decode manifest.json bytes; `source` names the file in errors and warnings.

    In passes that keep the peak memory near the file's size rather than a multiple of it: the
    first checks the whole document and keeps each graph member as a view of the bytes (the parent
    and child maps as one view each); then each member is decoded into its `Node` on its own.
    Between passes the file's pages go back to the page cache (`release_pages`), so the process
    never holds the whole file's pages and its decoded entries at once.
    """
    raw = decode_json(data, _ManifestFile, source, "manifest")
    release_pages(data)
    meta = raw.metadata or ArtifactMetadata()
    version, warnings = check_schema(
        meta.dbt_schema_version, "manifest", source, has_shape=raw.nodes is not msgspec.UNSET
    )
    group_owners, groups = _groups(raw.groups)
    nodes: dict[str, Node] = {}
    decode = _NODE_DECODER.decode
    for section, default_type in NODE_SECTIONS.items():
        entries = getattr(raw, section) or {}  # None, or UNSET for a file without `nodes`
        setattr(raw, section, None)
        read = 0
        for unique_id, entry in entries.items():
            try:
                node = decode(entry)
            except msgspec.MsgspecError as exc:
                raise _entry_error(source, section, unique_id, exc) from None
            unique_id = sys.intern(unique_id)
            nodes[unique_id] = _to_node(unique_id, node, default_type, group_owners)
            read += len(entry)
            if read > _RELEASE_EVERY:
                release_pages(data)
                read = 0
        del entries
        release_pages(data)
    parent_map = _decode_map(raw.parent_map, source, "parent_map")
    # The graph reads the child map only for ids the parent map lacks (they mirror each other in a
    # sound manifest), so only those entries are kept.
    child_map = _decode_map(raw.child_map, source, "child_map", skip=parent_map)
    release_pages(data)
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
        parent_map=_graph_map(parent_map, nodes),
        child_map=_graph_map(child_map, nodes),
        groups=groups,
        warnings=warnings,
    )


_NODE_DECODER = msgspec.json.Decoder(_Node)
_MAP_DECODER = msgspec.json.Decoder(dict[str, list[str]] | None)
_ENTRIES_DECODER = msgspec.json.Decoder(dict[str, msgspec.Raw] | None)
_IDS_DECODER = msgspec.json.Decoder(list[str] | None)
#: Bytes of entries decoded between two page releases: small next to a large manifest.
_RELEASE_EVERY = 4 * 1024 * 1024


def _entry_error(source: str, section: str, unique_id: str, exc: msgspec.MsgspecError) -> ArtifactError:
    """The error of one graph member that did not decode, with the path msgspec would have given."""
    text = " ".join(str(exc).split()).replace("`$", f"`$.{section}[...]")
    return ArtifactError(source, f"not a valid dbt manifest: {text} ({unique_id})")


def _decode_map(
    raw: msgspec.Raw, source: str, name: str, skip: dict[str, list[str]] | None = None
) -> dict[str, list[str]] | None:
    """parent_map or child_map (None when absent or null), leaving out the ids `skip` holds."""
    if not len(raw):
        return None
    try:
        if skip is None:
            return _MAP_DECODER.decode(raw)
        entries = _ENTRIES_DECODER.decode(raw)
        if entries is None:
            return None
        return {uid: _IDS_DECODER.decode(ids) or [] for uid, ids in entries.items() if uid not in skip}
    except msgspec.MsgspecError as exc:
        text = " ".join(str(exc).split()).replace("`$", f"`$.{name}")
        raise ArtifactError(source, f"not a valid dbt manifest: {text}") from None


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


def _shared(text: str | None) -> str | None:
    """One copy of a string many nodes repeat (`table`, `count(*)`, a parent's id): msgspec makes a
    fresh one per node, which on a large manifest costs megabytes."""
    return sys.intern(text) if text is not None else None


def _text(value: Any) -> str | None:
    """`as_str(value)`, shared as `_shared` does (the fast path first: this runs per node and field)."""
    if value is None:
        return None
    text = value.strip() if type(value) is str else as_str(value)
    return sys.intern(text) if text else None


def _default_name(unique_id: str) -> str:
    parts = unique_id.split(".")
    return parts[2] if len(parts) > 2 else parts[-1]


_NO_CONFIG = _Config()
#: The materializations nearly every node has, already normalized.
_MATERIALIZED: dict[Scalar, str] = {
    m: m for m in ("view", "table", "incremental", "ephemeral", "test", "seed")
}


def _to_node(
    unique_id: str, raw: _Node, default_type: str | None, group_owners: dict[str, str | None]
) -> Node:
    config = raw.config or _NO_CONFIG
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
    group = raw.group if raw.group is None else _text(raw.group)
    if group is None and config.group is not None:
        group = _text(config.group)
    owner = owner_text(meta.get("owner")) if meta else None
    if owner is None and raw.source_meta:
        owner = owner_text(raw.source_meta.get("owner"))
    if owner is None and group:
        owner = group_owners.get(group)
    if owner is None and raw.owner is not None:
        owner = _owner_of(raw.owner)
    if isinstance(raw.depends_on, _DependsOn):
        depends_on = tuple(map(sys.intern, raw.depends_on.nodes or ()))
    else:
        depends_on = tuple(map(sys.intern, raw.depends_on or ()))
    alias = raw.identifier if resource_type == "source" else raw.alias
    test = _test_info(raw, config, depends_on) if resource_type == "test" else None
    # Positional, in `Node`'s field order (named in comments): a keyword call to a Struct costs ~10x.
    return Node(
        unique_id,
        resource_type,
        raw.name or _default_name(unique_id),  # name
        # package, interned: a handful of distinct values repeated on every node.
        sys.intern(raw.package_name or (unique_id.split(".")[1] if unique_id.count(".") else "")),
        raw.original_file_path or raw.path or "",  # path
        sys.intern(raw.database) if raw.database else raw.database,  # database
        sys.intern(raw.schema) if raw.schema else raw.schema,  # schema
        alias or raw.alias,  # alias
        _MATERIALIZED.get(config.materialized) or _text(config.materialized),  # materialization
        _tags(raw.tags, config.tags) if raw.tags or config.tags else (),  # tags
        owner,
        depends_on,
        meta,
        group,
        test,
        config.enabled is not False,  # enabled
        raw.compiled_path or raw.build_path,  # compiled_path
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
    column = _text(raw.column_name) or _text(kwargs.get("column_name"))
    severity = config.severity
    # dbt writes the same few spellings on every test ("ERROR", "count(*)", "!= 0"): looked up
    # in `_SAME` before being stripped and interned one by one.
    where, fail_calc, warn_if, error_if = config.where, config.fail_calc, config.warn_if, config.error_if
    # Positional, in `TestInfo`'s field order, as `Node` in `_to_node` (once per test).
    return TestInfo(
        sys.intern((metadata.name if metadata and metadata.name else None) or raw.name or ""),  # name
        _shared(metadata.namespace if metadata else None),  # namespace
        kwargs,
        column,  # column_name
        _shared(attached),  # attached_node
        _SEVERITY.get(severity) or sys.intern((_text(severity) or "error").lower()),  # severity
        None if where is None else _text(where),  # where
        _SAME.get(fail_calc) or _text(fail_calc),  # fail_calc
        _SAME.get(warn_if) or _text(warn_if),  # warn_if
        _SAME.get(error_if) or _text(error_if),  # error_if
        generic,
        None if config.limit is None else _limit(config.limit),  # limit
        raw.compiled_code or raw.compiled_sql,  # compiled_code
        config.store_failures if isinstance(config.store_failures, bool) else None,  # store_failures
        _text(config.store_failures_as),  # store_failures_as
    )


#: dbt's default test configs, as written in every manifest, to their normalized values.
_SAME: dict[Scalar, str] = {text: text for text in ("count(*)", "!= 0")}
_SEVERITY: dict[Scalar, str] = {"ERROR": "error", "WARN": "warn", "error": "error", "warn": "warn"}


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
        import hashlib  # here: only manifests older than dbt 1.6 need it, and it costs start-up ~3 ms

        for package in packages.keys() | {n.package for n in nodes.values()}:
            if hashlib.md5(package.encode(), usedforsecurity=False).hexdigest() == project_id:
                return package
    return packages.most_common(1)[0][0] if packages else None
