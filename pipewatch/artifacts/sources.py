"""sources.json from `dbt source freshness` (schema v1–v3, and unstamped older files) -> `SourceFreshness`.

Three shapes exist: v1–v3 (`results` entries with `unique_id`, `max_loaded_at`, `criteria`), the
unstamped dbt 0.17–0.18 output (`results` entries embedding the whole source `node`, with `error`),
and the dbt <= 0.16 output (a `sources` mapping of unique id -> `{state, criteria, ...}`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from pipewatch.artifacts.decoding import (
    ArtifactMetadata,
    Buffer,
    Struct,
    decode_json,
    gc_paused,
    load_artifact,
)
from pipewatch.artifacts.model import SourceFreshness, normalize_status
from pipewatch.artifacts.timestamps import to_posix
from pipewatch.artifacts.versions import check_schema

#: sources.json older than this before the run's results is stale news, not this run's freshness.
FRESHNESS_WINDOW_S = 24 * 3600.0
_PERIOD_SECONDS = {"minute": 60.0, "hour": 3600.0, "day": 86400.0}


class _Period(Struct):
    count: int | float | None = None
    period: str | None = None


class _Criteria(Struct):
    warn_after: _Period | None = None
    error_after: _Period | None = None


class _SourceNode(Struct):
    unique_id: str | None = None
    freshness: _Criteria | None = None


class _Result(Struct):
    unique_id: str | None = None
    node: _SourceNode | None = None
    status: str | None = None
    state: str | None = None  # dbt <= 0.16
    max_loaded_at: str | None = None
    snapshotted_at: str | None = None
    max_loaded_at_time_ago_in_s: float | None = None
    criteria: _Criteria | None = None
    error: str | None = None
    message: str | None = None
    execution_time: float | None = None


class _LegacyMeta(Struct):
    generated_at: str | None = None
    elapsed_time: float | None = None


class _SourcesFile(Struct):
    metadata: ArtifactMetadata | None = None
    results: list[_Result] | msgspec.UnsetType | None = msgspec.UNSET
    sources: dict[str, _Result] | msgspec.UnsetType | None = msgspec.UNSET
    elapsed_time: float | None = None
    generated_at: str | None = None
    meta: _LegacyMeta | None = None


@dataclass(slots=True)
class FreshnessResults:
    """A loaded sources.json: the freshness of each checked source."""

    path: str
    schema_version: int  # 0 when the file carries no (recognizable) schema stamp
    dbt_version: str | None
    invocation_id: str | None
    generated_at: float | None
    elapsed_time: float | None
    results: list[SourceFreshness]
    warnings: list[str] = field(default_factory=list)


def load_sources(path: Path | str) -> FreshnessResults:
    """Load a dbt sources.json (`dbt source freshness` output) of any version; ArtifactError if not one."""
    return load_artifact(path, "sources", decode_sources)


@gc_paused()
def decode_sources(data: Buffer, source: str = "<sources>") -> FreshnessResults:
    """Decode sources.json bytes; `source` names the file in errors and warnings."""
    raw = decode_json(data, _SourcesFile, source, "sources")
    meta = raw.metadata or ArtifactMetadata()
    stamped = meta.dbt_schema_version is not None
    # Only an unstamped file may be the dbt <= 0.16 `sources` mapping; a stamped manifest also has
    # a `sources` section, and must be refused as a manifest by check_schema.
    has_shape = raw.results is not msgspec.UNSET or (not stamped and raw.sources is not msgspec.UNSET)
    version, warnings = check_schema(meta.dbt_schema_version, "sources", source, has_shape=has_shape)
    entries: list[tuple[str | None, _Result]] = [(None, r) for r in raw.results or ()]
    if not stamped and raw.sources:
        entries.extend(raw.sources.items())
    results: list[SourceFreshness] = []
    anonymous = 0
    for key, entry in entries:
        unique_id = key or entry.unique_id or (entry.node.unique_id if entry.node else None)
        if not unique_id:
            anonymous += 1
            continue
        results.append(_to_freshness(unique_id, entry))
    if anonymous:
        warnings.append(f"{source}: skipped {anonymous} result(s) without a unique_id")
    legacy = raw.meta or _LegacyMeta()
    elapsed = raw.elapsed_time if raw.elapsed_time is not None else legacy.elapsed_time
    return FreshnessResults(
        path=source,
        schema_version=version,
        dbt_version=meta.dbt_version,
        invocation_id=meta.invocation_id,
        generated_at=to_posix(meta.generated_at or raw.generated_at or legacy.generated_at),
        elapsed_time=None if elapsed is None else elapsed + 0.0,
        results=results,
        warnings=warnings,
    )


def _period_seconds(period: _Period | None) -> float | None:
    if period is None or period.count is None or period.period is None:
        return None
    unit = _PERIOD_SECONDS.get(period.period.strip().lower())
    if unit is None:
        return None
    try:
        return float(period.count) * unit
    except OverflowError:
        return None


def _to_freshness(unique_id: str, raw: _Result) -> SourceFreshness:
    criteria = raw.criteria or (raw.node.freshness if raw.node else None) or _Criteria()
    return SourceFreshness(
        unique_id=unique_id,
        status=normalize_status(raw.status or raw.state or ("error" if raw.error else None)),
        max_loaded_at=to_posix(raw.max_loaded_at),
        snapshotted_at=to_posix(raw.snapshotted_at),
        age_s=raw.max_loaded_at_time_ago_in_s,
        warn_after_s=_period_seconds(criteria.warn_after),
        error_after_s=_period_seconds(criteria.error_after),
        message=raw.message or raw.error,
        execution_time=raw.execution_time,
    )
