"""Running dbt with recovery: run the command, read what it left, and rerun the failed part while that helps.

`run_with_retries(["dbt", "build", ...])` (in `recovery`) runs dbt as a subprocess (`process`), records
each attempt (`attempts`) and asks the triage's retry plan what to do next; `invocation` takes dbt
command lines apart and rebuilds them; `last_run` plans for a dbt invocation that already happened.
Classification and the retry policy stay in `pipewatch.triage`; this package only runs things.
"""

from pipewatch.runner.attempts import Attempt, Rerun, RunSummary, map_exit_code, stop_reason
from pipewatch.runner.invocation import DbtInvocation, resolve_project_dir, resolve_target_dir
from pipewatch.runner.last_run import plan_last_run
from pipewatch.runner.recovery import ATTEMPT_FILE, run_with_retries, selectors

__all__ = [
    "ATTEMPT_FILE",
    "Attempt",
    "DbtInvocation",
    "Rerun",
    "RunSummary",
    "map_exit_code",
    "plan_last_run",
    "resolve_project_dir",
    "resolve_target_dir",
    "run_with_retries",
    "selectors",
    "stop_reason",
]
