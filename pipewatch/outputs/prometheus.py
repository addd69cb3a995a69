"""Prometheus text exposition of an after-run (`--prometheus FILE`), for node_exporter's textfile collector.

Every metric is a gauge describing the last run (no sample timestamps: the textfile collector refuses
them). The file is replaced atomically: written to a hidden `.tmp` file in the same folder (which the
collector ignores, it reads only `*.prom`), synced, then renamed over the target, so a scrape never
reads half a file.

Metrics: `pipewatch_run_success`, `pipewatch_run_duration_seconds`, `pipewatch_run_timestamp_seconds`,
`pipewatch_run_nodes{status}`, `pipewatch_run_failures{category}`, per model (and seed, snapshot)
`pipewatch_model_duration_seconds`, `pipewatch_model_rows_affected`, `pipewatch_model_failed`, per check
`pipewatch_check_failing_rows`, `pipewatch_check_passed`, `pipewatch_quality_score`,
`pipewatch_table_quality_score{relation}`, `pipewatch_anomalies`, `pipewatch_source_age_seconds{source}`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipewatch.analysis import Outcome
from pipewatch.errors import UsageError
from pipewatch.outputs.files import write_atomic

#: Node types whose duration and rows are exported one series per node.
MODEL_TYPES = frozenset({"model", "seed", "snapshot"})
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
Labels = Mapping[str, str | None]


def escape_label_value(value: str) -> str:
    """A label value as the text format wants it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    """HELP text as the text format wants it: backslash and newline escaped."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value: integers without a decimal point, NaN and infinities spelled as Prometheus does."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


@dataclass(slots=True)
class _Family:
    name: str
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float | None, labels: Labels | None = None) -> None:
        """One sample of this metric (None: no sample); labels that are None are left out."""
        if value is None:
            return
        self.samples.append(({k: v for k, v in (labels or {}).items() if v is not None}, float(value)))

    def render(self) -> list[str]:
        """The family's HELP and TYPE lines, then each sample once."""
        lines = [f"# HELP {self.name} {escape_help(self.help)}", f"# TYPE {self.name} gauge"]
        seen: set[tuple[tuple[str, str], ...]] = set()
        for labels, value in self.samples:
            key = tuple(sorted(labels.items()))
            if key in seen:  # one series per label set: the first wins (dbt reran a node, say)
                continue
            seen.add(key)
            body = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items())
            lines.append(
                f"{self.name}{{{body}}} {format_value(value)}"
                if body
                else f"{self.name} {format_value(value)}"
            )
        return lines


def _check_labels(extra: Mapping[str, str] | None) -> dict[str, str]:
    labels = dict(extra or {})
    for name in labels:
        if not _LABEL_NAME.match(name) or name.startswith("__"):
            raise UsageError(
                f"invalid Prometheus label name {name!r} (letters, digits, underscores; not starting with __)"
            )
    return labels


def render_prometheus(outcome: Outcome, *, labels: Mapping[str, str] | None = None) -> str:
    """The outcome's metrics in the Prometheus text format (0.0.4), ending with a newline.

    `labels` are added to every series (e.g. `{"env": "prod"}`); the run's project and target always are.
    """
    run = outcome.run
    base: dict[str, str | None] = {
        "project": run.project_name or "",
        "target": run.target,
        **_check_labels(labels),
    }
    families: list[_Family] = []

    def family(name: str, help_text: str) -> _Family:
        """A new metric family, kept in the order families are declared."""
        fam = _Family(f"pipewatch_{name}", help_text)
        families.append(fam)
        return fam

    family("run_success", "1 when the last run passed pipewatch's gate, else 0.").add(
        1.0 if outcome.gate.passed else 0.0, base
    )
    family("run_duration_seconds", "Wall-clock seconds of the last dbt invocation.").add(
        run.elapsed_time, base
    )
    family("run_timestamp_seconds", "When the last dbt invocation's results were written (Unix time).").add(
        run.generated_at, base
    )
    nodes = family("run_nodes", "Node results of the last run by normalized status.")
    for status, n in outcome.by_status.items():
        nodes.add(n, {**base, "status": status})
    categories = Counter(f.classification.category for f in outcome.failures)
    fails = family("run_failures", "Failed nodes of the last run by error category.")
    for category, n in sorted(categories.items()):
        fails.add(n, {**base, "category": category})

    duration = family(
        "model_duration_seconds", "Execution seconds of each model, seed and snapshot in the last run."
    )
    rows = family(
        "model_rows_affected",
        "Rows each model, seed and snapshot wrote in the last run (when the adapter says).",
    )
    failed = family(
        "model_failed", "1 when the model errored in the last run, 0 when it ran (skipped models are absent)."
    )
    for result in run.results:
        node = run.nodes.get(result.unique_id)
        kind = node.resource_type if node else result.unique_id.partition(".")[0]
        if kind not in MODEL_TYPES:
            continue
        series = {**base, "unique_id": result.unique_id, "resource_type": kind}
        if result.status != "skipped":
            duration.add(result.execution_time, series)
            failed.add(1.0 if result.status in ("error", "partial success") else 0.0, series)
        rows.add(result.adapter_response.rows_affected, series)

    if outcome.quality is not None:
        family("quality_score", "pipewatch quality score of the last run (0..1).").add(
            outcome.quality.score, base
        )
        table_score = family("table_quality_score", "Quality score of each checked relation (0..1).")
        failing = family("check_failing_rows", "Rows (or values) failing each quality check in the last run.")
        passed = family("check_passed", "1 when the check passed, 0 when it failed, warned or errored.")
        for table in outcome.quality.tables:
            table_score.add(table.score, {**base, "relation": table.relation})
            for check in table.checks:
                series = {
                    **base,
                    "relation": check.relation,
                    "check": check.name,
                    "check_id": check.check_id,
                    "type": check.type,
                    "column": check.column,
                    "severity": check.severity,
                }
                failing.add(check.failing_rows, series)
                passed.add(1.0 if check.status == "pass" else 0.0, series)

    family("anomalies", "Metrics of the last run outside their expected range from history.").add(
        len(outcome.anomalies), base
    )
    if outcome.freshness:
        age = family(
            "source_age_seconds", "Seconds since each source was last loaded, at the freshness check."
        )
        for fresh in outcome.freshness:
            age.add(fresh.age_s, {**base, "source": fresh.unique_id})
    return "\n".join(_lines(families)) + "\n"


def _lines(families: Iterable[_Family]) -> Iterable[str]:
    for fam in families:
        if fam.samples:
            yield from fam.render()


def write_prometheus(outcome: Outcome, path: Path | str, *, labels: Mapping[str, str] | None = None) -> Path:
    """Write the metrics to `path` atomically (a textfile-collector `*.prom` file); returns the path."""
    return write_atomic(path, render_prometheus(outcome, labels=labels), what="metrics file")
