"""`load_run`: a dbt target directory's manifest, run_results and sources.json -> one `Run`.

Whatever is present is loaded; what is missing or inconsistent becomes a warning on the Run as
long as a useful result is still possible (results without a manifest, a manifest without
results, files from different invocations, result ids the manifest lacks).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pipewatch.artifacts.manifest import Manifest, load_manifest
from pipewatch.artifacts.model import Node, Run
from pipewatch.artifacts.run_results import RunResults, load_run_results
from pipewatch.artifacts.sources import FreshnessResults, load_sources
from pipewatch.artifacts.stubs import NON_NODE_PREFIXES, stub_node
from pipewatch.errors import ArtifactError

MANIFEST_FILE = "manifest.json"
RUN_RESULTS_FILE = "run_results.json"
SOURCES_FILE = "sources.json"

_EXAMPLES = 3


def _pick(target: Path, explicit: Path | str | None, name: str) -> Path | None:
    """The explicit path if given (it must exist: loading it says so if not), else target/name if present."""
    if explicit is not None:
        return Path(explicit)
    candidate = target / name
    # lexists: a broken symlink is a file dbt's tooling meant to be there; loading it says so.
    return candidate if os.path.lexists(candidate) else None


def load_run(
    target_dir: Path | str,
    *,
    manifest: Path | str | None = None,
    run_results: Path | str | None = None,
    sources: Path | str | None = None,
) -> Run:
    """Load what dbt left in `target_dir` (manifest.json, run_results.json, sources.json) as one Run.

    Explicit paths override the files in `target_dir`. Raises ArtifactError when the directory is
    missing, holds none of the three files, or a file is not a readable artifact of its kind.
    """
    target = Path(target_dir)
    explicit = (manifest, run_results, sources)
    if all(p is None for p in explicit):
        try:
            info = target.stat()
        except FileNotFoundError:
            raise ArtifactError(
                target, "target directory not found; run `dbt build` first or pass its path"
            ) from None
        except OSError as exc:
            raise ArtifactError(target, f"cannot read the target directory: {exc.strerror or exc}") from None
        if not stat.S_ISDIR(info.st_mode):
            raise ArtifactError(target, "not a directory; expected dbt's target directory")
        if not os.access(target, os.R_OK | os.X_OK):
            raise ArtifactError(target, "cannot read the target directory: permission denied")
    manifest_path = _pick(target, manifest, MANIFEST_FILE)
    results_path = _pick(target, run_results, RUN_RESULTS_FILE)
    sources_path = _pick(target, sources, SOURCES_FILE)
    if manifest_path is None and results_path is None and sources_path is None:
        raise ArtifactError(
            target,
            f"no {MANIFEST_FILE}, {RUN_RESULTS_FILE} or {SOURCES_FILE} here; run `dbt build` first",
        )
    loaded_manifest = load_manifest(manifest_path) if manifest_path else None
    loaded_results = load_run_results(results_path) if results_path else None
    loaded_sources = load_sources(sources_path) if sources_path else None
    return assemble_run(loaded_manifest, loaded_results, loaded_sources, target)


def assemble_run(
    manifest: Manifest | None,
    run_results: RunResults | None,
    sources: FreshnessResults | None,
    target: Path | str = ".",
) -> Run:
    """Combine separately loaded artifacts into a Run, with warnings for what is missing or inconsistent."""
    warnings: list[str] = []
    for artifact in (manifest, run_results, sources):
        if artifact is not None:
            warnings.extend(artifact.warnings)
    schema_versions: dict[str, int] = {}
    if manifest is not None:
        schema_versions["manifest"] = manifest.schema_version
    else:
        warnings.append(
            f"{target}: no {MANIFEST_FILE}; nodes are stubs derived from result unique ids "
            "(no lineage, owners or test metadata)"
        )
    if run_results is not None:
        schema_versions["run_results"] = run_results.schema_version
    else:
        warnings.append(f"{target}: no {RUN_RESULTS_FILE}; the run has no node results")
    if sources is not None:
        schema_versions["sources"] = sources.schema_version
    if (
        manifest is not None
        and run_results is not None
        and manifest.invocation_id
        and run_results.invocation_id
        and manifest.invocation_id != run_results.invocation_id
    ):
        warnings.append(
            f"{run_results.path}: from dbt invocation {run_results.invocation_id}, but {manifest.path} is "
            f"from {manifest.invocation_id}; the graph may not match what ran"
        )

    nodes: dict[str, Node] = dict(manifest.nodes) if manifest is not None else {}
    results = run_results.results if run_results is not None else []
    freshness = sources.results if sources is not None else []
    unknown: list[str] = []
    for unique_id, relation_name in [(r.unique_id, r.relation_name) for r in results] + [
        (f.unique_id, None) for f in freshness
    ]:
        if unique_id in nodes:
            continue
        nodes[unique_id] = stub_node(unique_id, relation_name)
        if manifest is not None and not unique_id.startswith(NON_NODE_PREFIXES):
            unknown.append(unique_id)
    if unknown and manifest is not None:
        examples = ", ".join(unknown[:_EXAMPLES]) + (", ..." if len(unknown) > _EXAMPLES else "")
        warnings.append(
            f"{manifest.path}: {len(unknown)} unique id(s) from the results are not in the manifest "
            f"({examples}); kept as stub nodes"
        )

    # The run's own facts come from run_results first, then the manifest, then sources.json.
    present = [a for a in (run_results, manifest, sources) if a is not None]
    return Run(
        invocation_id=next((a.invocation_id for a in present if a.invocation_id), None),
        dbt_version=next((a.dbt_version for a in present if a.dbt_version), None),
        generated_at=next((a.generated_at for a in present if a.generated_at is not None), None),
        elapsed_time=run_results.elapsed_time if run_results else None,
        command=run_results.command if run_results else None,
        select=run_results.select if run_results else (),
        target=run_results.target if run_results else None,
        adapter_type=manifest.adapter_type if manifest else None,
        project_name=manifest.project_name if manifest else None,
        schema_versions=schema_versions,
        nodes=nodes,
        results=results,
        freshness=freshness,
        parent_map=manifest.parent_map if manifest else None,
        child_map=manifest.child_map if manifest else None,
        groups=dict(manifest.groups) if manifest else {},
        warnings=warnings,
        disabled=manifest.disabled if manifest else frozenset(),
    )
