"""Builders for hand-made test inputs: manifest `Node`s, `NodeResult`s, a `Run` over both, quality checks.

Each builder takes what identifies the object (a unique id, a status, a check type) and fills every
other field with a plain default, so a test names only the fields it is about. The resource type,
package and name come from the unique id by the same rule pipewatch uses for nodes missing from a
manifest (`stub_node`).

Runs for the history store (timed series of results with row counts and no manifest) come from
`pipewatch.history.testing`, which the benchmarks share; these builders are for runs whose graph,
messages or owners matter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pipewatch.artifacts.model import AdapterResponse, Node, NodeResult, Run, TestInfo
from pipewatch.artifacts.stubs import stub_node
from pipewatch.rules.results import CheckResult, QualityReport, TableResult

#: The schema versions a run of dbt 1.11 loads with (manifest and run_results).
SCHEMA_VERSIONS = {"manifest": 12, "run_results": 6}


def make_node(
    uid: str,
    *,
    resource_type: str | None = None,
    name: str | None = None,
    package: str | None = None,
    path: str | None = None,
    database: str | None = "db",
    schema: str | None = "main",
    alias: str | None = None,
    materialization: str | None = "table",
    tags: tuple[str, ...] = (),
    owner: str | None = None,
    depends_on: tuple[str, ...] = (),
    test: TestInfo | None = None,
) -> Node:
    """A manifest node: type, package and name from the id; path `models/<name>.sql`, alias the name."""
    known = stub_node(uid)
    name = name or known.name
    return Node(
        unique_id=uid,
        resource_type=resource_type or known.resource_type,
        name=name,
        package=known.package if package is None else package,
        path=f"models/{name}.sql" if path is None else path,
        database=database,
        schema=schema,
        alias=name if alias is None else alias,
        materialization=materialization,
        tags=tags,
        owner=owner,
        depends_on=depends_on,
        test=test,
    )


def make_test_info(
    name: str,
    *,
    attached_node: str | None = None,
    namespace: str | None = None,
    kwargs: dict[str, Any] | None = None,
    column_name: str | None = None,
    severity: str = "error",
    where: str | None = None,
    fail_calc: str | None = None,
    warn_if: str | None = None,
    error_if: str | None = None,
    generic: bool = True,
) -> TestInfo:
    """What a test node tests: a generic test `name` (attached to `attached_node`) unless `generic=False`."""
    return TestInfo(
        name=name,
        namespace=namespace,
        kwargs={} if kwargs is None else kwargs,
        column_name=column_name,
        attached_node=attached_node,
        severity=severity,
        where=where,
        fail_calc=fail_calc,
        warn_if=warn_if,
        error_if=error_if,
        generic=generic,
    )


def make_result(
    uid: str,
    status: str = "success",
    message: str | None = None,
    *,
    failures: int | None = None,
    execution_time: float = 1.0,
    thread_id: str | None = "Thread-1",
    span: tuple[float, float] | None = None,
) -> NodeResult:
    """A run_results entry; `span` is (compile start, execute end) in POSIX seconds, else no timings."""
    start, end = span if span is not None else (None, None)
    return NodeResult(
        unique_id=uid,
        status=status,
        message=message,
        failures=failures,
        execution_time=execution_time,
        thread_id=thread_id,
        compile_started=start,
        compile_completed=start,
        execute_started=start,
        execute_completed=end,
        adapter_response=AdapterResponse(),
    )


def make_run(
    nodes: Iterable[Node] = (),
    results: Iterable[NodeResult] = (),
    *,
    invocation_id: str | None = "inv-1",
    dbt_version: str | None = "1.11.0",
    command: str | None = "build",
    elapsed: float | None = None,
    project: str | None = "shop",
    schema_versions: Mapping[str, int] = SCHEMA_VERSIONS,
    parent_map: Mapping[str, tuple[str, ...]] | None = None,
    child_map: Mapping[str, tuple[str, ...]] | None = None,
) -> Run:
    """A `dbt build` on the duckdb `dev` target over the given nodes and results (no freshness)."""
    return Run(
        invocation_id=invocation_id,
        dbt_version=dbt_version,
        generated_at=None,
        elapsed_time=elapsed,
        command=command,
        select=(),
        target="dev",
        adapter_type="duckdb",
        project_name=project,
        schema_versions=dict(schema_versions),
        nodes={n.unique_id: n for n in nodes},
        results=list(results),
        freshness=[],
        parent_map=dict(parent_map) if parent_map is not None else None,
        child_map=dict(child_map) if child_map is not None else None,
    )


def make_check(
    check_type: str,
    column: str | None = None,
    *,
    name: str | None = None,
    check_id: str | None = None,
    relation: str = "main.orders",
    status: str = "pass",
    severity: str = "error",
    failing_rows: int | None = None,
    total_rows: int | None = None,
    metric: float | None = None,
    model: str | None = None,
) -> CheckResult:
    """One check's result; its name defaults to `<type>_<column>` and its id to `<relation>::<name>`."""
    name = name or (f"{check_type}_{column}" if column else check_type)
    return CheckResult(
        check_id=check_id or f"{relation}::{name}",
        name=name,
        type=check_type,
        relation=relation,
        column=column,
        status=status,
        severity=severity,
        failing_rows=failing_rows,
        total_rows=total_rows,
        metric=metric,
        model=model,
    )


def make_quality(checks: Iterable[CheckResult], *, relation: str = "main.orders") -> QualityReport:
    """A quality report of one table holding `checks`."""
    return QualityReport(tables=[TableResult(relation=relation, checks=list(checks))])
