"""Schema changes with column-level impact: what changed in a build's relations, who reads it, what it broke.

One after-run, in order: `take_snapshot` reads every built relation's columns (from a catalog.json of
the same build, else the warehouse's information schema when asked); history records the snapshot and
hands back each changed node's previous columns; `diff_columns` says what was added, dropped, retyped
or possibly renamed; `trace_impact` finds, with column-level lineage parsed only for the nodes below
a change, which downstream nodes and columns read each changed column, and which failure of this run
each change probably caused.

sqlglot is imported only where a change has to be traced or two type spellings compared; a build
without schema changes costs a few dict look-ups.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipewatch.facade import lazy_names

# Resolved lazily (PEP 562): naming `schema_changes.model` (the views do) must not load
# the tracking, the configuration and the lineage.
if TYPE_CHECKING:
    from pipewatch.schema_changes.diff import diff_columns
    from pipewatch.schema_changes.model import CHANGE_KINDS, ColumnChange, Snapshot, columns_digest
    from pipewatch.schema_changes.snapshot import SnapshotRequest, take_snapshot
    from pipewatch.schema_changes.tracking import SchemaTracking, observe

_HOMES = {
    "diff_columns": "diff",
    "CHANGE_KINDS": "model",
    "ColumnChange": "model",
    "Snapshot": "model",
    "columns_digest": "model",
    "SnapshotRequest": "snapshot",
    "take_snapshot": "snapshot",
    "SchemaTracking": "tracking",
    "observe": "tracking",
}

__all__ = [
    "CHANGE_KINDS",
    "ColumnChange",
    "SchemaTracking",
    "Snapshot",
    "SnapshotRequest",
    "columns_digest",
    "diff_columns",
    "observe",
    "take_snapshot",
]

__getattr__ = lazy_names(__name__, _HOMES, globals())
