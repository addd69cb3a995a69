"""Worker for the pipewatch contender when the `pipewatch check` CLI is not there: the library in a process.

    python run_pipewatch.py RULES DATABASE SAMPLES

Loads the rule file, runs every check on the DuckDB file with `run_checks(..., samples=SAMPLES)` and
prints `{"counts": {check name: failing rows}, "rows": {check name: affected rows}, "samples": n}`
(pass/fail checks, row_count and freshness, count 1 when they fail).
"""

from __future__ import annotations

import json
import sys

from pipewatch.rules import load_rules, run_checks
from pipewatch.warehouse.duckdb import DuckDBWarehouse

PASS_FAIL = ("row_count", "freshness")


def main(argv: list[str]) -> int:
    """Run the rules and print the counts (exit 1 when a check fails, as `pipewatch check` would)."""
    rules_path, database, samples = argv
    rules = load_rules(rules_path)
    with DuckDBWarehouse(database) as wh:
        report = run_checks(rules, wh, samples=int(samples))
    counts: dict[str, int | None] = {}
    rows: dict[str, int] = {}
    sampled = 0
    for check in report.checks:
        if check.type in PASS_FAIL:
            counts[check.name] = int(check.status in ("fail", "warn"))
        else:
            counts[check.name] = check.failing_rows
        if check.affected_rows is not None:
            rows[check.name] = check.affected_rows
        sampled += len(check.samples)
    print(json.dumps({"counts": counts, "rows": rows, "samples": sampled}))
    return 1 if any(c.status in ("fail", "error") for c in report.checks) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
