"""dbt's `store_failures`: a test's failing rows written into the audit schema, then counted from there.

dbt's test materialization (dbt-core `materializations/tests/test.sql`), for a test whose
`should_store_failures()` holds (its `store_failures` config, else the `--store-failures` flag; dbt's
`TestConfig` already made `store_failures_as: table|view` imply it and `ephemeral` deny it):

1. before any test runs, creates the schemas of the relations it will write (`create_schemas`);
2. drops the relation named by the test's alias in the test node's schema (`<target schema>_<config
   schema, default dbt_test__audit>`), whatever its type (`adapter.get_relation` + `drop_relation`);
3. creates it as a table (default) or view (`store_failures_as`) from the test's SQL with its `limit`;
4. commits, and counts the failures from `select * from <that relation>` in its usual wrapper.

pipewatch does the same, with the DDL as sqlglot expressions quoted by dbt's relation quote policy (the
adapter's default, overridden by the project's `quoting:`). Only the test's own compiled SQL enters as
text, as dbt pastes it. Such a test never runs fused: its stored rows must be the rows of dbt's SQL.

What differs by engine is its row in `warehouse.dialects` (`relation_lookup`, `drop_cascade`,
`replace_view`): most
engines answer `get_relation` from information_schema and drop with `cascade`; Spark (dbt-spark) lists
`show table extended in <schema> like '<name>'` and drops without `cascade`, and creates views with
`create or replace view` (dbt-spark's `create_view_as`). A Spark table is `create table ... as`, with no
`using` clause, as dbt-spark writes it for a test (a test node carries no `file_format`), so both land
in the session's default format.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlglot import exp

from pipewatch.artifacts.model import Node, TestInfo
from pipewatch.warehouse.base import QueryError, Warehouse, render
from pipewatch.warehouse.dialects import engine_of

if TYPE_CHECKING:
    from pipewatch.rules.dbt_sql import SqlTest
    from pipewatch.rules.results import CheckResult

#: The values dbt's test materialization accepts for `store_failures_as` once it stores.
KINDS = ("table", "view")
#: Where the compiled SQL goes in a rendered CREATE (a name no relation of dbt's carries).
_BODY = "__pipewatch_dbt_test_sql__"
#: information_schema's `table_type` for a view; anything else there is dropped as a table, as dbt does.
_VIEW = "VIEW"
#: What dbt-spark reads in a `show table extended` row's `information` to call a relation a view.
_SPARK_VIEW = "Type: VIEW"
#: A name Spark's `LIKE` pattern (a case-insensitive regex but for `*` and `|`) matches only as itself.
_PLAIN = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Store:
    """Where and how dbt stores one test's failures: `kind` (table or view) and the relation's parts."""

    kind: str
    database: str | None
    schema: str
    identifier: str

    @property
    def label(self) -> str:
        """`db.schema.identifier`, for messages."""
        return ".".join(p for p in (self.database, self.schema, self.identifier) if p)


def store_of(node: Node, flag: bool) -> Store | None:
    """How dbt would store `node`'s failures (None: it would not): its config, else the `--store-failures`
    flag; ValueError for a `store_failures_as` dbt refuses, with dbt's list of accepted values."""
    info = node.test
    if info is None or not wants_store(info, flag):
        return None
    kind = (info.store_failures_as if info is not None else None) or "table"
    if kind not in KINDS:
        raise ValueError(
            f"`store_failures_as: {kind}` is not a valid value; dbt accepts ephemeral, table and view"
        )
    if not node.schema:
        raise ValueError("the manifest names no schema to store this test's failures in")
    return Store(kind, node.database, node.schema, node.alias or node.name)


def wants_store(info: TestInfo, flag: bool) -> bool:
    """dbt's `should_store_failures()`: the test's `store_failures` config when set, else the flag."""
    return info.store_failures if info.store_failures is not None else flag


def quote_policy(warehouse: Warehouse) -> Mapping[str, bool]:
    """dbt's quote policy for relations it creates (`database`, `schema`, `identifier`): the warehouse's
    when it knows it (a dbt profile: the adapter's default and the project's `quoting:`), else all quoted,
    dbt's default."""
    policy = getattr(warehouse, "quote_policy", None)
    return policy() if callable(policy) else {"database": True, "schema": True, "identifier": True}


def create_schemas(
    warehouse: Warehouse, stores: Iterable[Store], policy: Mapping[str, bool]
) -> dict[str, str]:
    """Create every audit schema once, before the tests run (concurrent `IF NOT EXISTS` races on
    PostgreSQL); returns the error by schema label for those that could not be created."""
    problems: dict[str, str] = {}
    seen = sorted({(s.database, s.schema) for s in stores}, key=lambda p: (p[0] or "", p[1]))
    for database, schema in seen:
        name = _ident(schema, policy.get("schema", True))
        db = _ident(database, policy.get("database", True)) if database and _cross_db(warehouse) else None
        try:
            warehouse.execute(exp.Create(this=exp.Table(this=name, db=db), kind="SCHEMA", exists=True))
            _commit(warehouse)
        except QueryError as exc:
            problems[_schema_label(Store("table", database, schema, ""))] = exc.message
    return problems


def run_stored(test: SqlTest, compiled: str, warehouse: Warehouse) -> CheckResult:
    """Store `test`'s failing rows as dbt does (drop, create, commit), then judge the count read back."""
    from pipewatch.rules.dbt_sql import judge, with_limit, wrap_test_sql

    store = test.store
    assert store is not None  # callers route only storing tests here
    info = test.node.test
    dialect = warehouse.dialect
    policy = quote_policy(warehouse)
    relation = _relation(store, policy)
    engine = engine_of(dialect)
    try:
        old = _existing_kind(warehouse, store, policy)
        if old is not None:
            cascade = engine.drop_cascade
            warehouse.execute(exp.Drop(tables=[relation.copy()], kind=old, exists=True, cascade=cascade))
        kind = store.kind.upper()
        head = render(
            exp.Create(
                this=relation.copy(),
                kind=kind,
                replace=kind == "VIEW" and engine.replace_view,
                expression=exp.Paren(this=exp.var(_BODY)),
            ),
            dialect,
        )
        before, _, after = head.rpartition(_BODY)
        warehouse.execute(f"{before}\n  {with_limit(compiled, info.limit if info else None)}\n  {after}")
        _commit(warehouse)
    except QueryError as exc:
        return test.result("error", message=f"storing failures in {store.label}: {exc.message}")
    main = render(exp.select("*").from_(relation), dialect)
    sql = wrap_test_sql(
        main,
        fail_calc=info.fail_calc if info else None,
        warn_if=info.warn_if if info else None,
        error_if=info.error_if if info else None,
    )
    try:
        got = warehouse.execute(sql)
    except QueryError as exc:
        return test.result("error", message=exc.message)
    return judge(test, got.columns, got.rows)


def _existing_kind(warehouse: Warehouse, store: Store, policy: Mapping[str, bool]) -> str | None:
    """`VIEW` or `TABLE`: the kind of relation already at `store`'s name, None when there is none (dbt's
    `adapter.get_relation`, which finds it the engine's way)."""
    if engine_of(warehouse.dialect).relation_lookup == "show_table_extended":
        return _spark_existing_kind(warehouse, store, policy)
    dialect = warehouse.dialect
    schema = _as_stored(store.schema, policy.get("schema", True), dialect)
    name = _as_stored(store.identifier, policy.get("identifier", True), dialect)
    where = exp.and_(
        exp.column("table_schema").eq(exp.Literal.string(schema)),
        exp.column("table_name").eq(exp.Literal.string(name)),
    )
    if store.database and _cross_db(warehouse):
        database = _as_stored(store.database, policy.get("database", True), dialect)
        where = exp.and_(where, exp.column("table_catalog").eq(exp.Literal.string(database)))
    query = exp.select("table_type").from_(exp.table_("tables", db="information_schema")).where(where)
    rows = warehouse.execute(query).rows
    if not rows:
        return None
    return "VIEW" if str(rows[0][0]).upper() == _VIEW else "TABLE"


def _spark_existing_kind(warehouse: Warehouse, store: Store, policy: Mapping[str, bool]) -> str | None:
    """dbt-spark's `get_relation`: `show table extended in <schema> like <pattern>` (its
    `list_relations_without_caching`, the pattern narrowed to the name when the name is a plain word),
    the row of that schema and name (Spark's catalog folds case), a view when its `information` says
    `Type: VIEW`. sqlglot has no SHOW expression for Spark: the statement is a Command whose schema and
    pattern are sqlglot-rendered identifier and string literal."""
    dialect = warehouse.dialect
    schema = _ident(store.schema, policy.get("schema", True))
    assert schema is not None  # store_of refuses a test without a schema
    pattern = store.identifier if _PLAIN.fullmatch(store.identifier) else "*"
    text = f"TABLE EXTENDED IN {render(schema, dialect)} LIKE {render(exp.Literal.string(pattern), dialect)}"
    show = exp.Command(this="SHOW", expression=text)
    got = warehouse.execute(show)
    if len(got.columns) != 4:  # dbt-spark unpacks each row as (schema, name, is temporary, information)
        raise QueryError(
            f"SHOW TABLE EXTENDED returned {len(got.columns)} columns, expected 4", render(show, dialect)
        )
    for namespace, name, _, information in got.rows:
        same = str(namespace).casefold() == store.schema.casefold()
        if same and str(name).casefold() == store.identifier.casefold():
            return "VIEW" if _SPARK_VIEW in str(information) else "TABLE"
    return None


def _relation(store: Store, policy: Mapping[str, bool]) -> exp.Table:
    return exp.Table(
        this=_ident(store.identifier, policy.get("identifier", True)),
        db=_ident(store.schema, policy.get("schema", True)),
        catalog=_ident(store.database, policy.get("database", True)) if store.database else None,
    )


def _ident(name: str | None, quoted: bool) -> exp.Identifier | None:
    return exp.to_identifier(name, quoted=quoted) if name else None


def _as_stored(name: str, quoted: bool, dialect: str) -> str:
    """The name as the catalog keeps it: quoted names exactly, others folded as the engine folds them."""
    from pipewatch.rules.sqltext import name_key

    return name if quoted else name_key(name, dialect)


def _cross_db(warehouse: Warehouse) -> bool:
    """Whether dbt names a schema with its database on this engine (not on PostgreSQL or Redshift)."""
    return engine_of(warehouse.dialect).schema_database


def _commit(warehouse: Warehouse) -> None:
    """Commit what this connection wrote, as dbt's materialization does (a no-op on autocommit engines)."""
    commit = getattr(warehouse, "commit", None)
    if callable(commit):
        commit()


def prepare_stores(warehouse: Warehouse, tests: list[SqlTest]) -> list[SqlTest]:
    """`tests` after creating the audit schemas of those that store failures; a test whose schema could
    not be created cannot run, and says why."""
    import dataclasses

    policy = quote_policy(warehouse)
    storing = [t.store for t in tests if t.store is not None and t.sql is not None]
    problems = create_schemas(warehouse, [s for s in storing if s is not None], policy)
    out = []
    for test in tests:
        store = test.store
        problem = problems.get(_schema_label(store)) if store is not None and test.sql is not None else None
        if problem is not None:
            test = dataclasses.replace(
                test, sql=None, problem=f"cannot create schema for stored failures: {problem}"
            )
        out.append(test)
    return out


def _schema_label(store: Store | None) -> str:
    return ".".join(p for p in (store.database, store.schema) if p) if store is not None else ""
