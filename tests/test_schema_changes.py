"""Schema changes without dbt: the diff, type normalization, catalog provenance, column lineage of SQL
(stars, filters, unparsable SQL), history snapshots (first run, re-run, prune), the gate and the config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipewatch.analysis import analyze
from pipewatch.artifacts.catalog import CatalogColumn, CatalogTable, decode_catalog
from pipewatch.config import Config, SchemaSection, load_config
from pipewatch.errors import ConfigError
from pipewatch.history.recorder import ColumnsToRecord, record_run
from pipewatch.history.store import HistoryStore
from pipewatch.lineage import Graph
from pipewatch.schema_changes import ColumnChange, columns_digest, diff_columns
from pipewatch.schema_changes.column_lineage import analyze_sql
from pipewatch.schema_changes.impact import PARSE_BUDGET, SqlColumns, explains, schema_gate, trace_impact
from pipewatch.schema_changes.snapshot import catalog_refusal, take_snapshot
from pipewatch.schema_changes.tracking import SchemaTracking
from tests.factories import make_node, make_result, make_run

STG = "model.shop.stg_x"
T0 = 1_780_000_000.0


def cols(*spec: tuple[str, str]) -> tuple[CatalogColumn, ...]:
    return tuple(CatalogColumn(name, kind, i) for i, (name, kind) in enumerate(spec, start=1))


def table(uid: str, columns: tuple[CatalogColumn, ...]) -> CatalogTable:
    return CatalogTable(uid, "db", "main", uid.rsplit(".", 1)[-1], columns)


# --- the diff -------------------------------------------------------------------------------------


def test_added_dropped_and_retyped() -> None:
    old = cols(("id", "INTEGER"), ("y", "VARCHAR"), ("amount", "INTEGER"))
    new = cols(("id", "INTEGER"), ("amount", "VARCHAR"), ("z", "BOOLEAN"))
    changes = diff_columns({STG: old}, {STG: table(STG, new)}, "duckdb")
    assert [(c.column, c.change, c.old_type, c.new_type) for c in changes] == [
        ("y", "dropped", "VARCHAR", None),
        ("amount", "type_changed", "INTEGER", "VARCHAR"),
        ("z", "added", None, "BOOLEAN"),
    ]
    assert changes[0].phrase() == "stg_x dropped column y"


@pytest.mark.parametrize(
    ("dialect", "old", "new"),
    [
        ("postgres", "INT", "INTEGER"),
        ("postgres", "character varying", "VARCHAR"),
        ("duckdb", "int4", "integer"),
        ("bigquery", "INT64", "int64"),
        (None, "double precision", "DOUBLE"),
    ],
)
def test_spellings_of_one_type_are_no_change(dialect: str | None, old: str, new: str) -> None:
    changes = diff_columns({STG: cols(("a", old))}, {STG: table(STG, cols(("a", new)))}, dialect)
    assert changes == []


def test_a_drop_and_an_add_of_one_type_at_one_position_is_one_possible_rename() -> None:
    old = cols(("id", "INTEGER"), ("name", "VARCHAR"))
    new = cols(("id", "INT"), ("full_name", "character varying"))
    (change,) = diff_columns({STG: old}, {STG: table(STG, new)}, "postgres")
    assert (change.change, change.old_column, change.column) == ("possibly_renamed", "name", "full_name")
    assert change.read_name == "name" and change.breaks_readers


def test_a_drop_and_an_add_of_another_type_are_two_changes() -> None:
    old = cols(("id", "INTEGER"), ("name", "VARCHAR"))
    new = cols(("id", "INTEGER"), ("flag", "BOOLEAN"))
    changes = diff_columns({STG: old}, {STG: table(STG, new)}, "duckdb")
    assert [c.change for c in changes] == ["dropped", "added"]


def test_a_relation_without_previous_columns_has_no_changes() -> None:
    assert diff_columns({}, {STG: table(STG, cols(("a", "INT")))}) == []


names = st.lists(st.sampled_from(list("abcdefgh")), unique=True, max_size=8)
kinds = st.sampled_from(["INTEGER", "VARCHAR", "BOOLEAN", "DATE"])


@settings(max_examples=80, deadline=None)
@given(old=names, new=names, kind=kinds)
def test_diff_accounts_for_every_name(old: list[str], new: list[str], kind: str) -> None:
    before = cols(*[(n, kind) for n in old])
    after = cols(*[(n, kind) for n in new])
    changes = diff_columns({STG: before}, {STG: table(STG, after)}, "duckdb")
    gone = {c.read_name for c in changes if c.change in ("dropped", "possibly_renamed")}
    came = {c.column for c in changes if c.change in ("added", "possibly_renamed")}
    assert gone == set(old) - set(new) and came == set(new) - set(old)
    assert diff_columns({STG: after}, {STG: table(STG, after)}, "duckdb") == []
    assert (columns_digest(before) == columns_digest(after)) == (before == after)


# --- column lineage of SQL ------------------------------------------------------------------------

PARENTS = {("db", "main", "stg_x"): STG}
SCHEMA = {"db": {"main": {"stg_x": {"id": "UNKNOWN", "y": "UNKNOWN", "keep": "UNKNOWN"}}}}


def test_a_filter_reads_a_column_that_no_output_carries() -> None:
    parsed = analyze_sql('select id from "db"."main"."stg_x" where y > 0', PARENTS, SCHEMA, "duckdb")
    assert parsed is not None
    assert parsed.reads_column(STG, "y") and parsed.outputs_from(STG, "y") == []
    assert not parsed.reads_column(STG, "keep")


def test_select_star_carries_columns_on_through_ctes() -> None:
    sql = 'with s as (select * from "db"."main"."stg_x") select * from s'
    parsed = analyze_sql(sql, PARENTS, SCHEMA, "duckdb")
    assert parsed is not None and parsed.outputs_from(STG, "y") == ["y"]
    unknown = analyze_sql('select * from "db"."main"."stg_x"', PARENTS, {}, "duckdb")
    assert unknown is not None and unknown.outputs_from(STG, "anything") == ["anything"]


@pytest.mark.parametrize("sql", ["select from where ((", "{{ ref('x') }} select", ""])
def test_unparsable_sql_is_none(sql: str) -> None:
    assert analyze_sql(sql, PARENTS, SCHEMA, "duckdb") is None


def _two_model_run(child_sql: str | None) -> tuple[Any, Graph]:
    nodes = [
        make_node(STG),
        make_node("model.shop.child", depends_on=(STG,)),
        make_node("exposure.shop.dash", depends_on=("model.shop.child",), owner="bi@example.com"),
    ]
    child = msgspec.structs.replace(
        make_result("model.shop.child", "error", 'column "y" not found'), compiled_code=child_sql
    )
    run = make_run(nodes, [make_result(STG), child])
    return run, Graph.from_run(run)


def _trace_drop_of_y(
    child_sql: str, stg_columns: list[str], budget: int = PARSE_BUDGET
) -> tuple[ColumnChange, SqlColumns]:
    """Trace `stg_x` dropping `y` to a child with `child_sql`, `stg_x` having `stg_columns` (VARCHAR)."""
    run, graph = _two_model_run(child_sql)
    change = ColumnChange(STG, "db.main.stg_x", "y", "dropped", "VARCHAR")
    columns = {STG: list(cols(*((name, "INTEGER" if name == "id" else "VARCHAR") for name in stg_columns)))}
    code = {r.unique_id: r.compiled_code for r in run.results}.get
    sql = SqlColumns(run, graph, columns, code, "duckdb", budget)
    trace_impact([change], run, graph, sql)
    return change, sql


def test_unparsable_sql_falls_back_to_table_level() -> None:
    change, _ = _trace_drop_of_y("select y from stg_x where ((", ["id"])
    assert change.precision == "table" and change.downstream == ["model.shop.child"]
    assert change.exposures == ["exposure.shop.dash"] and change.owners == ["bi@example.com"]
    # Table-level: only a message naming the column ties a failure to the change.
    assert explains(change, "model.shop.child", 'column "y" not found', "code")
    assert not explains(change, "model.shop.child", "division by zero", "code")


def test_a_child_reading_other_columns_is_not_listed() -> None:
    change, sql = _trace_drop_of_y('select id from "db"."main"."stg_x"', ["id", "y"])
    assert change.downstream == [] and change.precision == "column"
    assert sql.parsed == 0  # its SQL never names `y`: not even parsed


def test_past_the_parse_budget_readers_are_listed_at_table_precision() -> None:
    # Parseable SQL that reads `y`: with a budget of 0 it is not parsed, yet still listed, never missed.
    change, sql = _trace_drop_of_y('select y from "db"."main"."stg_x"', ["id", "y"], budget=0)
    assert sql.parsed == 0 and sql.over_budget == 1
    assert change.precision == "table" and change.downstream == ["model.shop.child"]


# --- catalog provenance ---------------------------------------------------------------------------


def catalog_bytes(
    *,
    invocation: str = "other",
    generated_at: str = "2026-06-01T10:05:00Z",
    nodes: dict[str, Any] | None = None,
) -> bytes:
    default = {
        STG: {
            "unique_id": STG,
            "metadata": {"database": "db", "schema": "main", "name": "stg_x"},
            "columns": {"id": {"name": "id", "type": "INTEGER", "index": 1}},
        }
    }
    document = {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/catalog/v1.json",
            "generated_at": generated_at,
            "invocation_id": invocation,
        },
        "nodes": default if nodes is None else nodes,
        "sources": {},
    }
    return json.dumps(document).encode()


def built_run(*uids: str) -> Any:
    run = make_run([make_node(u) for u in uids], [make_result(u) for u in uids], elapsed=60.0)
    run.generated_at = 1_780_308_000.0  # 2026-06-01T10:00:00Z
    return run


def test_a_catalog_written_just_after_the_build_is_used() -> None:
    assert catalog_refusal(decode_catalog(catalog_bytes()), built_run(STG)) is None


def test_a_catalog_of_another_day_is_refused() -> None:
    refusal = catalog_refusal(
        decode_catalog(catalog_bytes(generated_at="2026-06-03T10:00:00Z")), built_run(STG)
    )
    assert refusal is not None and "after this build" in refusal


def test_a_catalog_of_an_earlier_build_is_refused() -> None:
    refusal = catalog_refusal(
        decode_catalog(catalog_bytes(generated_at="2026-05-31T10:00:00Z")), built_run(STG)
    )
    assert refusal is not None and "earlier build" in refusal


def test_a_catalog_of_another_project_is_refused_even_with_the_right_time() -> None:
    other = {"model.other.t": {"unique_id": "model.other.t", "metadata": {"name": "t"}, "columns": {}}}
    refusal = catalog_refusal(decode_catalog(catalog_bytes(nodes=other)), built_run(STG))
    assert refusal is not None and "another project" in refusal


def test_a_refused_catalog_means_no_snapshot_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "catalog.json").write_bytes(catalog_bytes(generated_at="2026-06-03T10:00:00Z"))
    snapshot, notes = take_snapshot(built_run(STG), tmp_path)
    assert snapshot is None and len(notes) == 1 and "not this build's" in notes[0]


def test_relations_missing_from_the_catalog_are_left_out_not_dropped(tmp_path: Path) -> None:
    (tmp_path / "catalog.json").write_bytes(catalog_bytes())
    snapshot, notes = take_snapshot(built_run(STG, "model.shop.other"), tmp_path)
    assert snapshot is not None and list(snapshot.tables) == [STG]
    assert any("1 relation(s) this build made are not in" in n and "model.shop.other" in n for n in notes)


def test_no_catalog_and_no_warehouse_is_a_note(tmp_path: Path) -> None:
    snapshot, notes = take_snapshot(built_run(STG), tmp_path)
    assert snapshot is None and "column snapshots skipped" in notes[0]


# --- history --------------------------------------------------------------------------------------


def _record(
    store: HistoryStore, invocation: str, at: float, columns: tuple[CatalogColumn, ...]
) -> SchemaTracking:
    run = make_run([make_node(STG)], [make_result(STG)], invocation_id=invocation)
    run.generated_at = at
    tables = {STG: table(STG, columns)}
    from pipewatch.schema_changes.model import Snapshot

    tracking = SchemaTracking(Snapshot("catalog", tables), Path("."), "duckdb")
    tracking.digests = {STG: columns_digest(columns)}
    recorded = record_run(store, run, columns=ColumnsToRecord(tables, tracking.digests, "catalog"))
    tracking.compare(recorded.previous_columns, recorded.known_relations)
    return tracking


def test_first_run_then_a_change_then_a_rerun(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.duckdb")
    first = _record(store, "inv-1", T0, cols(("id", "INTEGER"), ("y", "VARCHAR")))
    assert first.changes == [] and any("first column snapshot" in n for n in first.notes)
    second = _record(store, "inv-2", T0 + 60, cols(("id", "INTEGER")))
    assert [(c.column, c.change) for c in second.changes] == [("y", "dropped")]
    again = _record(store, "inv-2", T0 + 60, cols(("id", "INTEGER")))  # the same artifacts, after-run again
    assert [(c.column, c.change) for c in again.changes] == [("y", "dropped")]
    with store.connect(create=False) as con:
        assert con.execute("SELECT count(*) FROM column_snapshots").fetchone() == (2,)
        assert con.execute("SELECT count(*) FROM column_sets").fetchone() == (2,)
    pruned = store.prune(30, now=T0 + 60)
    assert pruned.column_snapshots == 1
    with store.connect(create=False) as con:
        assert con.execute("SELECT count(*) FROM column_sets").fetchone() == (1,)


# --- gate and config ------------------------------------------------------------------------------


def test_gate_reasons_follow_fail_on() -> None:
    dropped = ColumnChange(STG, "r", "y", "dropped", "VARCHAR")
    renamed = ColumnChange(STG, "r", "z", "possibly_renamed", "INT", "INT", "w")
    added = ColumnChange(STG, "r", "a", "added", None, "INT")
    assert schema_gate([dropped, renamed, added], []) == []
    (reason,) = schema_gate([dropped, renamed, added], ["dropped"])
    assert reason.startswith("2 column change(s)") and "stg_x dropped column y" in reason


def test_fail_on_without_a_snapshot_fails_closed() -> None:
    config = Config(schema=SchemaSection(fail_on=["dropped"]))
    run = built_run(STG)
    outcome = analyze(run, config, schema=SchemaTracking(None, Path("."), "duckdb"))
    assert not outcome.gate.passed
    assert any("no column snapshot" in r for r in outcome.gate.reasons)


@pytest.mark.parametrize(
    ("text", "enabled", "warehouse", "fail_on"),
    [
        ("schema: true\n", True, True, []),
        ("schema: false\n", False, False, []),
        ("schema:\n  fail_on: [dropped, type_changed]\n", True, False, ["dropped", "type_changed"]),
    ],
)
def test_schema_config(tmp_path: Path, text: str, enabled: bool, warehouse: bool, fail_on: list[str]) -> None:
    (tmp_path / "pipewatch.yml").write_text(text, encoding="utf-8")
    section = load_config(tmp_path, env={}).schema
    assert section is not None and (section.enabled, section.warehouse, section.fail_on) == (
        enabled,
        warehouse,
        fail_on,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("schema:\n  fail_on: [dropd]\n", r"pipewatch\.yml:2: .*schema\.fail_on"),
        (
            "schema:\n  fial_on: [dropped]\n",
            r"pipewatch\.yml:2: unknown key 'schema\.fial_on' \(did you mean 'fail_on'\?\)",
        ),
        ("schema: 3\n", r"pipewatch\.yml:1: `schema` must be true, false, or a mapping"),
    ],
)
def test_bad_schema_config_is_one_line(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "pipewatch.yml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected):
        load_config(tmp_path, env={})


def test_an_unchanged_build_does_not_import_sqlglot(tmp_path: Path) -> None:
    """Recording and comparing a snapshot whose columns did not change never needs sqlglot."""
    probe = f"""
import sys
from pathlib import Path
from pipewatch.artifacts.catalog import CatalogColumn, CatalogTable
from pipewatch.history.recorder import ColumnsToRecord, record_run
from pipewatch.history.store import HistoryStore
from pipewatch.schema_changes import columns_digest
from tests.factories import make_node, make_result, make_run
store = HistoryStore(Path({str(tmp_path / "h.duckdb")!r}))
columns = (CatalogColumn("id", "INTEGER", 1),)
tables = {{"{STG}": CatalogTable("{STG}", "db", "main", "stg_x", columns)}}
for n in (1, 2):
    run = make_run([make_node("{STG}")], [make_result("{STG}")], invocation_id=f"inv-{{n}}")
    run.generated_at = {T0} + n
    recorded = record_run(store, run, columns=ColumnsToRecord(tables, {{"{STG}": columns_digest(columns)}}, "catalog"))
    assert recorded.previous_columns == {{}}
print(sorted(m for m in sys.modules if m.startswith("sqlglot")))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).parents[1],
    )
    assert done.stdout.strip() == "[]", done.stderr


def test_every_catalog_of_the_corpus_loads(corpus: Path) -> None:
    """Real catalogs of dbt 0.19 to 1.12 on six warehouses: every relation and column, 1-based positions."""
    from pipewatch.artifacts.catalog import load_catalog

    paths = sorted((corpus / "catalog").rglob("*.json"))
    assert paths
    for path in paths:
        raw = json.loads(path.read_text(encoding="utf-8"))
        loaded = load_catalog(path)
        assert loaded.schema_version == 1 and loaded.warnings == []
        expected = {**(raw.get("sources") or {}), **raw["nodes"]}
        assert set(loaded.tables) == set(expected)
        for uid, table in loaded.tables.items():
            assert [c.name for c in table.columns] == [
                c["name"] for c in sorted(expected[uid]["columns"].values(), key=lambda c: c["index"])
            ]
            assert all(c.position >= 1 for c in table.columns)


@pytest.mark.parametrize("dialect", ["postgres", "duckdb", "snowflake", "bigquery"])
def test_the_information_schema_query_takes_names_only_as_literals(dialect: str) -> None:
    from sqlglot import exp, parse_one

    from pipewatch.schema_changes.warehouse_columns import columns_query

    hostile = "main'; DROP TABLE x; --"
    sql = columns_query("db", hostile, ["Orders", "x'y"]).sql(dialect)
    tree = parse_one(sql, read=dialect)
    literals = {lit.this for lit in tree.find_all(exp.Literal) if lit.is_string}
    assert {hostile.lower(), "orders", "x'y", "db"} <= literals
    assert not any(isinstance(node, (exp.Drop, exp.Command)) for node in tree.walk())
