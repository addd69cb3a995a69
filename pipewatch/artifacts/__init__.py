"""dbt artifact loading: manifest.json (v1–v12), run_results.json (v1–v6) and sources.json (v1–v3,
and the unstamped files of dbt < 0.19) into one normalized model (`Run`, `Node`, `NodeResult`).

Schema-version quirks stay inside this package; nothing past it knows a version. Every way a file
can be unusable raises `pipewatch.errors.ArtifactError` (one line naming the file); what still
allows a useful result (a newer schema, a missing manifest, files from different invocations)
becomes a warning in `Run.warnings`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipewatch.facade import lazy_names

if TYPE_CHECKING:
    from pipewatch.artifacts.manifest import Manifest, decode_manifest, load_manifest
    from pipewatch.artifacts.model import (
        AdapterResponse,
        Node,
        NodeResult,
        Run,
        SourceFreshness,
        TestInfo,
        normalize_status,
    )
    from pipewatch.artifacts.run import assemble_run, load_run
    from pipewatch.artifacts.run_results import RunResults, decode_run_results, load_run_results
    from pipewatch.artifacts.sources import FreshnessResults, decode_sources, load_sources
    from pipewatch.artifacts.versions import KNOWN_VERSIONS

#: Each public name and the module that defines it. Resolved lazily (PEP 562): `classify` needs the
#: model's statuses, not the decoders, and importing this package must not load them all.
_HOMES = {
    "KNOWN_VERSIONS": "versions",
    "AdapterResponse": "model",
    "FreshnessResults": "sources",
    "Manifest": "manifest",
    "Node": "model",
    "NodeResult": "model",
    "Run": "model",
    "RunResults": "run_results",
    "SourceFreshness": "model",
    "TestInfo": "model",
    "assemble_run": "run",
    "decode_manifest": "manifest",
    "decode_run_results": "run_results",
    "decode_sources": "sources",
    "load_manifest": "manifest",
    "load_run": "run",
    "load_run_results": "run_results",
    "load_sources": "sources",
    "normalize_status": "model",
}

__all__ = [
    "KNOWN_VERSIONS",
    "AdapterResponse",
    "FreshnessResults",
    "Manifest",
    "Node",
    "NodeResult",
    "Run",
    "RunResults",
    "SourceFreshness",
    "TestInfo",
    "assemble_run",
    "decode_manifest",
    "decode_run_results",
    "decode_sources",
    "load_manifest",
    "load_run",
    "load_run_results",
    "load_sources",
    "normalize_status",
]


__getattr__ = lazy_names(__name__, _HOMES, globals())
