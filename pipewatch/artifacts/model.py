"""The normalized model every part of pipewatch past `artifacts/` works with.

Whatever dbt version wrote the artifacts, they end up as one `Run` holding `Node`s (from the
manifest), `NodeResult`s (from run_results) and `SourceFreshness` results (from sources.json).
Nothing outside `pipewatch.artifacts` knows a schema version.

The per-node classes are frozen msgspec Structs rather than dataclasses: a large manifest makes
tens of thousands of them, and Structs build about three times faster than frozen dataclasses
(`gc=False` is safe because they never form reference cycles).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

#: Statuses as they appear in run_results, lower-cased; `runtime error` folds into `error`.
FAILED_STATUSES = frozenset({"error", "fail"})
#: Statuses that mean a node produced something usable.
OK_STATUSES = frozenset({"success", "pass", "warn", "no-op", "reused"})


def normalize_status(raw: str | None) -> str:
    """Map a raw dbt status to pipewatch's normalized spelling (lower-case, `runtime error` -> `error`).

    Unknown statuses are kept as they are (lower-cased), never refused: dbt adds new ones within a
    schema version (`partial success` in 1.9, `no-op` in 1.10, `reused` in 1.12).
    """
    if raw is None:
        return "unknown"
    status = str(raw).strip().lower()
    if status in ("runtime error", "runtimeerror", "runtime_error"):
        return "error"
    return status or "unknown"


class TestInfo(msgspec.Struct, frozen=True, gc=False):
    """What a dbt test node tests: the generic test's name and arguments, or a singular test."""

    name: str  # generic test name (`not_null`, `accepted_values`, ...) or the node name if singular
    namespace: str | None  # `dbt_utils` for dbt_utils.expression_is_true, None for core tests
    kwargs: dict[str, Any]
    column_name: str | None
    attached_node: str | None  # the model/source unique id the test is attached to, when dbt says
    severity: str  # `error` or `warn` (lower-case)
    where: str | None
    fail_calc: str | None
    warn_if: str | None
    error_if: str | None
    generic: bool  # False for singular (data) tests
    limit: int | None = None  # dbt's `limit` config: the test query's rows are capped before counting
    compiled_code: str | None = None  # the test's SQL as dbt compiled it, when the manifest has it
    store_failures: bool | None = None  # dbt's `store_failures` config (None: unset, the CLI flag decides)
    store_failures_as: str | None = None  # `table`, `view` or `ephemeral` (dbt normalizes it with the above)


class Node(msgspec.Struct, frozen=True, gc=False):
    """One manifest node: model, seed, snapshot, test, source, exposure, metric, analysis, ..."""

    unique_id: str
    resource_type: str
    name: str
    package: str
    path: str  # original_file_path, relative to the project (or package) root
    database: str | None
    schema: str | None
    alias: str | None  # the table name dbt built (identifier for sources)
    materialization: str | None
    tags: tuple[str, ...]
    owner: str | None  # meta.owner, else the group's owner, else the exposure's owner
    depends_on: tuple[str, ...]  # unique ids of the node's parents (depends_on.nodes)
    meta: dict[str, Any] = msgspec.field(default_factory=dict)
    group: str | None = None
    test: TestInfo | None = None
    enabled: bool = True
    compiled_path: str | None = None

    @property
    def relation(self) -> str | None:
        """`database.schema.alias` as dbt built it, skipping parts that are empty; None if not a table."""
        parts = [p for p in (self.database, self.schema, self.alias) if p]
        if not self.alias or self.materialization == "ephemeral":
            return None
        return ".".join(parts)


class AdapterResponse(msgspec.Struct, frozen=True, gc=False):
    """The part of dbt's adapter_response pipewatch uses; missing values are None."""

    rows_affected: int | None = None
    bytes_processed: int | None = None
    query_id: str | None = None
    code: str | None = None
    message: str | None = None


class NodeResult(msgspec.Struct, frozen=True, gc=False):
    """One entry of run_results: how one node fared in this invocation."""

    unique_id: str
    status: str  # normalized: success, error, skipped, fail, warn, pass, or dbt's unknown newcomers
    message: str | None
    failures: int | None
    execution_time: float
    thread_id: str | None
    compile_started: float | None  # POSIX seconds, UTC
    compile_completed: float | None
    execute_started: float | None
    execute_completed: float | None
    adapter_response: AdapterResponse
    compiled_code: str | None = None
    relation_name: str | None = None

    @property
    def started(self) -> float | None:
        """When the node's work began (compile start, else execute start)."""
        return self.compile_started if self.compile_started is not None else self.execute_started

    @property
    def completed(self) -> float | None:
        """When the node's work ended (execute end, else compile end)."""
        return self.execute_completed if self.execute_completed is not None else self.compile_completed


class SourceFreshness(msgspec.Struct, frozen=True, gc=False):
    """One entry of sources.json: a source's freshness check."""

    unique_id: str
    status: str  # pass, warn, error (stale beyond error_after), runtime error -> error
    max_loaded_at: float | None  # POSIX seconds
    snapshotted_at: float | None
    age_s: float | None  # max_loaded_at_time_ago_in_s
    warn_after_s: float | None
    error_after_s: float | None
    message: str | None
    execution_time: float | None


@dataclass(slots=True)
class Run:
    """One dbt invocation as pipewatch sees it: the manifest's graph plus what ran and how."""

    invocation_id: str | None
    dbt_version: str | None
    generated_at: float | None  # POSIX seconds of run_results (else manifest)
    elapsed_time: float | None
    command: str | None  # `build`, `run`, `test`, `seed`, `snapshot`, `run-operation`, ...
    select: tuple[str, ...]
    target: str | None
    adapter_type: str | None
    project_name: str | None
    schema_versions: dict[str, int]  # {"manifest": 12, "run_results": 6, "sources": 3}
    nodes: dict[str, Node]  # every node, source, exposure, metric... by unique id
    results: list[NodeResult]
    freshness: list[SourceFreshness]
    parent_map: dict[str, tuple[str, ...]] | None = None  # when the manifest has one
    child_map: dict[str, tuple[str, ...]] | None = None
    groups: dict[str, str | None] = field(default_factory=dict)  # group unique id -> owner
    warnings: list[str] = field(default_factory=list)
    disabled: frozenset[str] = field(default_factory=frozenset)  # ids of disabled nodes (not in `nodes`)

    #: `result_by_id`'s last answer, with the results list (and its length) it was built from.
    _by_id: tuple[list[NodeResult], int, dict[str, NodeResult]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def result_by_id(self) -> dict[str, NodeResult]:
        """Results keyed by unique id (the last one wins if dbt ran a node twice).

        Built once per results list (every analysis step asks for it; a list replaced or grown
        since is noticed). Callers must not change the dict.
        """
        cached = self._by_id
        if cached is not None and cached[0] is self.results and cached[1] == len(self.results):
            return cached[2]
        by_id = {r.unique_id: r for r in self.results}
        self._by_id = (self.results, len(self.results), by_id)
        return by_id
