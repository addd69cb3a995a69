"""Retry policy: whether a failed dbt invocation is worth running again, what to rerun, and how long to wait.

A run is retried only when every failure in it is retryable (docs/contracts.md: `transient`); one failure of any
other category (a bad cast, a missing grant, a failed test) stops retrying at once, because rerunning
cannot fix it and only delays the escalation. What is rerun is what failed plus what dbt skipped because
of it; nothing that succeeded runs again.

dbt can also fail before any node runs (a connection refused while listing schemas, a Jinja syntax error
at parse time): it then writes no run_results.json, and `dbt retry` has nothing to retry. The plan then
classifies dbt's own error output instead and, when that is transient, reruns the whole command.

The waiting between attempts is `pipewatch.backoff.Backoff` (exponential, full jitter); the defaults for
dbt retries are here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Literal

from pipewatch.artifacts.model import Run
from pipewatch.lineage.impact import is_failure
from pipewatch.triage.classify import Classification, Evidence, classify, classify_result
from pipewatch.triage.library import Category
from pipewatch.triage.routing import Team
from pipewatch.triage.unwrap import first_line

#: How a plan reruns: `dbt retry` (dbt >= 1.6), `dbt <command> --select <nodes>` (older dbt),
#: the whole command again (dbt failed before any node ran), or not at all.
Strategy = Literal["dbt retry", "dbt build --select", "rerun command", "none"]

#: The first dbt version with `dbt retry`.
DBT_RETRY_SINCE = (1, 6)
#: Commands `dbt retry` knows how to repeat (`which` in run_results args; dbt-core task/retry.py TASK_DICT).
RETRY_COMMANDS = frozenset(
    {"build", "compile", "clone", "generate", "seed", "snapshot", "test", "run", "run-operation"}
)
#: Commands that take `--select`, for dbt versions without `dbt retry`.
SELECT_COMMANDS = frozenset({"build", "compile", "seed", "snapshot", "test", "run"})

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# dbt's console lines start with `HH:MM:SS  `, its log file lines with `HH:MM:SS.ffffff [level]`.
_TIMESTAMPED = re.compile(r"^\d{2}:\d{2}:\d{2}(?:\.\d+)?\s")
_ERROR_MARKER = "Encountered an error"
_LOG_HEADER = re.compile(r"^={5,} [0-9:.]+ \| (?P<invocation>[0-9a-fA-F-]{8,}) ={5,}\s*$", re.MULTILINE)
_TAIL_LINES = 40
#: Default backoff: the first retry waits up to 5 s, later ones up to 10, 20, ... never more than 2 minutes.
DEFAULT_BACKOFF_BASE = 5.0
DEFAULT_BACKOFF_CAP = 120.0
_MAX_ERROR_CHARS = 16 * 1024
#: The longest line a verdict keeps of a message (the whole text stays in run_results or dbt's output).
_MAX_LINE_CHARS = 500


@dataclass(frozen=True, slots=True)
class FailureVerdict:
    """One failure of a run and its triage: what failed, the category, and the evidence for it."""

    unique_id: str | None  # None when dbt failed before any node ran
    status: str  # the node's normalized status, or `error` for a failure outside any node
    category: Category
    retryable: bool
    escalate_to: Team | None
    evidence: Evidence
    message: str  # the first line of the error message (the whole text is in run_results or dbt's output)

    @classmethod
    def of(
        cls, unique_id: str | None, status: str, verdict: Classification, message: str | None
    ) -> FailureVerdict:
        """A verdict from a classification and the message it was made on."""
        return cls(
            unique_id=unique_id,
            status=status,
            category=verdict.category,
            retryable=verdict.retryable,
            escalate_to=verdict.escalate_to,
            evidence=verdict.evidence,
            message=telling_line(message, verdict.evidence),
        )

    def to_dict(self) -> dict[str, Any]:
        """The verdict as plain JSON-ready data."""
        return {
            "unique_id": self.unique_id,
            "status": self.status,
            "category": self.category,
            "retryable": self.retryable,
            "escalate_to": self.escalate_to,
            "evidence": self.evidence.to_dict(),
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class RetryPlan:
    """What to do about one finished dbt invocation: retry or not, why, what to rerun and how."""

    should_retry: bool
    reason: str  # one line for humans
    retry_nodes: tuple[str, ...]  # the failed nodes whose errors are retryable (sorted)
    rerun_selection: tuple[str, ...]  # retry_nodes plus every node the run skipped (sorted)
    strategy: Strategy
    blocking: tuple[FailureVerdict, ...]  # non-retryable failures: each one alone stops retrying
    failures: tuple[FailureVerdict, ...] = ()  # every failure, retryable or not
    before_nodes: bool = False  # dbt failed before any node ran; the whole command is the unit of retry
    dbt_version: str | None = None

    @property
    def retryable_failures(self) -> tuple[FailureVerdict, ...]:
        """The failures that justify a retry (their evidence is the `why` of the next attempt)."""
        return tuple(f for f in self.failures if f.retryable)

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain JSON-ready data."""
        return {
            "should_retry": self.should_retry,
            "reason": self.reason,
            "strategy": self.strategy,
            "before_nodes": self.before_nodes,
            "dbt_version": self.dbt_version,
            "retry_nodes": list(self.retry_nodes),
            "rerun_selection": list(self.rerun_selection),
            "blocking": [b.to_dict() for b in self.blocking],
            "failures": [f.to_dict() for f in self.failures],
        }


def telling_line(message: str | None, evidence: Evidence | None = None) -> str:
    """The line of an error message that says what went wrong: the one holding the evidence's matched
    text, else the first line beneath dbt's wrapper (`Runtime Error in model x` says only where)."""
    text = message or ""
    matched = evidence.matched if evidence is not None and evidence.kind == "pattern" else ""
    if matched and "\n" not in matched:
        for line in text.splitlines():
            if matched in line:
                return line.strip()[:_MAX_LINE_CHARS]
    return first_line(text, _MAX_LINE_CHARS)


def dbt_version_tuple(version: str | None) -> tuple[int, int] | None:
    """`1.11.16` -> (1, 11); None when the version is unknown or unreadable."""
    match = re.match(r"\s*v?(\d+)\.(\d+)", version or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def supports_dbt_retry(version: str | None) -> bool:
    """True when this dbt version has `dbt retry` (1.6 and later); False when unknown."""
    parsed = dbt_version_tuple(version)
    return parsed is not None and parsed >= DBT_RETRY_SINCE


def choose_strategy(dbt_version: str | None, command: str | None) -> Strategy:
    """How to rerun the failed part of a `command` run by `dbt_version`.

    `dbt retry` when dbt has it and can repeat the command; else `--select` of the nodes for commands that
    select (also when the command is unknown, as in artifacts of very old dbt); else the whole command.
    """
    if command in RETRY_COMMANDS and supports_dbt_retry(dbt_version):
        return "dbt retry"
    if command is None or command in SELECT_COMMANDS:
        return "dbt build --select"
    return "rerun command"


def plan_retry(
    run: Run | None,
    *,
    exit_code: int | None = None,
    output: str = "",
    adapter: str | None = None,
) -> RetryPlan:
    """Decide whether the dbt invocation behind `run` should be retried, and what to rerun.

    `run` is the loaded artifacts of the invocation, or None when it wrote no run_results.json. When no
    node failed but dbt still failed (`exit_code` not 0, or unknown with no results at all), the failure
    happened outside any node: `output` (dbt's console output or log) is classified instead.
    """
    adapter = adapter or (run.adapter_type if run is not None else None)
    version = run.dbt_version if run is not None else None
    failures, skipped = _node_failures(run, adapter) if run is not None else ((), ())
    if not failures:
        ran_nodes = run is not None and bool(run.results)
        if exit_code == 0 or (exit_code is None and (ran_nodes or not error_text(output))):
            quiet = ran_nodes or exit_code == 0
            return RetryPlan(
                should_retry=False,
                reason="nothing failed" if quiet else "no node results and no dbt error found",
                retry_nodes=(),
                rerun_selection=(),
                strategy="none",
                blocking=(),
                dbt_version=version,
            )
        return plan_before_nodes(output, adapter=adapter, dbt_version=version, ran_nodes=ran_nodes)

    assert run is not None
    blocking = tuple(f for f in failures if not f.retryable)
    retry_nodes = tuple(sorted(f.unique_id for f in failures if f.retryable and f.unique_id))
    if blocking:
        return RetryPlan(
            should_retry=False,
            reason=_blocking_reason(blocking),
            retry_nodes=retry_nodes,
            rerun_selection=(),
            strategy="none",
            blocking=blocking,
            failures=failures,
            dbt_version=version,
        )
    categories = sorted({f.category for f in failures})
    return RetryPlan(
        should_retry=True,
        reason=f"{_count(len(failures), 'failure')}, all retryable ({', '.join(categories)})",
        retry_nodes=retry_nodes,
        rerun_selection=tuple(sorted({*retry_nodes, *skipped})),
        strategy=choose_strategy(version, run.command),
        blocking=(),
        failures=failures,
        dbt_version=version,
    )


def plan_before_nodes(
    output: str,
    *,
    adapter: str | None = None,
    dbt_version: str | None = None,
    ran_nodes: bool = False,
) -> RetryPlan:
    """The plan for a dbt invocation that failed outside any node, from dbt's output or log text.

    The error dbt reported (`Encountered an error:` and what follows, else the last lines) is classified:
    transient means the whole command runs again; anything else escalates.
    """
    text = error_text(output)
    verdict = FailureVerdict.of(None, "error", classify(text, adapter), text)
    # The raw first line, wrapper included: with no node to name, dbt's header is the where.
    head = next((line.strip() for line in text.splitlines() if line.strip()), "")[:_MAX_LINE_CHARS]
    if head and verdict.message and verdict.message not in head:
        # No node to name the failure by: keep dbt's `Compilation Error in model x (path)` as the where.
        verdict = replace(verdict, message=f"{head.rstrip(':')}: {verdict.message}"[:_MAX_LINE_CHARS])
    where = "outside any node" if ran_nodes else "before any node ran"
    if verdict.retryable:
        return RetryPlan(
            should_retry=True,
            reason=f"dbt failed {where} with a {verdict.category} error: {verdict.message}",
            retry_nodes=(),
            rerun_selection=(),
            strategy="rerun command",
            blocking=(),
            failures=(verdict,),
            before_nodes=True,
            dbt_version=dbt_version,
        )
    detail = verdict.message or "no error text in dbt's output"
    return RetryPlan(
        should_retry=False,
        reason=f"dbt failed {where} with a {verdict.category} error, not retryable: {detail}",
        retry_nodes=(),
        rerun_selection=(),
        strategy="none",
        blocking=(verdict,),
        failures=(verdict,),
        before_nodes=True,
        dbt_version=dbt_version,
    )


def _node_failures(run: Run, adapter: str | None) -> tuple[tuple[FailureVerdict, ...], tuple[str, ...]]:
    """The run's failed nodes, classified, and the ids of the nodes it skipped."""
    failures: list[FailureVerdict] = []
    skipped: list[str] = []
    for unique_id, result in sorted(run.result_by_id().items()):
        if result.status == "skipped":
            skipped.append(unique_id)
            continue
        if not is_failure(result):
            continue
        # `partial success` (a microbatch model with failed batches) is not an error status to
        # classify_result; its message still says what went wrong.
        verdict = classify_result(result, adapter=adapter) or classify(result.message or "", adapter)
        failures.append(FailureVerdict.of(unique_id, result.status, verdict, result.message))
    return tuple(failures), tuple(skipped)


def _blocking_reason(blocking: tuple[FailureVerdict, ...]) -> str:
    shown = ", ".join(f"{b.unique_id} ({b.category})" for b in blocking[:3])
    more = f" and {len(blocking) - 3} more" if len(blocking) > 3 else ""
    return f"{_count(len(blocking), 'non-retryable failure')}: {shown}{more}; retrying cannot fix it"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def error_text(output: str) -> str:
    """The error dbt reported in its console output or log: the block after the last `Encountered an
    error:`, else the last lines of the output. ANSI colours are removed; the result is bounded in size.
    """
    if not output:
        return ""
    text = _ANSI.sub("", output[-4 * _MAX_ERROR_CHARS :])
    lines = text.splitlines()
    start = next((i for i in range(len(lines) - 1, -1, -1) if _ERROR_MARKER in lines[i]), None)
    if start is None:
        block = [line for line in lines if line.strip()][-_TAIL_LINES:]
    else:
        # The message is the marker line's own text after the colon, then the lines until dbt's next
        # timestamped line (a traceback or the resource report in the log).
        head = lines[start].split(_ERROR_MARKER, 1)[1].lstrip(":").strip()
        block = [head] if head else []
        for line in lines[start + 1 :]:
            if _TIMESTAMPED.match(line):
                break
            block.append(line)
    return "\n".join(block).strip()[:_MAX_ERROR_CHARS]


def last_log_invocation(log_text: str) -> tuple[str | None, str]:
    """The last invocation in a dbt.log: its invocation id (None if the log has no header) and its lines."""
    headers = list(_LOG_HEADER.finditer(log_text))
    if not headers:
        return None, log_text
    last = headers[-1]
    return last.group("invocation"), log_text[last.end() :]
