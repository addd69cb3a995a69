"""Running dbt with recovery: run the command, read what it left, and rerun the failed part while that helps.

`run_with_retries(["dbt", "build", ...])` (in `recovery`) runs dbt as a subprocess (`process`), records
each attempt (`attempts`) and asks the triage's retry plan what to do next; `invocation` takes dbt
command lines apart and rebuilds them; `last_run` plans for a dbt invocation that already happened.
Classification and the retry policy stay in `pipewatch.triage`; this package only runs things.
"""

from pipewatch.runner.attempts import (
    Attempt,
    Rerun,
    RunSummary,
    final_exit_code,
    map_exit_code,
    rerun_wrote_nothing,
    stop_reason,
)
from pipewatch.runner.invocation import DbtInvocation, resolve_project_dir
from pipewatch.runner.last_run import plan_last_run
from pipewatch.runner.recovery import ATTEMPT_FILE, run_with_retries, selectors
from pipewatch.runner.signals import DEFAULT_GRACE_S, RunInterrupted

__all__ = [
    "ATTEMPT_FILE",
    "DEFAULT_GRACE_S",
    "Attempt",
    "DbtInvocation",
    "Rerun",
    "RunInterrupted",
    "RunSummary",
    "final_exit_code",
    "map_exit_code",
    "plan_last_run",
    "rerun_wrote_nothing",
    "resolve_project_dir",
    "run_with_retries",
    "selectors",
    "stop_reason",
]
