"""dbt artifact schema versions: which kinds and versions pipewatch knows, and what to do with others.

dbt stamps each artifact with `metadata.dbt_schema_version`, a URL such as
`https://schemas.getdbt.com/dbt/manifest/v12.json`. A file of another kind is refused; a newer
version than pipewatch knows is loaded for the fields it recognizes, with a warning; a file
without a stamp (written before dbt 0.19) is accepted when its shape is the expected one.
"""

from __future__ import annotations

import re

from pipewatch.errors import ArtifactError

#: The newest schema version of each kind pipewatch was written against.
KNOWN_VERSIONS: dict[str, int] = {"manifest": 12, "run_results": 6, "sources": 3, "catalog": 1}

#: How each kind is spelled in the schema URL, mapped to pipewatch's spelling.
_URL_KINDS = {
    "manifest": "manifest",
    "run-results": "run_results",
    "run_results": "run_results",
    "sources": "sources",
    "catalog": "catalog",
    "semantic-manifest": "semantic_manifest",
    "semantic_manifest": "semantic_manifest",
}

_FILE_NAMES = {
    "manifest": "manifest.json",
    "run_results": "run_results.json",
    "sources": "sources.json",
    "catalog": "catalog.json",
}

_SCHEMA_URL = re.compile(r"([A-Za-z_-]+)/v(\d{1,6})(?:\.json)?/*\s*$")


def parse_schema_url(url: str | None) -> tuple[str, int] | None:
    """(kind, version) from a `dbt_schema_version` URL, e.g. ("run_results", 6); None if unrecognizable."""
    if not url:
        return None
    match = _SCHEMA_URL.search(url)
    if match is None:
        return None
    raw_kind = match.group(1).lower()
    return _URL_KINDS.get(raw_kind, raw_kind), int(match.group(2))


def wrong_kind_problem(found: str, expected: str, url: str) -> str:
    """The message for a file whose metadata names another artifact kind than the one asked for."""
    if found == "catalog":
        return (
            f"this is a dbt catalog ({url}), not a {expected}; pipewatch reads catalog.json "
            "only as the column snapshot of a build"
        )
    return f"this is a dbt {found} artifact ({url}), not a {expected}"


def check_schema(url: str | None, expected: str, source: str, has_shape: bool) -> tuple[int, list[str]]:
    """Validate an artifact's schema stamp against the kind expected; return (version, warnings).

    `has_shape` says whether the document has the kind's main section (`nodes` for a manifest,
    `results` for run_results), which is what identifies an unstamped (pre-0.19) file.
    Version 0 means "unstamped or unrecognizable". Raises ArtifactError for another kind.
    """
    name = _FILE_NAMES.get(expected, expected)
    if url is None:
        if not has_shape:
            raise ArtifactError(source, f"not a dbt {expected} ({name}): no metadata.dbt_schema_version")
        return 0, []
    parsed = parse_schema_url(url)
    if parsed is None:
        if not has_shape:
            raise ArtifactError(source, f"not a dbt {expected}: unrecognized dbt_schema_version {url!r}")
        return 0, [f"{source}: unrecognized dbt_schema_version {url!r}; loaded the fields pipewatch knows"]
    kind, version = parsed
    if kind != expected:
        raise ArtifactError(source, wrong_kind_problem(kind, expected, url))
    known = KNOWN_VERSIONS[expected]
    if version > known:
        return version, [
            f"{source}: {expected} schema v{version} is newer than pipewatch knows (v{known}); "
            "loaded the fields it recognizes"
        ]
    if version < 1:
        problem = f"unexpected {expected} schema v{version}; loaded the fields it recognizes"
        return version, [f"{source}: {problem}"]
    return version, []
