"""Results of quality checks: what `pipewatch check` (and after-run with rules) hands to outputs, history."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any


@functools.cache
def _pass_fail_types() -> frozenset[str]:
    # The check specs are imported on first use: defining their classes costs every command that
    # reads results (after-run without rules, say) ~10 ms for a table it never consults.
    from pipewatch.rules.spec import ALL_CHECK_TYPES

    return frozenset(name for name, cls in ALL_CHECK_TYPES.items() if not cls.counts_rows)


def is_pass_fail(check_type: str) -> bool:
    """Whether checks of this type are judged pass/fail on the whole table: they score 1 or 0, not
    by failing rows (`row_count`, `freshness`, ...)."""
    return check_type in _pass_fail_types()


@dataclass(frozen=True, slots=True)
class SkippedCheck:
    """A check that was asked for but not run (a singular or unsupported dbt test), and why."""

    check_id: str
    name: str
    reason: str
    model: str | None = None  # the tested node's unique id, when known


@dataclass(slots=True)
class CheckResult:
    """The outcome of one check (a rule-file check or an imported dbt test) on one relation."""

    check_id: str  # stable id: the dbt test unique id, or `<relation>::<check name>` for rule-file checks
    name: str
    type: str  # not_null, unique, accepted_values, range, matches, relationships, row_count, ...
    relation: str
    column: str | None
    status: str  # pass | fail | warn | error
    severity: str  # error | warn
    failing_rows: int | None
    total_rows: int | None
    threshold: dict[str, Any] = field(default_factory=dict)  # max_failures / max_failure_ratio / min / max
    sql: str = ""  # the SQL that produced the number (the fused query or the anti-join)
    message: str | None = None  # database error message for status `error`
    samples: list[dict[str, Any]] = field(default_factory=list)
    weight: float = 1.0
    model: str | None = None  # the manifest unique id of the checked model/source, when known
    metric: float | None = None  # the check's metric value (e.g. failing ratio, row count, freshness lag s)
    # What `failing_rows` counts, as dbt counts it: `rows`, or `values` for unique/accepted_values (distinct
    # offending values, one row of dbt's test query each); `affected_rows` is then the rows holding them.
    failing_unit: str = "rows"
    affected_rows: int | None = None
    where: str | None = None  # the filter the check ran under, as written in the rule file
    # How it ran: `fused` (one scan per table with the other checks), `dbt_sql` (a dbt test's own
    # compiled SQL, wrapped as dbt's test materialization wraps it) or `dbt_unit` (a dbt unit test, run by dbt).
    engine: str = "fused"

    @property
    def score(self) -> float:
        """This check's contribution to the table score: 1 - bad rows/total, or 1/0 for pass/fail checks.

        Bad rows are `affected_rows` when the check counts values (unique, accepted_values): 300,000
        rows holding one unexpected status are 300,000 bad rows for the score, though dbt's (and
        `failing_rows`') count is one value.
        """
        if self.status == "error":
            return 0.0
        if is_pass_fail(self.type):
            return 1.0 if self.status == "pass" else 0.0
        if not self.total_rows:
            return 1.0 if self.status == "pass" else 0.0
        bad = self.affected_rows if self.affected_rows is not None else self.failing_rows
        return max(0.0, 1.0 - (bad or 0) / self.total_rows)


@dataclass(slots=True)
class TableResult:
    """All checks run against one relation, with the table's weighted score."""

    relation: str
    checks: list[CheckResult]
    model: str | None = None

    @property
    def weight(self) -> float:
        """The sum of check weights: how much this table counts in the overall score."""
        return sum(c.weight for c in self.checks)

    @property
    def score(self) -> float:
        """Weighted mean of the check scores (1.0 for a table with no checks)."""
        total = self.weight
        if total <= 0:
            return 1.0
        return sum(c.score * c.weight for c in self.checks) / total


@dataclass(slots=True)
class QualityReport:
    """Every table checked in one run, and the overall score (tables weighted by their weight sums)."""

    tables: list[TableResult]
    elapsed_s: float = 0.0
    dialect: str = "duckdb"
    skipped: list[SkippedCheck] = field(default_factory=list)  # asked for, not run (never in the score)

    @property
    def score(self) -> float:
        """The mean of table scores weighted by each table's weight sum (docs/contracts.md)."""
        total = sum(t.weight for t in self.tables)
        if total <= 0:
            return 1.0
        return sum(t.score * t.weight for t in self.tables) / total

    @property
    def checks(self) -> list[CheckResult]:
        """Every check result, table by table."""
        return [c for t in self.tables for c in t.checks]

    def engines(self) -> dict[str, int]:
        """How many checks ran each way: `{"fused": n, "dbt_sql": m, "dbt_unit": k}` (every key always
        present; `dbt_unit`: dbt unit tests, judged by dbt)."""
        counts = {"fused": 0, "dbt_sql": 0, "dbt_unit": 0}
        for c in self.checks:
            counts[c.engine] = counts.get(c.engine, 0) + 1
        return counts
