"""A build's column snapshot: from its catalog.json when that file belongs to the same build, else from
the warehouse's information schema when asked (`--schema`, `schema: true`), else none, with a note.

A catalog belongs to the build when it carries the build's invocation id, or when it was written
after the build started and within `CATALOG_WINDOW_S` after it ended (`dbt docs generate --no-compile`
right after `dbt build` has its own invocation id and leaves manifest and run_results as they are).
A catalog of another project (none of its relations is in the manifest, or each is somewhere else),
of an earlier build or of another day is refused with a note: its columns would be reported as
changes the build never made. Relations the build made that the catalog lacks are left out of the
snapshot, never taken as dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipewatch.artifacts.catalog import CATALOG_FILE, Catalog, CatalogTable, load_catalog
from pipewatch.artifacts.model import OK_STATUSES, Run
from pipewatch.errors import ArtifactError
from pipewatch.schema_changes.model import Snapshot

#: How long after the build a catalog may have been written and still be taken as the build's.
CATALOG_WINDOW_S = 6 * 3600.0
#: Clock skew allowed between the machine that built and the one that generated the docs.
_SKEW_S = 120.0
#: Resource types that leave a relation behind when they run.
BUILT_TYPES = frozenset({"model", "seed", "snapshot"})
_EXAMPLES = 3
_SAMPLE = 200


@dataclass(frozen=True, slots=True)
class SnapshotRequest:
    """Where after-run may read columns from: the target dir's catalog, and the warehouse when `warehouse`."""

    warehouse: bool = False  # `--schema` / `schema: true`: ask the information schema without a catalog
    duckdb: Path | None = None
    project_dir: Path = Path(".")
    profiles_dir: Path | None = None
    target: str | None = None
    profile: str | None = None


def built_nodes(run: Run) -> list[str]:
    """Unique ids of the relations this run built (models, seeds, snapshots that succeeded), sorted."""
    built = []
    for result in run.results:
        node = run.nodes.get(result.unique_id)
        if (
            node is not None
            and node.resource_type in BUILT_TYPES
            and result.status in OK_STATUSES
            and node.relation is not None
        ):
            built.append(result.unique_id)
    return sorted(set(built))


def take_snapshot(
    run: Run, target_dir: Path, request: SnapshotRequest | None = None
) -> tuple[Snapshot | None, list[str]]:
    """The columns of every relation the run built (and the catalog's sources), and notes for the terminal.

    None, with the reason as a note, when there is nothing to read them from: no catalog of this
    build and the warehouse not asked.
    """
    request = request or SnapshotRequest()
    built = built_nodes(run)
    notes: list[str] = []
    path = target_dir / CATALOG_FILE
    if path.exists():
        catalog: Catalog | None = None
        refusal: str | None = None
        try:
            catalog = load_catalog(path)
        except ArtifactError as exc:
            refusal = str(exc)
        else:
            refusal = catalog_refusal(catalog, run)
        if catalog is not None and refusal is None:
            snapshot = _from_catalog(catalog, run, built)
            return snapshot, list(snapshot.notes)
        notes.append(f"schema: {refusal}; not used")
    if request.warehouse:
        from pipewatch.schema_changes.warehouse_columns import snapshot_from_warehouse

        snapshot = snapshot_from_warehouse(run, built, request)
        snapshot.notes[:0] = notes
        return snapshot, list(snapshot.notes)
    if notes:
        return None, [notes[0] + "; column snapshots skipped (--schema reads them from the warehouse)"]
    return None, [
        f"schema: no {CATALOG_FILE} of this build (`dbt docs generate --no-compile` writes one) and "
        "--schema not set; column snapshots skipped"
    ]


def catalog_refusal(catalog: Catalog, run: Run) -> str | None:
    """Why `catalog` is not this build's (None when it is): another invocation, project, target or day."""
    where = catalog.path
    same_invocation = catalog.invocation_id is not None and catalog.invocation_id == run.invocation_id
    if not same_invocation:
        if catalog.generated_at is None or run.generated_at is None:
            return f"{where}: cannot tell whether it belongs to this build (no generated_at to compare)"
        started = run.generated_at - (run.elapsed_time or 0.0)
        if catalog.generated_at < started - _SKEW_S:
            hours = (run.generated_at - catalog.generated_at) / 3600
            return f"{where}: written {hours:.1f}h before this build's results, so of an earlier build"
        if catalog.generated_at - run.generated_at > CATALOG_WINDOW_S:
            hours = (catalog.generated_at - run.generated_at) / 3600
            return (
                f"{where}: written {hours:.1f}h after this build, more than "
                f"{CATALOG_WINDOW_S / 3600:.0f}h later, so not this build's"
            )
    nodes = [uid for uid in catalog.tables if uid in run.nodes]
    if catalog.tables and not nodes:
        return f"{where}: none of its {len(catalog.tables)} relations is in the manifest: another project"
    # A sample is enough: a catalog of another target puts every relation somewhere else.
    sample = nodes[:_SAMPLE]
    misplaced = [uid for uid in sample if not _same_relation(catalog.tables[uid], run.nodes[uid].relation)]
    if sample and len(misplaced) == len(sample):
        return (
            f"{where}: its relations are not where the manifest puts them (e.g. {catalog.tables[nodes[0]].relation} "
            f"for {nodes[0]}): another target or project"
        )
    return None


def _same_relation(table: CatalogTable, relation: str | None) -> bool:
    if relation is None:
        return False
    ours = [p.strip('"`').lower() for p in relation.split(".")]
    theirs = [p.lower() for p in (table.database, table.schema, table.name) if p]
    # Compare from the table name back: some adapters leave the database out of one side.
    return bool(theirs) and ours[-len(theirs) :] == theirs[-len(ours) :]


def _from_catalog(catalog: Catalog, run: Run, built: Sequence[str]) -> Snapshot:
    tables = {uid: catalog.tables[uid] for uid in built if uid in catalog.tables}
    for uid, table in catalog.tables.items():
        node = run.nodes.get(uid)
        if node is not None and node.resource_type == "source" and table.columns:
            tables[uid] = table
    notes: list[str] = []
    missing = [uid for uid in built if uid not in catalog.tables]
    if missing:
        examples = ", ".join(missing[:_EXAMPLES]) + (", ..." if len(missing) > _EXAMPLES else "")
        notes.append(
            f"schema: {len(missing)} relation(s) this build made are not in {catalog.path} ({examples}); "
            "their columns were not recorded"
        )
    return Snapshot("catalog", tables, notes)
