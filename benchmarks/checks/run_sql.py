"""Worker for the SQL contenders: run the named queries of a .sql file on a DuckDB file, print the counts.

    python run_sql.py DATABASE FILE.sql

Queries are separated by `-- name: <label>` lines; each returns one row whose columns are check names.
Prints `{"counts": {check name: count}}`, merged over all queries. Only the standard library and
duckdb are imported, so the process costs what a hand-written script would.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb

MARKER = "-- name:"


def queries(text: str) -> list[tuple[str, str]]:
    """The (label, SQL) pairs of a file of `-- name:`-separated queries (text before the first is a comment)."""
    out: list[tuple[str, str]] = []
    for chunk in text.split(MARKER)[1:]:
        label, _, sql = chunk.partition("\n")
        out.append((label.strip(), sql.strip().rstrip(";")))
    return out


def main(argv: list[str]) -> int:
    """Run every query of the file on the database (read-only) and print the merged counts."""
    database, sql_file = argv
    con = duckdb.connect(database, read_only=True)
    con.execute("SET enable_progress_bar = false")
    counts: dict[str, int] = {}
    for _, sql in queries(Path(sql_file).read_text(encoding="utf-8")):
        cur = con.execute(sql)
        row = cur.fetchone() or ()
        for desc, value in zip(cur.description or [], row, strict=False):
            counts[desc[0]] = int(value)
    print(json.dumps({"counts": counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
