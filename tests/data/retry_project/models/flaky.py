"""A model whose first run collides with a concurrent writer and whose next run succeeds.

On the first run (no marker file in `state_dir`) it starts a helper process that opens a DuckDB file
read-write, then opens the same file itself: DuckDB refuses with its real lock-conflict error
("Could not set lock on file ...: Conflicting lock is held"), the error a scheduler sees when two jobs
touch one database file. It leaves a marker first, so the next run finds no conflict and succeeds.
"""

import subprocess
import sys
from pathlib import Path

import duckdb

# The concurrent writer: opens the file read-write, says so, and holds it until its stdin closes.
HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
"""


def collide(busy_file: Path) -> None:
    """Hold `busy_file` in another process and try to attach it here: DuckDB raises its lock error."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(busy_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        duckdb.connect(str(busy_file), read_only=True).close()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)


def model(dbt, session):
    dbt.config(materialized="table")
    state_dir = Path(dbt.config.get("state_dir"))
    state_dir.mkdir(parents=True, exist_ok=True)
    marker = state_dir / "flaky.marker"
    note = "second try"
    if not marker.exists():
        marker.write_text("the first attempt collided\n")
        collide(state_dir / "busy.duckdb")
        note = "no conflict after all"  # only if DuckDB stopped refusing: the tests then fail loudly
    return dbt.ref("base").project("id, code").select(f"id, code, '{note}' as attempt_note")
