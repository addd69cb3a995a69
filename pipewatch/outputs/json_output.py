"""The JSON of `pipewatch after-run --format json` and of `pipewatch check` (contracts: docs/contracts.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from pipewatch import __version__
from pipewatch.outputs.wording import iso_utc

if TYPE_CHECKING:  # `pipewatch check` renders JSON without loading the run analysis
    from pipewatch.analysis import Outcome
    from pipewatch.live.simulate import WhatIf
    from pipewatch.rules.results import QualityReport
    from pipewatch.schema_changes.model import ColumnChange


def quality_dict(quality: QualityReport | None) -> dict[str, Any] | None:
    """The `quality` object of the JSON contract (None when no rules ran)."""
    if quality is None:
        return None
    return {
        "score": round(quality.score, 6),
        "dialect": quality.dialect,
        "elapsed_s": round(quality.elapsed_s, 6),
        "tables": [
            {
                "relation": table.relation,
                "model": table.model,
                "score": round(table.score, 6),
                "checks": [
                    {
                        "id": check.check_id,
                        "name": check.name,
                        "type": check.type,
                        "column": check.column,
                        "status": check.status,
                        "severity": check.severity,
                        "failing_rows": check.failing_rows,
                        "total_rows": check.total_rows,
                        "threshold": check.threshold,
                        "message": check.message,
                        "samples": check.samples,
                        "sql": check.sql,
                        "engine": check.engine,
                    }
                    for check in table.checks
                ],
            }
            for table in quality.tables
        ],
        "engines": quality.engines(),
        # Checks asked for but not run (singular or unsupported dbt tests), each with the reason.
        "skipped": [
            {"id": s.check_id, "name": s.name, "model": s.model, "reason": s.reason} for s in quality.skipped
        ],
    }


#: How many entries each per-node list keeps unless the complete lists are asked for
#: (`--full-lists`); every cut list has its full length beside it (docs/contracts.md).
JSON_LIST_LIMIT = 100


def outcome_dict(outcome: Outcome, *, full_lists: bool = False) -> dict[str, Any]:
    """The after-run outcome as the plain dict the JSON contract specifies.

    Per-node lists (`skipped[]`, a failure's `downstream`, `skipped_downstream`, `exposures`) keep
    their first `JSON_LIST_LIMIT` entries, with their full length in a `*_count` field, unless
    `full_lists`: on a large project they are most of the document and no reader shows them whole.
    """
    run = outcome.run
    path = outcome.critical_path
    util = outcome.utilization
    limit = None if full_lists else JSON_LIST_LIMIT
    skipped = outcome.skipped if limit is None else outcome.skipped[:limit]
    return {
        "pipewatch_version": __version__,
        "invocation": {
            "invocation_id": run.invocation_id,
            "dbt_version": run.dbt_version,
            "command": run.command,
            "generated_at": iso_utc(run.generated_at),
            "elapsed_s": run.elapsed_time,
            "target": run.target,
            "adapter_type": run.adapter_type,
            "project": run.project_name,
        },
        "summary": {
            "total": outcome.total,
            "by_status": outcome.by_status,
            "skipped_count": len(outcome.skipped),
            "list_limit": limit,
        },
        "failures": [
            {
                "unique_id": f.unique_id,
                "resource_type": f.node.resource_type,
                "status": f.status,
                "message": f.message,
                "category": f.classification.category,
                "action": f.classification.action,
                "evidence": f.classification.evidence.to_dict(),
                "owner": f.owner,
                "escalate_to": f.escalate_to,
                "path": f.node.path or None,
                "downstream": f.downstream[:limit],
                "downstream_count": len(f.downstream),
                "skipped_downstream": f.skipped_downstream[:limit],
                "skipped_downstream_count": len(f.skipped_downstream),
                "exposures": f.exposures[:limit],
                "exposures_count": len(f.exposures),
                "downstream_owners": f.downstream_owners,
                "schema_changes": [schema_change_dict(c) for c in f.schema_changes],
            }
            for f in outcome.failures
        ],
        "skipped": [{"unique_id": s.unique_id, "root_causes": list(s.root_causes)} for s in skipped],
        "critical_path": {
            "nodes": list(path.nodes),
            "times": [round(t, 6) for t in path.times],
            "total_s": round(path.total_s, 6),
            "thread_utilization": util.utilization,
            "threads": util.threads,
            "what_if": what_if_dict(outcome.what_if),
        },
        "bottlenecks": [
            {
                "unique_id": b.unique_id,
                "execution_time": round(b.execution_time, 6),
                "on_critical_path": b.on_critical_path,
                "path_share": b.path_share,
                "wall_share": b.wall_share,
                "waiting": b.waiting,
            }
            for b in outcome.bottlenecks
        ],
        "quality": quality_dict(outcome.quality),
        "anomalies": [
            {
                "unique_id": a.unique_id,
                "metric": a.metric,
                "value": a.value,
                "expected_low": a.expected_low,
                "expected_high": a.expected_high,
                "direction": a.direction,
                "points": a.points,
            }
            for a in outcome.anomalies
        ],
        "gate": {"passed": outcome.gate.passed, "reasons": outcome.gate.reasons},
        "schema_changes": [schema_change_dict(c) for c in outcome.schema_changes],
    }


def schema_change_dict(change: ColumnChange) -> dict[str, Any]:
    """One `schema_changes[]` entry of the JSON contract (`old_column` only for a possible rename)."""
    entry: dict[str, Any] = {
        "unique_id": change.unique_id,
        "relation": change.relation,
        "column": change.column,
        "change": change.change,
        "old_type": change.old_type,
        "new_type": change.new_type,
        "downstream": change.downstream,
        "downstream_columns": change.downstream_columns,
        "exposures": change.exposures,
        "owners": change.owners,
        "precision": change.precision,
    }
    if change.old_column is not None:
        entry["old_column"] = change.old_column
    return entry


def check_dict(report: QualityReport, passed: bool, reasons: list[str]) -> dict[str, Any]:
    """The JSON of `pipewatch check`: after-run's `quality` object (plus `skipped`) and `gate`."""
    return {
        "pipewatch_version": __version__,
        "quality": quality_dict(report),
        "gate": {"passed": passed, "reasons": reasons},
    }


def render_check_json(report: QualityReport, *, passed: bool, reasons: list[str]) -> str:
    """`pipewatch check`'s JSON, pretty-printed with a trailing newline."""
    return _pretty(check_dict(report, passed, reasons))


def render_json(outcome: Outcome, *, full_lists: bool = False) -> str:
    """The JSON outcome, pretty-printed with a trailing newline (`full_lists`: see `outcome_dict`)."""
    return _pretty(outcome_dict(outcome, full_lists=full_lists))


def _pretty(document: dict[str, Any]) -> str:
    # msgspec encodes a 10 MB outcome ~10x faster than json.dumps; anything it does not know
    # (a Path, say) is written as its text, as json.dumps(default=str) did.
    encoded = msgspec.json.encode(document, enc_hook=str)
    return msgspec.json.format(encoded, indent=2).decode("utf-8") + "\n"


def what_if_dict(what_if: WhatIf | None) -> dict[str, Any] | None:
    """`critical_path.what_if`: the build's predicted wall time at other thread counts, and its floor."""
    if what_if is None:
        return None
    return {
        "threads": what_if.threads,
        "predicted_s": round(what_if.predicted_s, 6),
        "by_threads": [{"threads": t, "predicted_s": round(s, 6)} for t, s in what_if.by_threads],
        "lower_bound_s": round(what_if.critical_path_s, 6),
    }
