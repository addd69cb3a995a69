"""Synthesize the JSON log a `dbt build` would print, for builds too big to run for real.

The benchmark replays a 10,000-model build (`dbt build` of that would take an hour here) and the
tests need logs with chosen durations and failures. The schedule comes from the same list
scheduler the ETA uses (`Simulator.makespan(trace=...)`) with the *true* durations, so the log is
what dbt's own list scheduling would produce; the lines have the fields dbt 1.11 writes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping
from typing import Any

from pipewatch.lineage.graph import Graph
from pipewatch.live.simulate import Simulator

#: Result event per resource type, and the word dbt prints for a success.
_RESULT_EVENT = {"model": "LogModelResult", "seed": "LogSeedResult", "snapshot": "LogSnapshotResult"}


def log_line(
    name: str, invocation_id: str, ts: float, data: Mapping[str, Any], *, level: str = "info"
) -> bytes:
    """One dbt JSON log line (`info` + `data`) at POSIX time `ts`."""
    whole, frac = divmod(ts, 1.0)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int(frac * 1e6):06d}Z"
    info = {
        "name": name,
        "level": level,
        "ts": stamp,
        "invocation_id": invocation_id,
        "msg": "",
        "thread": "MainThread",
    }
    return json.dumps({"info": info, "data": dict(data)}).encode() + b"\n"


def _node_info(uid: str, kind: str, status: str) -> dict[str, Any]:
    return {"unique_id": uid, "resource_type": kind, "node_status": status, "node_name": uid.split(".")[2]}


def synthesize_log(
    graph: Graph,
    durations: Mapping[str, float],
    *,
    threads: int = 4,
    start: float = 1_800_000_000.0,
    invocation_id: str = "synthetic-invocation",
    statuses: Mapping[str, str] | None = None,
    skipped: Collection[str] = (),
) -> list[bytes]:
    """The log lines of a build of the nodes in `durations` (true seconds each), in time order.

    `statuses` overrides a node's result (`error`, `fail`, `warn`); nodes in `skipped` take no time
    and are reported as dbt reports skips (`SkippingDetails`). Ends with StatsLine and CommandCompleted.
    """
    statuses = statuses or {}
    skip = set(skipped)
    weights = {u: (0.0 if u in skip else s) for u, s in durations.items()}
    trace: list[tuple[str, float, float]] = []
    makespan = Simulator(graph, weights).makespan(threads, trace=trace)
    total = len(trace)
    timed: list[tuple[float, int, bytes]] = []
    kinds = graph.kinds
    index = graph.index
    for seq, (uid, s, e) in enumerate(trace):
        kind = kinds[index[uid]]
        if uid in skip:
            data = {"node_info": _node_info(uid, kind, "skipped"), "index": seq + 1, "total": total}
            timed.append(
                (start + s, 2 * seq + 1, log_line("SkippingDetails", invocation_id, start + s, data))
            )
            continue
        status = statuses.get(uid, "pass" if kind == "test" else "success")
        begin = {"node_info": _node_info(uid, kind, "started"), "index": seq + 1, "total": total}
        timed.append((start + s, 2 * seq, log_line("LogStartLine", invocation_id, start + s, begin)))
        done: dict[str, Any] = {
            "node_info": _node_info(uid, kind, status),
            "index": seq + 1,
            "execution_time": e - s,
            "status": status,
        }
        if kind == "test":
            done.update(num_models=total, num_failures=0 if status == "pass" else 3)
            name = "LogTestResult"
        else:
            done["total"] = total
            name = _RESULT_EVENT.get(kind, "LogModelResult")
        level = "error" if status in ("error", "fail") else "info"
        timed.append((start + e, 2 * seq + 1, log_line(name, invocation_id, start + e, done, level=level)))
    timed.sort(key=lambda t: (t[0], t[1]))
    end = start + makespan
    head = [
        log_line("MainReportVersion", invocation_id, start, {"version": "=1.11.0", "log_version": 3}),
        log_line("ConcurrencyLine", invocation_id, start, {"num_threads": threads, "node_count": total}),
    ]
    tail = [
        log_line("StatsLine", invocation_id, end, {"stats": {"total": total}}),
        log_line("CommandCompleted", invocation_id, end, {"success": not statuses}, level="debug"),
    ]
    return head + [line for _, _, line in timed] + tail
