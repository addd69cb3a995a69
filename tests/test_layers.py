"""The house's floors (ARCHITECTURE.md): a room imports only from its own floor or below.

Read from the source with `ast`, function-local imports included, so a lazy import cannot hide a
dependency that runs back up the building.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pipewatch"

#: The floor of every room (a package or a top-level module), as ARCHITECTURE.md lists them.
FLOORS = {
    "errors": 0,
    "backoff": 0,
    "located": 0,
    "config": 1,
    "artifacts": 2,
    "lineage": 3,
    "owners": 3,
    "triage": 4,
    "warehouse": 4,
    "rules": 5,
    "schema_changes": 5,
    "runner": 5,
    "history": 6,
    "live": 6,
    "analysis": 7,
    "outputs": 8,
    "after_run": 9,
    "monitor": 9,
    "commands": 10,
    "cli": 11,
}


def room_of(path: Path) -> str:
    """The room a source file belongs to: its package under pipewatch/, or its own module name."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def imported_rooms(path: Path) -> set[str]:
    """Every pipewatch room the file imports from, at any depth of the file."""
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pipewatch."):
            rooms.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            rooms.update(a.name.split(".")[1] for a in node.names if a.name.startswith("pipewatch."))
    return rooms


def test_every_room_has_a_floor() -> None:
    rooms = {room_of(p) for p in PACKAGE.rglob("*.py")} - {"__init__", "__main__"}
    assert rooms <= set(FLOORS), f"rooms without a floor in ARCHITECTURE.md: {sorted(rooms - set(FLOORS))}"


def test_no_import_runs_back_up_a_floor() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        room = room_of(path)
        if room not in FLOORS:
            continue
        for other in imported_rooms(path):
            if other in FLOORS and FLOORS[other] > FLOORS[room]:
                upward.append(
                    f"{path.relative_to(PACKAGE.parent)}: {room} (floor {FLOORS[room]}) imports {other} (floor {FLOORS[other]})"
                )
    assert upward == [], "\n".join(upward)
