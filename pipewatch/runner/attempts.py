"""The record of a recovery run: each attempt, the whole run, and why and how it ended."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pipewatch.triage.retry import RetryPlan

#: What an attempt ran: the user's command, the failed part of it, or the whole previous command again.
Rerun = Literal["initial", "nodes", "command"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One dbt invocation of a recovery run: what ran, why, how it went, and the verdict on it."""

    number: int  # 1 for the user's command
    command: tuple[str, ...]
    rerun: Rerun
    retried: tuple[str, ...]  # unique ids this attempt was meant to rerun; () for the first or a whole rerun
    reason: str  # why this attempt ran
    evidence: tuple[dict[str, Any], ...]  # the classifications that justified it (unique_id, category, ...)
    backoff_s: float  # slept before it
    exit_code: int  # dbt's own exit code
    duration_s: float
    outcome: dict[str, int]  # result statuses counted; {} when no node ran
    run_results: Path | None  # this attempt's saved run_results, None when dbt wrote none
    plan: RetryPlan  # the verdict on this attempt
    error: str | None = None  # dbt's error line when it failed outside any node

    @property
    def ran_nodes(self) -> bool:
        """True when this attempt wrote results for at least one node."""
        return bool(self.outcome)

    def to_dict(self) -> dict[str, Any]:
        """The attempt as plain JSON-ready data."""
        return {
            "attempt": self.number,
            "command": list(self.command),
            "rerun": self.rerun,
            "retried": list(self.retried),
            "reason": self.reason,
            "evidence": list(self.evidence),
            "backoff_s": round(self.backoff_s, 3),
            "exit_code": self.exit_code,
            "duration_s": round(self.duration_s, 3),
            "outcome": dict(self.outcome),
            "run_results": str(self.run_results) if self.run_results else None,
            "error": self.error,
            "plan": self.plan.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class RunSummary:
    """A whole recovery run: every attempt, why it stopped, and the exit code to leave with."""

    attempts: tuple[Attempt, ...]
    exit_code: int  # the final attempt's, mapped to 0/1/2
    stopped: str  # `succeeded`, `not retryable: ...`, `retries exhausted: ...`, ...
    project_dir: Path
    target_dir: Path

    @property
    def final(self) -> Attempt:
        """The last attempt."""
        return self.attempts[-1]

    @property
    def succeeded(self) -> bool:
        """True when the final attempt exited 0."""
        return self.exit_code == 0

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready data."""
        return {
            "exit_code": self.exit_code,
            "succeeded": self.succeeded,
            "stopped": self.stopped,
            "project_dir": str(self.project_dir),
            "target_dir": str(self.target_dir),
            "attempts": [a.to_dict() for a in self.attempts],
        }


def map_exit_code(dbt_exit: int) -> int:
    """pipewatch's exit code for dbt's: 0 and 1 as they are, 2 (dbt crashed, bad usage) and anything else 2."""
    return dbt_exit if dbt_exit in (0, 1) else 2


def stop_reason(attempt: Attempt, max_retries: int) -> str | None:
    """Why the recovery run ends after `attempt`, or None to go on."""
    plan = attempt.plan
    if rerun_wrote_nothing(attempt):
        return (
            f"failed: the rerun (attempt {attempt.number}) exited 0 but wrote no new run_results.json, "
            f"so nothing shows the failed nodes ran again; the failures of attempt {attempt.number - 1} stand"
        )
    if attempt.exit_code == 0:
        return "succeeded" if attempt.number == 1 else f"succeeded on attempt {attempt.number}"
    if not plan.should_retry:
        return f"not retried: {plan.reason}"
    if attempt.number > max_retries:
        return f"retries exhausted ({max_retries}): {plan.reason}"
    return None


def rerun_wrote_nothing(attempt: Attempt) -> bool:
    """True for a rerun of failed nodes (`dbt retry`, `--select`) that exited 0 without writing results.

    Such an exit proves nothing (`dbt retry` exits 0 when it finds nothing to retry), so it is no success.
    """
    return attempt.rerun == "nodes" and attempt.exit_code == 0 and attempt.run_results is None


def final_exit_code(attempt: Attempt) -> int:
    """pipewatch's exit code after its last attempt: dbt's, mapped (`map_exit_code`), except that a rerun
    that wrote nothing leaves the earlier failures standing (1)."""
    return 1 if rerun_wrote_nothing(attempt) else map_exit_code(attempt.exit_code)
