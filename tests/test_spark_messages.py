"""Spark's real error messages (captured on this project's own runs, in the labelled triage set): dbt-spark
wraps them twice (`Runtime Error in model x` / `Runtime Error`) and appends the logical plan; the one line
pipewatch shows is Spark's own diagnosis, and the plan stays in the full message (--format json)."""

from __future__ import annotations

from pathlib import Path

import yaml

from pipewatch.outputs.wording import first_line
from pipewatch.warehouse.dbt_adapter import dbt_message

LABELLED = Path(__file__).parent / "data" / "triage" / "labelled.yml"


def captured() -> list[dict[str, str]]:
    entries = yaml.safe_load(LABELLED.read_text(encoding="utf-8"))
    return [e for e in entries if e["source"].startswith("captured here: ")]


def test_the_shown_line_is_sparks_error_condition() -> None:
    entries = captured()
    assert len(entries) >= 8
    for entry in entries:
        line = first_line(entry["message"], width=1000)
        assert line.startswith(("[", "An error occurred")), line
        assert "Runtime Error" not in line


def test_a_query_error_keeps_the_plan_below_the_first_line() -> None:
    wrapped = next(e["message"] for e in captured() if "UNRESOLVED_COLUMN.WITH_SUGGESTION" in e["message"])
    message = dbt_message(RuntimeError(wrapped), one_line=False)
    head, _, rest = message.partition("\n")
    assert head.startswith("[UNRESOLVED_COLUMN.WITH_SUGGESTION]") and "SQLSTATE: 42703" in head
    assert "'Project" in rest  # the logical plan, for the JSON view
    assert "\n" not in dbt_message(RuntimeError(wrapped))  # the one-line form for exit-3 errors
