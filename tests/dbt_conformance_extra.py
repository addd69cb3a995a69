"""What the dbt conformance suite adds to dbt-utils' integration project beyond dbt-utils' own tests:
tests that store their failures (table, view, a custom audit schema, `limit`, one that passes) and
dbt unit tests (dict and csv fixtures, `overrides`, one failing), and a reader of the audit relations so
the rows dbt stored can be compared with the rows pipewatch stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Tests that store failures, tagged `pw_store` (ride on `pw_mixed_case`'s columns, see the suite).
STORE_TESTS = """\
          - not_null:
              name: pw_store_table
              config: {store_failures: true, tags: [pw_store]}
          - unique:
              name: pw_store_view
              config: {store_failures_as: view, schema: pw_audit, tags: [pw_store]}
"""
STORE_KIND_TESTS = """\
          - accepted_values:
              name: pw_store_limited
              arguments: {values: [a]}
              config: {store_failures: true, limit: 2, schema: pw_audit, tags: [pw_store]}
          - accepted_values:
              name: pw_store_passing
              arguments: {values: [a, b, c, d]}
              config: {store_failures: true, tags: [pw_store]}
          - accepted_values:
              name: pw_store_ephemeral
              arguments: {values: [a, b, c]}
              config: {store_failures_as: ephemeral, tags: [pw_store]}
"""
KINDS_MODEL = "select kind from {{ ref('pw_mixed_case') }}\n"
UNIT_MODEL = """\
select kind, count(*) as n, {{ var('pw_factor', 1) }} * count(*) as scaled
from {{ ref('pw_kinds') }}
group by kind
"""
UNIT_TESTS = """\
unit_tests:
  - name: pw_unit_dict_passes
    model: pw_unit_counts
    given:
      - input: ref('pw_kinds')
        rows:
          - {kind: a}
          - {kind: a}
          - {kind: b}
    expect:
      rows:
        - {kind: a, n: 2, scaled: 2}
        - {kind: b, n: 1, scaled: 1}
  - name: pw_unit_csv_overrides_passes
    model: pw_unit_counts
    overrides:
      vars: {pw_factor: 10}
    given:
      - input: ref('pw_kinds')
        format: csv
        rows: |
          kind
          a
          b
    expect:
      format: csv
      rows: |
        kind,n,scaled
        a,1,10
        b,1,10
  - name: pw_unit_fails
    model: pw_unit_counts
    given:
      - input: ref('pw_kinds')
        rows:
          - {kind: a}
    expect:
      rows:
        - {kind: a, n: 2, scaled: 2}
"""


def stored_relations(manifest: Path, ids: set[str] | None = None) -> dict[str, tuple[str, str, str]]:
    """(database, schema, identifier) of the audit relation of each test tagged `pw_store` (or of `ids`)."""
    nodes = json.loads(manifest.read_text())["nodes"]
    out = {}
    for uid, node in nodes.items():
        if node["resource_type"] != "test":
            continue
        if (ids is None and "pw_store" in node.get("tags", [])) or (ids is not None and uid in ids):
            out[uid] = (node["database"], node["schema"], node["alias"])
    return out


class AuditReader:
    """Reads and drops audit relations with the engine's own client (not pipewatch, not dbt)."""

    def __init__(self, engine: str, env: dict[str, str]) -> None:
        self.engine = engine
        self.env = env

    def _connect(self) -> Any:
        if self.engine == "duckdb":
            import duckdb

            return duckdb.connect(self.env["PW_IT_DUCKDB"])
        import psycopg2

        con = psycopg2.connect(
            host="127.0.0.1",
            port=int(self.env["PW_IT_PG_PORT"]),
            user=self.env["PW_IT_PG_USER"],
            password=self.env["DBT_ENV_SECRET_PW_IT_PG_PASSWORD"],
            dbname=self.env["PW_IT_PG_DB"],
        )
        con.autocommit = True
        return con

    def snapshot(self, relations: dict[str, tuple[str, str, str]]) -> dict[str, Any]:
        """Each relation's type (table/view), columns and rows (sorted, as text); None when absent."""
        out: dict[str, Any] = {}
        con = self._connect()
        try:
            cur = con.cursor()
            for uid, (_, schema, name) in sorted(relations.items()):
                cur.execute(
                    "select table_type from information_schema.tables where table_schema = %s and table_name = %s"
                    if self.engine == "postgres"
                    else "select table_type from information_schema.tables where table_schema = ? and table_name = ?",
                    (schema, name),
                )
                found = cur.fetchall()
                if not found:
                    out[uid] = None
                    continue
                cur.execute(f'select * from "{schema}"."{name}"')
                columns = [d[0] for d in cur.description]
                rows = sorted(json.dumps([str(v) for v in row]) for row in cur.fetchall())
                out[uid] = {"type": str(found[0][0]), "columns": columns, "rows": rows}
        finally:
            con.close()
        return out

    def drop(self, relations: dict[str, tuple[str, str, str]]) -> None:
        """Drop every relation (table or view) so the next run must write it again."""
        snapshot = self.snapshot(relations)
        con = self._connect()
        try:
            cur = con.cursor()
            for uid, (_, schema, name) in relations.items():
                if snapshot.get(uid):
                    kind = "view" if snapshot[uid]["type"] == "VIEW" else "table"
                    cur.execute(f'drop {kind} if exists "{schema}"."{name}"')
        finally:
            con.close()
