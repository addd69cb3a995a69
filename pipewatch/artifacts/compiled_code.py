"""Compiled SQL from a manifest: a second, narrow read for the few callers that need SQL the run lacks.

The main manifest decode (`artifacts.manifest`) never keeps SQL; schema-change lineage of nodes that did
not run reads it here, only when a change has to be traced.
"""

from __future__ import annotations

from pathlib import Path

from msgspec import Struct

from pipewatch.artifacts.decoding import Buffer, decode_json, load_artifact


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
