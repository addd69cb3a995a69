"""`pipewatch lineage NODE`: a node's upstream and downstream with last-run statuses, as text or JSON."""

from __future__ import annotations

import json
from typing import Any

from pipewatch.analysis import ColumnLineage
from pipewatch.lineage import LineageEntry, NodeLineage
from pipewatch.outputs.escaping import one_line
from pipewatch.schema_changes.walk import ColumnHop


def _entry_dicts(entries: tuple[LineageEntry, ...]) -> list[dict[str, Any]]:
    return [
        {
            "unique_id": e.unique_id,
            "resource_type": e.resource_type,
            "distance": e.distance,
            "status": e.status,
        }
        for e in entries
    ]


def _entry_lines(entries: tuple[LineageEntry, ...], arrow: str) -> list[str]:
    return [
        f"  {'  ' * (e.distance - 1)}{arrow} {one_line(e.unique_id)}  [{one_line(e.status or 'not run')}]"
        for e in entries
    ]


def render_lineage(view: NodeLineage, fmt: str = "text") -> str:
    """Render one node's lineage: indented by distance, each entry with its status in the last run."""
    if fmt == "json":
        data = {
            "unique_id": view.unique_id,
            "resource_type": view.resource_type,
            "status": view.status,
            "upstream": _entry_dicts(view.upstream),
            "downstream": _entry_dicts(view.downstream),
        }
        return json.dumps(data, indent=2) + "\n"
    # Ids and statuses come from the project's files and the run: untrusted text on a terminal.
    lines = [f"{one_line(view.unique_id)}  [{one_line(view.status or 'not run')}]"]
    lines.append(f"upstream ({len(view.upstream)}):")
    lines += _entry_lines(view.upstream, "↑")
    lines.append(f"downstream ({len(view.downstream)}):")
    lines += _entry_lines(view.downstream, "↓")
    return "\n".join(lines) + "\n"


def render_column_lineage(view: ColumnLineage, fmt: str = "text", depth: int | None = None) -> str:
    """Render one column's lineage: the columns it comes from (↑) and the columns that read it (↓)."""
    up = [h for h in view.upstream if depth is None or h.distance <= depth]
    down = [h for h in view.downstream if depth is None or h.distance <= depth]
    if fmt == "json":

        def hops(items: list[ColumnHop]) -> list[dict[str, Any]]:
            return [{"unique_id": h.unique_id, "column": h.column, "distance": h.distance} for h in items]

        data = {
            "unique_id": view.unique_id,
            "column": view.column,
            "precision": view.precision,
            "columns_from": view.schema_source,
            "upstream": hops(up),
            "downstream": hops(down),
        }
        return json.dumps(data, indent=2) + "\n"

    def line(h: ColumnHop, arrow: str) -> str:
        where = f"{h.unique_id}.{h.column}" if h.column else f"{h.unique_id} (table-level)"
        return f"  {'  ' * (h.distance - 1)}{arrow} {one_line(where)}"

    lines = [one_line(f"{view.unique_id}.{view.column}")]
    lines.append(f"upstream ({len(up)}):")
    lines += [line(h, "↑") for h in up]
    lines.append(f"downstream ({len(down)}):")
    lines += [line(h, "↓") for h in down]
    if view.precision != "column":
        lines.append("note: some SQL downstream could not be parsed; nodes below it are listed table-level")
    return "\n".join(lines) + "\n"
