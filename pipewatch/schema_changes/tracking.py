"""One after-run's schema-change tracking, step by step: snapshot, compare with history, trace, judge.

`observe` takes the snapshot before history is written; `compare` diffs it against the previous
columns history hands back; `trace` (called by `pipewatch.analysis` with the run's graph) finds who
reads each change and which failures it explains. Each step leaves notes for the terminal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipewatch.artifacts.catalog import CatalogColumn
from pipewatch.artifacts.model import Run
from pipewatch.config import OwnerRule
from pipewatch.errors import ArtifactError
from pipewatch.lineage.graph import Graph
from pipewatch.schema_changes.diff import diff_columns
from pipewatch.schema_changes.impact import SqlColumns, current_columns, trace_impact
from pipewatch.schema_changes.model import ColumnChange, Snapshot, columns_digest
from pipewatch.schema_changes.snapshot import SnapshotRequest, take_snapshot


@dataclass(slots=True)
class SchemaTracking:
    """What one after-run knows about its build's columns, and the changes found once compared."""

    snapshot: Snapshot | None
    target_dir: Path
    adapter_type: str | None
    notes: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)
    previous: dict[str, tuple[CatalogColumn, ...]] = field(default_factory=dict)
    changes: list[ColumnChange] = field(default_factory=list)
    compared: bool = False  # history was there to compare with
    parsed: int = 0  # nodes whose SQL was parsed to trace the changes

    def compare(self, previous: Mapping[str, tuple[CatalogColumn, ...]], known: set[str]) -> None:
        """Diff the snapshot against the previous columns of the relations whose digest changed."""
        self.compared = True
        if self.snapshot is None:
            return
        self.previous = dict(previous)
        if previous:
            self.changes = diff_columns(previous, self.snapshot.tables, self.dialect)
        new = len(self.snapshot.tables) - len(known & self.snapshot.tables.keys())
        if new and not known:
            self.notes.append(
                f"schema: first column snapshot of {new} relation(s); changes are reported from the next run on"
            )
        elif new:
            self.notes.append(
                f"schema: {new} relation(s) snapshotted for the first time (no previous columns)"
            )

    @property
    def dialect(self) -> str | None:
        """The sqlglot dialect of the run's adapter (None: sqlglot's default)."""
        # Imported here: the warehouse package loads sqlglot, which only a change to trace needs.
        from pipewatch.warehouse.dialects import ADAPTER_DIALECTS

        return ADAPTER_DIALECTS.get((self.adapter_type or "").lower())

    def trace(self, run: Run, graph: Graph, rules: Sequence[OwnerRule] = ()) -> None:
        """Find who reads each breaking change: compiled SQL parsed only for nodes below a change."""
        if not any(c.breaks_readers for c in self.changes) or self.snapshot is None:
            return
        columns = current_columns(self.snapshot.tables, self.previous)
        sql = SqlColumns(run, graph, columns, code_source(run, self.target_dir, self.notes), self.dialect)
        trace_impact(self.changes, run, graph, sql, rules)
        self.parsed = sql.parsed
        if sql.over_budget:
            self.notes.append(
                f"schema: column lineage parsed {sql.parsed:,} models (the budget); {sql.over_budget:,} more "
                "below a change are listed at table precision"
            )


def observe(run: Run, target_dir: Path, request: SnapshotRequest | None = None) -> SchemaTracking:
    """Take the build's column snapshot (catalog, else warehouse when asked, else none with a note)."""
    snapshot, notes = take_snapshot(run, target_dir, request)
    tracking = SchemaTracking(snapshot, target_dir, run.adapter_type, notes)
    if snapshot is not None:
        tracking.digests = {uid: columns_digest(t.columns) for uid, t in snapshot.tables.items()}
    return tracking


def code_source(run: Run, target_dir: Path, notes: list[str]) -> _CompiledCode:
    """Each node's compiled SQL on request: run_results first, then the manifest, then target/compiled."""
    known = {r.unique_id: r.compiled_code for r in run.results if r.compiled_code}
    return _CompiledCode(run, known, target_dir, notes)


class _CompiledCode:
    """A node's compiled SQL: from run_results, else (read once, only if needed) from the manifest, else
    the file dbt last compiled it to (`target/compiled/PACKAGE/PATH`: a node this run skipped was not
    compiled again, and its SQL is what it was at its last compile)."""

    def __init__(self, run: Run, from_results: dict[str, str], target_dir: Path, notes: list[str]) -> None:
        self.run = run
        self.known = from_results
        self.target_dir = target_dir
        self.notes = notes
        self.manifest: dict[str, str] | None = None

    def __call__(self, unique_id: str) -> str | None:
        code = self.known.get(unique_id)
        if code is not None:
            return code
        if self.manifest is None:
            from pipewatch.artifacts.manifest import load_compiled_code

            try:
                self.manifest = load_compiled_code(self.target_dir / "manifest.json")
            except ArtifactError as exc:
                self.notes.append(f"schema: compiled SQL not read from the manifest: {exc}")
                self.manifest = {}
        return self.manifest.get(unique_id) or self._compiled_file(unique_id)

    def _compiled_file(self, unique_id: str) -> str | None:
        node = self.run.nodes.get(unique_id)
        if node is None or not node.path or not node.package:
            return None
        path = self.target_dir / "compiled" / node.package / node.path
        try:
            return path.read_text(encoding="utf-8") if path.is_file() else None
        except (OSError, UnicodeDecodeError):
            return None
