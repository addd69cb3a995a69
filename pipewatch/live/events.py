"""dbt's structured log lines -> `DbtEvent`s, one line at a time.

dbt prints one JSON object per line with `--log-format json` (stdout, at level info by default)
and writes the same shape to `logs/dbt.log` with `--log-format-file json` (at level debug). Every
line holds `info` (name, level, ts, invocation_id, msg, thread) and `data` (the event's fields).
The shape is the same from dbt 1.5 through 1.11; only the Structs' declared fields are decoded,
msgspec skips the rest, so a node's `meta`, compiled SQL or adapter response is never built.

Unknown event names pass through as `kind == "other"`. A line that is not JSON (the file log's
`=== ts | invocation ===` banners, blank lines, text a wrapper printed) is counted as plain text;
a line that starts like JSON but does not decode (cut off by a crash) is counted as broken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from pipewatch.artifacts.model import normalize_status
from pipewatch.artifacts.timestamps import to_posix

#: Longest line the reader decodes; longer ones are counted broken (a runaway line must not
#: make a follower hold megabytes).
MAX_LINE_BYTES = 8 * 1024 * 1024


class _Info(msgspec.Struct):
    name: str = ""
    level: str = ""
    ts: str = ""
    invocation_id: str = ""
    msg: Any = None
    thread: Any = None


class _NodeInfo(msgspec.Struct):
    unique_id: str = ""
    resource_type: Any = None
    node_status: Any = None
    node_started_at: Any = None


class _RunResult(msgspec.Struct):
    status: Any = None
    message: Any = None
    execution_time: Any = None


# Field types are `Any` where dbt's types differ by version or event; they are checked on use.
class _Data(msgspec.Struct):
    node_info: _NodeInfo | None = None
    status: Any = None
    index: Any = None
    total: Any = None
    num_models: Any = None  # LogTestResult's name for `total`
    execution_time: Any = None
    num_failures: Any = None
    num_threads: Any = None
    node_count: Any = None
    version: Any = None
    success: Any = None
    unique_id: Any = None  # MarkSkippedChildren
    run_result: _RunResult | None = None  # NodeFinished, MarkSkippedChildren
    msg: Any = None  # RunResultError/RunResultFailure: the error text


class _Line(msgspec.Struct):
    info: _Info
    data: _Data | None = None


_decoder = msgspec.json.Decoder(_Line)


class _HeadInfo(msgspec.Struct):
    invocation_id: str = ""
    ts: str = ""


class _Head(msgspec.Struct):
    info: _HeadInfo | None = None


_head_decoder = msgspec.json.Decoder(_Head)


def line_head(line: bytes) -> tuple[str | None, float | None]:
    """(invocation id, POSIX time) of a JSON log line, decoding nothing else; (None, None) for
    text and broken lines. For the follower (where does the newest invocation start?) and replay."""
    body = line.strip()
    if not body.startswith(b"{") or len(body) > MAX_LINE_BYTES:
        return None, None
    try:
        info = _head_decoder.decode(body).info
    except msgspec.DecodeError:
        return None, None
    if info is None:
        return None, None
    return info.invocation_id or None, to_posix(info.ts)


#: dbt event name -> what it means for a watcher.
KINDS: dict[str, str] = {
    "MainReportVersion": "invocation_start",
    "ConcurrencyLine": "concurrency",
    "NodeStart": "node_start",
    "LogStartLine": "node_start",
    "LogModelResult": "node_result",
    "LogTestResult": "node_result",
    "LogSeedResult": "node_result",
    "LogSnapshotResult": "node_result",
    "LogNodeNoOpResult": "node_result",
    "LogFunctionResult": "node_result",
    "SkippingDetails": "node_result",
    "NodeFinished": "node_result",
    "MarkSkippedChildren": "skip_children",
    "RunResultError": "error_message",
    "RunResultFailure": "error_message",
    "RunResultWarningMessage": "error_message",
    # The last line of a run at info level, then (debug) CommandCompleted. EndRunResult is not
    # here: it comes before the error summaries (RunResultError) that carry the messages.
    "StatsLine": "command_done",
    "CommandCompleted": "command_done",
}

# Result words dbt prints (`data.status`) when `node_info.node_status` is absent (older dbt).
_WORDS = {"ok": "success", "skip": "skipped", "insert": "success", "create": "success"}


@dataclass(frozen=True, slots=True)
class DbtEvent:
    """One dbt log event, normalized: what the watcher needs and nothing more."""

    name: str  # dbt's event name (`LogModelResult`)
    kind: str  # see KINDS; "other" for everything else
    level: str
    ts: float | None  # POSIX seconds of the log line
    invocation_id: str
    msg: str  # dbt's human-readable line (may hold warehouse text: sanitize before printing)
    unique_id: str | None = None
    resource_type: str | None = None
    status: str | None = None  # normalized (success, error, fail, warn, pass, skipped, no-op)
    message: str | None = None  # error/failure text when the event carries one
    execution_time: float | None = None
    index: int | None = None
    total: int | None = None
    threads: int | None = None
    started_at: float | None = None  # node_info.node_started_at, when dbt says
    thread: str | None = None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _first_int(*values: Any) -> int | None:
    for value in values:
        if (number := _int(value)) is not None:
            return number
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _status(node_status: Any, word: Any) -> str | None:
    """The result status: node_info's (`success`, `error`, ...) else dbt's printed word (`OK`)."""
    for raw in (node_status, word):
        text = _text(raw)
        if text and text not in ("started", "None", "executing", "compiling"):
            low = normalize_status(text)
            head = low.split(" ", 1)[0]
            return _WORDS.get(head, low)
    return None


def to_event(line: _Line) -> DbtEvent:
    """Normalize one decoded line."""
    info = line.info
    data = line.data or _Data()
    kind = KINDS.get(info.name, "other")
    node = data.node_info
    uid = _text(node.unique_id) if node is not None else None
    status: str | None = None
    message = _text(data.msg)
    exec_time = _float(data.execution_time)
    if kind == "skip_children":
        uid = _text(data.unique_id)
        status = _status(data.status, None)
        rr = data.run_result
        message = _text(rr.message) if rr is not None else None
    elif kind == "node_result":
        status = _status(node.node_status if node else None, data.status)
        if info.name == "SkippingDetails":
            status = "skipped"
        rr = data.run_result
        if rr is not None:
            status = _status(rr.status, None) or status
            message = _text(rr.message)
            exec_time = _float(rr.execution_time) if exec_time is None else exec_time
        if info.name == "LogTestResult" and status in ("fail", "warn") and message is None:
            failures = _int(data.num_failures)
            if failures is not None:
                message = f"Got {failures} result{'s' if failures != 1 else ''}"
    return DbtEvent(
        name=info.name,
        kind=kind,
        level=info.level,
        ts=to_posix(info.ts),
        invocation_id=info.invocation_id,
        msg=info.msg if isinstance(info.msg, str) else "",
        unique_id=uid,
        resource_type=_text(node.resource_type) if node is not None else None,
        status=status,
        message=message,
        execution_time=exec_time,
        index=_int(data.index),
        total=_first_int(data.total, data.num_models, data.node_count),
        threads=_int(data.num_threads),
        started_at=to_posix(_text(node.node_started_at)) if node is not None else None,
        thread=_text(info.thread),
    )


@dataclass(slots=True)
class ReaderStats:
    """What the reader saw besides events: skipped lines by reason."""

    lines: int = 0
    events: int = 0
    plain_text: int = 0  # not JSON at all (banners, blank lines, wrapper output)
    broken: int = 0  # JSON-looking but undecodable (cut off), or too long
    by_name: dict[str, int] = field(default_factory=dict)


class EventReader:
    """Decodes dbt log lines one at a time; keeps counts, never the lines."""

    def __init__(self) -> None:
        """Start with zero counts."""
        self.stats = ReaderStats()

    def feed(self, line: bytes | str) -> DbtEvent | None:
        """Decode one line (with or without its newline); None for plain-text and broken lines."""
        stats = self.stats
        stats.lines += 1
        raw = line.encode("utf-8", "replace") if isinstance(line, str) else line
        body = raw.strip()
        if not body.startswith(b"{"):
            stats.plain_text += 1
            return None
        if len(body) > MAX_LINE_BYTES:
            stats.broken += 1
            return None
        try:
            decoded = _decoder.decode(body)
        except msgspec.DecodeError:
            stats.broken += 1
            return None
        stats.events += 1
        stats.by_name[decoded.info.name] = stats.by_name.get(decoded.info.name, 0) + 1
        return to_event(decoded)


def read_events(lines: Any, reader: EventReader | None = None) -> list[DbtEvent]:
    """Every event of an iterable of lines (a small recorded log): for tests and one-shot reads."""
    reader = reader or EventReader()
    return [e for line in lines if (e := reader.feed(line)) is not None]
