"""dbt's generic tests as rule specs, so `pipewatch check --dbt-tests` runs them through the fused engine.

Each generic test node of the manifest becomes one check on the relation of the node it tests, with
the test's unique id as its check id, its `severity`, its `where` config as the table filter and its
`warn_if`/`error_if` as the threshold. Counts are dbt's `failures`:

* core `not_null`, `unique`, `accepted_values`, `relationships` (and the same names from a package that
  overrides them with dbt's semantics, as the pipewatch package does);
* dbt-utils `expression_is_true`, `accepted_range`, `unique_combination_of_columns`,
  `not_null_proportion` (one failing row when the share is out of bounds);
* the pipewatch package's tests (`pipewatch.range`, `pipewatch.matches`, ...), whose arguments are the
  rule file's.

Anything else (singular tests, other generic tests, a custom `fail_calc`, a `limit`, Jinja in
arguments, a column given as an SQL expression) is never guessed at: it runs as dbt runs it, its
compiled SQL wrapped as dbt's test materialization wraps it (`rules.dbt_sql`), with the reason it was not
fused. Nothing is left out: a test that cannot run at all is an `error`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from pipewatch.artifacts.model import Node, TestInfo
from pipewatch.errors import ConfigError
from pipewatch.rules.dbt_sql import SqlTest, sql_test
from pipewatch.rules.dbt_store import wants_store
from pipewatch.rules.dbt_test_builders import BUILDERS
from pipewatch.rules.dbt_test_context import TestContext, Unsupported, no_jinja, node_ref
from pipewatch.rules.results import SkippedCheck
from pipewatch.rules.spec import (
    Check,
    Location,
    RuleSet,
    TableRef,
    TableSpec,
)
from pipewatch.rules.sqltext import (
    ExternalRelationError,
    SqlTextError,
    name_key,
    parse_boolean,
)


@dataclass(slots=True)
class DbtTests:
    """The manifest's tests: fused as table specs (one per relation and `where`), or run as dbt SQL."""

    tables: list[TableSpec] = field(default_factory=list)
    sql_tests: list[SqlTest] = field(default_factory=list)
    skipped: list[SkippedCheck] = field(default_factory=list)  # kept for callers; nothing lands here now

    @property
    def ruleset(self) -> RuleSet:
        """The specs as a rule set the engine runs."""
        return RuleSet(tables=list(self.tables), files=["<dbt tests>"])

    @property
    def checks(self) -> list[Check]:
        """Every imported check."""
        return [c for t in self.tables for c in t.checks]


def dbt_test_rules(
    nodes: Mapping[str, Node],
    dialect: str = "duckdb",
    *,
    selected: Collection[str] | None = None,
    compiled: Mapping[str, str] | None = None,
    missing: str | None = None,
    store_failures: bool = False,
    read_only: str | None = None,
    recompiled: Mapping[str, str] | None = None,
) -> DbtTests:
    """Turn every test in `nodes` (a loaded run's manifest nodes; `selected` ids only, when given) into
    checks for `dialect`.

    Tests are taken in unique-id order; tests that cannot be fused run as dbt SQL: the manifest's
    compiled SQL, else `compiled[unique_id]` (run_results' copy, or SQL compiled by dbt for this run);
    `missing` says why a test that has neither could not be compiled. A test that stores its failures
    (its config, or `store_failures`: dbt's `--store-failures`) always runs as dbt SQL; `read_only` says
    why the warehouse cannot take them, when it cannot. `recompiled`: SQL dbt compiled for this run that
    replaces the manifest's (with `--store-failures`, dbt's SQL for a test depends on the flag).
    """
    out = DbtTests()
    groups: dict[tuple[tuple[str, ...], str], list[tuple[TableRef, str | None, Check, Node]]] = {}
    for uid in sorted(nodes):
        node = nodes[uid]
        if node.resource_type != "test" or node.test is None or not node.enabled:
            continue
        if selected is not None and uid not in selected:
            continue
        try:
            if wants_store(node.test, store_failures):
                raise Unsupported(
                    "store_failures: dbt writes the rows of the test's own SQL into the audit schema"
                )
            target, where, check = _import(node, node.test, nodes, dialect)
        except ExternalRelationError as exc:  # a hostile manifest: refused, not skipped
            raise ConfigError(f"{node.path}: test `{uid}`: {exc}") from None
        except Unsupported as why:
            code = (recompiled or {}).get(uid) or node.test.compiled_code or (compiled or {}).get(uid)
            out.sql_tests.append(
                sql_test(
                    node, nodes, str(why), code, missing, store_failures=store_failures, read_only=read_only
                )
            )
            continue
        key = (tuple(name_key(p, dialect) for p in target.parts), where or "")
        groups.setdefault(key, []).append((target, where, check, node))
    for items in groups.values():
        target, where, _, first = items[0]
        out.tables.append(
            TableSpec(
                target=target,
                checks=tuple(check for _, _, check, _ in items),
                where=where,
                loc=Location(first.path, 0),
            )
        )
    return out


def _import(
    node: Node, info: TestInfo, nodes: Mapping[str, Node], dialect: str
) -> tuple[TableRef, str | None, Check]:
    if not info.generic:
        raise Unsupported("singular test: its own SQL is not a check pipewatch can fuse (run it with dbt)")
    key = (info.namespace or "", info.name)
    build = BUILDERS.get(key) or (BUILDERS.get(("dbt_utils", info.name)) if not info.namespace else None)
    if build is None:
        label = f"{info.namespace}.{info.name}" if info.namespace else info.name
        raise Unsupported(f"generic test `{label}` has no pipewatch equivalent")
    if info.fail_calc is not None and "".join(info.fail_calc.split()).lower() != "count(*)":
        raise Unsupported(f"fail_calc `{info.fail_calc}`: pipewatch counts failing rows (count(*)) only")
    if info.limit is not None:
        raise Unsupported(f"limit {info.limit}: dbt counts at most that many rows of the test query")
    no_jinja(info.kwargs, "arguments")
    target = _tested_relation(info, nodes)
    where = info.where
    if where is not None:
        no_jinja(where, "`where`")
        try:
            parse_boolean(where, dialect, "`where`")
        except SqlTextError as exc:
            raise Unsupported(str(exc)) from None
    ctx = TestContext(node, info, nodes, dialect, target)
    return target, where, build(ctx)


def _tested_relation(info: TestInfo, nodes: Mapping[str, Node]) -> TableRef:
    if info.attached_node is None:
        raise Unsupported("dbt does not say which model this test is attached to")
    parent = nodes.get(info.attached_node)
    if parent is None:
        raise Unsupported(f"the tested node `{info.attached_node}` is not in the manifest")
    return node_ref(parent)
