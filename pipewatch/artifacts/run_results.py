"""run_results.json (schema v1–v6, and unstamped pre-0.19 files) -> `RunResults` of `NodeResult`s.

Before dbt 0.19 a result embedded its whole node and said what happened through `error`,
`skip`, `fail` and `warn` flags (its `status` was the adapter's message, or a test's failure
count); from v1 on `status` is the outcome and `unique_id` stands alone. Both shapes decode
into the same Struct; `_status` reads whichever the file has.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from pipewatch.artifacts.decoding import (
    ArtifactMetadata,
    Buffer,
    Struct,
    as_str,
    decode_json,
    gc_paused,
    load_artifact,
    release_pages,
)
from pipewatch.artifacts.model import AdapterResponse, NodeResult, normalize_status
from pipewatch.artifacts.timestamps import to_posix
from pipewatch.artifacts.versions import check_schema
from pipewatch.errors import ArtifactError

#: Statuses dbt writes in run_results (normalized), for telling them from pre-0.19 adapter messages.
KNOWN_STATUSES = frozenset(
    {"success", "error", "skipped", "fail", "warn", "pass", "no-op", "reused", "partial success"}
)


class _Timing(Struct):
    name: str | None = None
    started_at: str | None = None
    completed_at: str | None = None


class _AdapterResponse(Struct):
    message: str | None = msgspec.field(default=None, name="_message")
    code: str | int | None = None
    rows_affected: int | float | None = None
    bytes_processed: int | float | None = None
    query_id: str | None = None
    job_id: str | None = None  # BigQuery's name for the query id


_EMPTY_RAW_RESPONSE = _AdapterResponse()


class _EmbeddedNode(Struct):
    """The node a pre-0.19 result carries whole; only its identity and SQL are read."""

    unique_id: str | None = None
    resource_type: str | None = None
    compiled_sql: str | None = None
    compiled_code: str | None = None
    relation_name: str | None = None


class _Result(Struct):
    unique_id: str | None = None
    node: _EmbeddedNode | None = None
    status: str | int | float | bool | None = None
    message: str | None = None
    error: str | None = None
    fail: bool | None = None
    warn: bool | None = None
    skip: bool | None = None
    failures: int | float | None = None
    execution_time: float | None = None
    thread_id: str | int | None = None
    timing: list[_Timing] | None = None
    adapter_response: _AdapterResponse | None = None
    compiled_code: str | None = None
    relation_name: str | None = None


class _Args(Struct):
    which: str | None = None
    rpc_method: str | None = None
    command: str | None = None
    select: list[str] | str | None = None
    models: list[str] | str | None = None
    target: str | None = None


class _RunResultsFile(Struct):
    metadata: ArtifactMetadata | None = None
    # Each result stays a view of the file's bytes until its turn (see `decode_run_results`).
    results: list[msgspec.Raw] | msgspec.UnsetType | None = msgspec.UNSET
    elapsed_time: float | None = None
    args: _Args | None = None
    generated_at: str | None = None  # pre-0.19 files put it at the top level


@dataclass(slots=True)
class RunResults:
    """A loaded run_results.json: what one dbt invocation ran and how each node fared."""

    path: str
    schema_version: int  # 0 when the file carries no (recognizable) schema stamp
    dbt_version: str | None
    invocation_id: str | None
    generated_at: float | None
    elapsed_time: float | None
    command: str | None
    select: tuple[str, ...]
    target: str | None
    results: list[NodeResult]
    warnings: list[str] = field(default_factory=list)


def load_run_results(path: Path | str) -> RunResults:
    """Load a dbt run_results.json of any schema version; raise ArtifactError if it is not one."""
    return load_artifact(path, "run_results", decode_run_results)


@gc_paused()
def decode_run_results(data: Buffer, source: str = "<run_results>") -> RunResults:
    """Decode run_results.json bytes; `source` names the file in errors and warnings.

    Like the manifest, in two passes: the document is checked and split into results, then each
    result is decoded on its own, so the decoded entries of the whole file never exist at once.
    """
    raw = decode_json(data, _RunResultsFile, source, "run_results")
    release_pages(data)
    meta = raw.metadata or ArtifactMetadata()
    raw_results = raw.results
    version, warnings = check_schema(
        meta.dbt_schema_version, "run_results", source, has_shape=raw_results is not msgspec.UNSET
    )
    results: list[NodeResult] = []
    anonymous = 0
    decode = _RESULT_DECODER.decode
    for position, entry in enumerate(raw_results or ()):
        try:
            decoded = decode(entry)
        except msgspec.MsgspecError as exc:
            text = " ".join(str(exc).split()).replace("`$", f"`$.results[{position}]")
            raise ArtifactError(source, f"not a valid dbt run_results: {text}") from None
        result = _to_result(decoded, legacy=version == 0)
        if result is None:
            anonymous += 1
        else:
            results.append(result)
    if anonymous:
        warnings.append(f"{source}: skipped {anonymous} result(s) without a unique_id")
    args = raw.args or _Args()
    return RunResults(
        path=source,
        schema_version=version,
        dbt_version=meta.dbt_version,
        invocation_id=meta.invocation_id,
        generated_at=to_posix(meta.generated_at or raw.generated_at),
        elapsed_time=_seconds(raw.elapsed_time),
        command=args.which or args.command or args.rpc_method,
        select=_selection(args.select if args.select is not None else args.models),
        target=args.target,
        results=results,
        warnings=warnings,
    )


_RESULT_DECODER = msgspec.json.Decoder(_Result)


def _seconds(value: float | None) -> float | None:
    # `+ 0.0` turns dbt Fusion's `-0.0` into `0.0`.
    return None if value is None else value + 0.0


def _selection(value: list[str] | str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    return tuple(value)


#: Messages up to this long are shared between results (long ones are each their own).
_SHORT = 40

# A run has a handful of distinct statuses; normalizing each once keeps it off the per-result path.
_normalized: dict[str, str] = {}


def _to_result(raw: _Result, legacy: bool) -> NodeResult | None:
    node = raw.node
    unique_id = raw.unique_id or (node.unique_id if node else None)
    if not unique_id:
        return None
    compile_started = compile_completed = execute_started = execute_completed = None
    for timing in raw.timing or ():
        if timing.name == "compile":
            compile_started, compile_completed = to_posix(timing.started_at), to_posix(timing.completed_at)
        elif timing.name == "execute":
            execute_started, execute_completed = to_posix(timing.started_at), to_posix(timing.completed_at)
    raw_status = raw.status
    if not legacy and type(raw_status) is str:
        status = _normalized.get(raw_status)
        if status is None:
            status = normalize_status(raw_status)
            if len(_normalized) < 256:
                _normalized[raw_status] = status
        failures = raw.failures if type(raw.failures) is int else _count(raw.failures)
        message = raw.message or raw.error
        if message is not None and len(message) <= _SHORT:
            message = sys.intern(message)  # `OK`, `SELECT 1`: thousands of copies otherwise
    else:
        status, failures, message = _status(raw, legacy, node.resource_type if node else None, unique_id)
    compiled = raw.compiled_code or (node.compiled_code or node.compiled_sql if node else None)
    thread_id = raw.thread_id
    # Positional, in `NodeResult`'s field order (a keyword call to a Struct costs ~10x; once per result).
    return NodeResult(
        # unique_id: the same string as the manifest's node (interned there), not a copy per artifact.
        sys.intern(unique_id),
        status,
        message,
        failures,
        _seconds(raw.execution_time) or 0.0,  # execution_time
        sys.intern(thread_id) if type(thread_id) is str else as_str(thread_id),  # thread_id
        compile_started,
        compile_completed,
        execute_started,
        execute_completed,
        _adapter_response(raw.adapter_response),  # adapter_response
        compiled,  # compiled_code
        raw.relation_name or (node.relation_name if node else None),  # relation_name
    )


def _count(value: int | float | bool | str | None) -> int | None:
    if value is None or isinstance(value, (bool, str)):
        return None
    try:
        return int(value)
    except (OverflowError, ValueError):  # inf / nan
        return None


def _status(
    raw: _Result, legacy: bool, resource_type: str | None, unique_id: str
) -> tuple[str, int | None, str | None]:
    """(normalized status, failures, message) from a modern or a pre-0.19 result."""
    failures = _count(raw.failures)
    message = raw.message or raw.error
    if not legacy and (raw.status is None or isinstance(raw.status, str)):
        return normalize_status(raw.status), failures, message
    # Pre-0.19 (or a drifted status): the flags say what happened; `status` held the adapter's
    # message for models and the failure count for tests.
    text = raw.status if isinstance(raw.status, str) else None
    if failures is None and not isinstance(raw.status, bool):
        failures = _count(raw.status)
    if raw.error:
        status = "error"
    elif raw.skip:
        status = "skipped"
    elif raw.fail:
        status = "fail"
    elif raw.warn:
        status = "warn"
    elif text is not None and normalize_status(text) in KNOWN_STATUSES:
        status = normalize_status(text)
    elif (resource_type or unique_id.split(".", 1)[0]) == "test":
        status = "fail" if failures else "pass"
    else:
        status = "success"
    if message is None and text is not None and normalize_status(text) not in KNOWN_STATUSES:
        message = text
    return status, failures, message


_NO_RESPONSE = AdapterResponse()


def _adapter_response(raw: _AdapterResponse | None) -> AdapterResponse:
    if raw is None or raw == _EMPTY_RAW_RESPONSE:
        return _NO_RESPONSE  # frozen, so one shared instance serves every empty `{}`
    rows = _count(raw.rows_affected)
    key = (
        # dbt-postgres and others write -1 for "not known" (e.g. CREATE VIEW); that is not a row count.
        rows if rows is not None and rows >= 0 else None,
        _count(raw.bytes_processed),
        raw.query_id or raw.job_id,
        raw.code if type(raw.code) is str else as_str(raw.code),
        raw.message,
    )
    # Responses repeat a lot (`OK`, `CREATE VIEW`, `SELECT 1`); the frozen objects can be shared.
    response = _responses.get(key)
    if response is None:
        response = AdapterResponse(*key)
        if len(_responses) < 4096:
            _responses[key] = response
    return response


_responses: dict[tuple[int | None, int | None, str | None, str | None, str | None], AdapterResponse] = {}
