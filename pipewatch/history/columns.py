"""Column snapshots in the history store: record a build's columns, and find each relation's previous ones.

Written inside after-run's one store transaction, after the invocation row: the snapshot rows of an
invocation are written once (a second after-run of the same artifacts changes nothing and finds the
same previous snapshots), and a column set is stored once per digest. A relation's previous snapshot
is its latest one from an invocation generated before this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import msgspec

from pipewatch.artifacts.catalog import CatalogColumn, CatalogTable
from pipewatch.history.ingest import insert_columns

if TYPE_CHECKING:
    import duckdb

_SNAPSHOT_COLUMNS = (
    ("unique_id", "VARCHAR"),
    ("relation", "VARCHAR"),
    ("digest", "VARCHAR"),
    ("source", "VARCHAR"),
)
_SET_COLUMNS = (("digest", "VARCHAR"), ("columns", "VARCHAR"))

_PREVIOUS = """
SELECT s.unique_id, arg_max(s.digest, i.generated_at)
FROM column_snapshots s JOIN invocations i ON i.invocation_id = s.invocation_id
WHERE s.invocation_id <> $inv
  AND i.generated_at < (SELECT generated_at FROM invocations WHERE invocation_id = $inv)
GROUP BY s.unique_id
"""


def record_columns(
    con: duckdb.DuckDBPyConnection,
    invocation_id: str,
    tables: Mapping[str, CatalogTable],
    digests: Mapping[str, str],
    source: str,
) -> tuple[dict[str, tuple[CatalogColumn, ...]], set[str]]:
    """Record this invocation's snapshot and return (previous columns of each relation whose digest
    changed, ids of the relations that had a previous snapshot at all).

    Runs on an open connection inside the caller's transaction; the invocation row must be there.
    """
    prior = {
        str(uid): str(digest) for uid, digest in con.execute(_PREVIOUS, {"inv": invocation_id}).fetchall()
    }
    changed = {uid: prior[uid] for uid in tables if uid in prior and prior[uid] != digests[uid]}
    previous: dict[str, tuple[CatalogColumn, ...]] = {}
    if changed:
        wanted = sorted(set(changed.values()))
        rows = con.execute(
            "SELECT digest, columns FROM column_sets WHERE digest IN (SELECT unnest($d))", {"d": wanted}
        ).fetchall()
        sets = {str(d): _decode(str(c)) for d, c in rows}
        previous = {uid: sets[d] for uid, d in changed.items() if d in sets}
    found = con.execute(
        "SELECT count(*) FROM column_snapshots WHERE invocation_id = $inv", {"inv": invocation_id}
    ).fetchone()
    if not (found and found[0]) and tables:
        ids = sorted(tables)
        insert_columns(
            con,
            "column_snapshots",
            _SNAPSHOT_COLUMNS,
            {
                "unique_id": ids,
                "relation": [tables[u].relation for u in ids],
                "digest": [digests[u] for u in ids],
                "source": [source] * len(ids),
            },
            invocation_id,
        )
        stored = set(prior.values())
        new_sets = {digests[u]: u for u in ids if digests[u] not in stored}
        if new_sets:
            _insert_sets(con, {d: tables[u] for d, u in new_sets.items()})
    return previous, {uid for uid in tables if uid in prior}


def _insert_sets(con: duckdb.DuckDBPyConnection, sets: Mapping[str, CatalogTable]) -> None:
    digests = sorted(sets)
    # insert_columns writes an invocation id in every table; column_sets has none, so a staging
    # table takes the rows and only digests not yet stored move on.
    con.execute(
        "CREATE TEMP TABLE IF NOT EXISTS _pw_sets (invocation_id VARCHAR, digest VARCHAR, columns VARCHAR)"
    )
    con.execute("DELETE FROM _pw_sets")
    insert_columns(
        con,
        "_pw_sets",
        _SET_COLUMNS,
        {"digest": digests, "columns": [_encode(sets[d]) for d in digests]},
        "",
    )
    con.execute(
        "INSERT INTO column_sets SELECT DISTINCT p.digest, p.columns FROM _pw_sets p "
        "WHERE NOT EXISTS (SELECT 1 FROM column_sets c WHERE c.digest = p.digest)"
    )
    con.execute("DROP TABLE _pw_sets")


def _encode(table: CatalogTable) -> str:
    return msgspec.json.encode([(c.name, c.type, c.position) for c in table.columns]).decode()


def _decode(text: str) -> tuple[CatalogColumn, ...]:
    return tuple(
        CatalogColumn(n, t, p) for n, t, p in msgspec.json.decode(text, type=list[tuple[str, str, int]])
    )


def latest_columns(con: duckdb.DuckDBPyConnection) -> dict[str, CatalogTable]:
    """Each relation's latest recorded columns (for `pipewatch lineage NODE.COLUMN` without a catalog)."""
    rows = con.execute(
        """
        SELECT s.unique_id, arg_max(s.relation, i.generated_at), arg_max(s.digest, i.generated_at)
        FROM column_snapshots s JOIN invocations i ON i.invocation_id = s.invocation_id
        GROUP BY s.unique_id
        """
    ).fetchall()
    digests = sorted({str(r[2]) for r in rows})
    sets = {
        str(d): _decode(str(c))
        for d, c in con.execute(
            "SELECT digest, columns FROM column_sets WHERE digest IN (SELECT unnest($d))", {"d": digests}
        ).fetchall()
    }
    out: dict[str, CatalogTable] = {}
    for uid, relation, digest in rows:
        parts = str(relation or "").split(".")
        name = parts[-1] if parts else None
        schema = parts[-2] if len(parts) > 1 else None
        database = parts[-3] if len(parts) > 2 else None
        out[str(uid)] = CatalogTable(str(uid), database, schema, name, sets.get(str(digest), ()))
    return out
