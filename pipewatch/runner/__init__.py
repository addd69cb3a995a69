"""Running dbt with recovery: run the command, read what it left, and rerun the failed part while that helps.

`run_with_retries(["dbt", "build", ...])` (in `recovery`) runs dbt as a subprocess (`process`), records
each attempt (`attempts`) and asks the triage's retry plan what to do next; `invocation` takes dbt
command lines apart and rebuilds them; `last_run` plans for a dbt invocation that already happened.
Classification and the retry policy stay in `pipewatch.triage`; this package only runs things.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Resolved lazily (PEP 562): `pipewatch run` starts dbt from `runner.early` before anything heavy
# (the artifact loader, triage) is imported, so touching this package must cost nothing.
_HOMES = {
    "Attempt": "attempts", "Rerun": "attempts", "RunSummary": "attempts", "final_exit_code": "attempts",
    "map_exit_code": "attempts", "rerun_wrote_nothing": "attempts", "stop_reason": "attempts",
    "DbtInvocation": "invocation", "resolve_project_dir": "invocation", "plan_last_run": "last_run",
    "ATTEMPT_FILE": "recovery", "run_with_retries": "recovery", "selectors": "recovery",
    "DEFAULT_GRACE_S": "signals", "RunInterrupted": "signals",
}  # fmt: skip

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


def __getattr__(name: str) -> Any:
    """Import the module that defines `name` on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"pipewatch.runner.{home}"), name)
