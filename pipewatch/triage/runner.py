"""Running dbt with recovery: run the command, read what it left, and rerun the failed part while that helps.

`run_with_retries(["dbt", "build", ...])` runs the real dbt as a subprocess, loads the artifacts of that
attempt, asks `plan_retry` what to do, waits (exponential backoff, full jitter) and reruns only what failed
and what dbt skipped because of it: `dbt retry` on dbt >= 1.6, else `dbt <command> --select <nodes>`. A
failure before any node ran reruns the whole command when its error is transient. Any non-retryable error
stops at once. Every attempt is recorded (command, what was rerun and why, outcome, exit code, duration).

`dbt retry` reads `run_results.json` from the target dir, so nothing here writes there between attempts;
each attempt's file is copied to `pipewatch_attempt_<n>_run_results.json` beside it for the record. A
run_results.json that an attempt did not rewrite (dbt failed first) is recognized as stale, not re-read
as that attempt's outcome.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pipewatch.artifacts import Run, load_run
from pipewatch.artifacts.run import RUN_RESULTS_FILE
from pipewatch.artifacts.stubs import stub_node
from pipewatch.config import read_target_path
from pipewatch.errors import ArtifactError, PipewatchError, UsageError
from pipewatch.triage.retry import (
    Backoff,
    RetryPlan,
    Strategy,
    last_log_invocation,
    plan_before_nodes,
    plan_retry,
)

#: What an attempt ran: the user's command, the failed part of it, or the whole previous command again.
Rerun = Literal["initial", "nodes", "command"]

ATTEMPT_FILE = "pipewatch_attempt_{n}_" + RUN_RESULTS_FILE
#: Lines of dbt's output kept for classifying a failure outside any node (the error is at the end).
OUTPUT_TAIL_LINES = 400

# dbt options that take a value (`--opt value` or `--opt=value`); the others are flags. Needed to tell a
# value from the subcommand (`dbt --log-level debug build`) and to rebuild commands.
_VALUE_OPTIONS = frozenset(
    {
        "--select", "-s", "--models", "--model", "-m", "--exclude", "--selector", "--resource-type",
        "--resource-types", "--exclude-resource-type", "--exclude-resource-types", "--project-dir",
        "--profiles-dir", "--profile", "--target", "-t", "--vars", "--target-path", "--log-path",
        "--threads", "--state", "--defer-state", "--log-level", "--log-level-file", "--log-format",
        "--log-format-file", "--printer-width", "--record-timing-info", "-r", "--warn-error-options",
        "--indirect-selection", "--event-time-start", "--event-time-end", "--output", "-o",
        "--output-keys", "--args", "--sample", "--output-path", "--favor-state-path", "--inline",
        "--limit", "--macro", "--log-file-max-bytes",
    }
)  # fmt: skip
#: Options whose values may be several words (`--select a b c`).
_MULTI_VALUE = frozenset(
    {"--select", "-s", "--models", "--model", "-m", "--exclude", "--resource-type", "--resource-types",
     "--exclude-resource-type", "--exclude-resource-types", "--output-keys"}
)  # fmt: skip
#: Node selection, replaced by the failed nodes when rerunning with `--select`.
_SELECTION = frozenset(
    {"--select", "-s", "--models", "--model", "-m", "--exclude", "--selector", "--resource-type",
     "--resource-types", "--exclude-resource-type", "--exclude-resource-types", "--inline"}
)  # fmt: skip
#: What `dbt retry` must be told again: it takes these from its own command line, not from the previous
#: run (dbt-core task/retry.py IGNORE_PARENT_FLAGS, ALLOW_CLI_OVERRIDE_FLAGS), and the project config is
#: rendered before the previous run's vars are read. Never `--state`: retry would read run_results there.
_RETRY_PASSTHROUGH = frozenset(
    {"--project-dir", "--profiles-dir", "--profile", "--target", "-t", "--vars", "--target-path",
     "--log-path", "--threads"}
)  # fmt: skip
#: Subcommands of two words.
_GROUPS = frozenset({"docs", "source"})


@dataclass(frozen=True, slots=True)
class DbtInvocation:
    """A dbt command line taken apart: executable, options before the subcommand, subcommand, the rest."""

    executable: str
    global_args: tuple[str, ...]  # between the executable and the subcommand (`--no-use-colors`)
    command: tuple[str, ...]  # `("build",)`, `("docs", "generate")`; () when there is none
    options: tuple[str, ...]  # everything after the subcommand

    @classmethod
    def parse(cls, argv: Sequence[str]) -> DbtInvocation:
        """Split a dbt argv; UsageError when it is empty or its program is not dbt."""
        args = [str(a) for a in argv]
        if not args:
            raise UsageError("no dbt command given: put it after `--`, e.g. `pipewatch run -- dbt build`")
        program = Path(args[0]).name.lower().removesuffix(".exe")
        if not program.endswith("dbt"):
            raise UsageError(f"{args[0]!r} is not dbt: the command after `--` must start with dbt")
        i = 1
        while i < len(args) and args[i].startswith("-"):
            i += 2 if args[i] in _VALUE_OPTIONS else 1
        global_args = tuple(args[1 : min(i, len(args))])
        command: list[str] = []
        if i < len(args):
            command.append(args[i])
            i += 1
            if command[0] in _GROUPS and i < len(args) and not args[i].startswith("-"):
                command.append(args[i])
                i += 1
        return cls(args[0], global_args, tuple(command), tuple(args[i:]))

    @property
    def argv(self) -> list[str]:
        """The command line again."""
        return [self.executable, *self.global_args, *self.command, *self.options]

    @property
    def which(self) -> str | None:
        """The subcommand as run_results names it (`build`, `generate`, `run-operation`), None if absent."""
        return self.command[-1] if self.command else None

    def option(self, *names: str) -> str | None:
        """The value of the last of the options `names` (global or after the subcommand), None if absent."""
        found: str | None = None
        for args in (self.global_args, self.options):
            for name, values in _options(args):
                if name in names and values:
                    found = values[0]
        return found

    def retry_argv(self) -> list[str]:
        """`dbt retry` with the options it needs repeated (project, profiles, target, vars, paths)."""
        kept = [token for name, _, tokens in _option_spans(self.options) if name in _RETRY_PASSTHROUGH
                for token in tokens]  # fmt: skip
        return [self.executable, *self.global_args, "retry", *kept]

    def select_argv(self, selectors: Sequence[str]) -> list[str]:
        """The same command restricted to `selectors` (its own selection options replaced)."""
        kept = [token for name, _, tokens in _option_spans(self.options) if name not in _SELECTION
                for token in tokens]  # fmt: skip
        command = list(self.command) or ["build"]
        return [self.executable, *self.global_args, *command, "--select", *selectors, *kept]


def _option_spans(args: Sequence[str]) -> list[tuple[str | None, tuple[str, ...], tuple[str, ...]]]:
    """`args` cut into (option name or None for a positional, its values, its tokens)."""
    spans: list[tuple[str | None, tuple[str, ...], tuple[str, ...]]] = []
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("-") or token == "-":
            spans.append((None, (token,), (token,)))
            i += 1
            continue
        name, eq, inline = token.partition("=")
        if eq:
            spans.append((name, (inline,), (token,)))
            i += 1
            continue
        j = i + 1
        if name in _VALUE_OPTIONS:
            j = min(i + 2, len(args))
            if name in _MULTI_VALUE:
                while j < len(args) and not args[j].startswith("-"):
                    j += 1
        spans.append((name, tuple(args[i + 1 : j]), tuple(args[i:j])))
        i = j
    return spans


def _options(args: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    return [(name, values) for name, values, _ in _option_spans(args) if name is not None]


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


@dataclass(slots=True)
class _Executed:
    exit_code: int
    duration_s: float
    output: str


@dataclass(slots=True)
class _Pending:
    """What the next attempt will run and why."""

    argv: list[str]
    rerun: Rerun
    retried: tuple[str, ...] = ()
    reason: str = "the command as given"
    evidence: tuple[dict[str, Any], ...] = ()
    backoff_s: float = 0.0


def run_with_retries(
    dbt_args: Sequence[str],
    *,
    project_dir: Path | str | None = None,
    max_retries: int = 2,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
    strategy: Strategy | None = None,
    env: Mapping[str, str] | None = None,
    on_output: Callable[[str], None] | None = None,
    on_attempt: Callable[[Attempt], None] | None = None,
) -> RunSummary:
    """Run the dbt command `dbt_args` and retry its retryable failures, up to `max_retries` times.

    `project_dir` is where dbt runs (default: the current directory); the dbt project is `--project-dir`
    from the args, else DBT_PROJECT_DIR, else that directory or its nearest parent with a dbt_project.yml.
    `backoff` sets the waits (default `Backoff()`), `sleep` performs them (inject one in tests), and
    `strategy` forces how failed nodes are rerun (`dbt retry` or `dbt build --select`; default: the plan's
    choice by dbt version). `on_output` receives each line dbt prints, `on_attempt` each finished attempt.
    """
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise UsageError(f"max retries must be a whole number >= 0, got {max_retries!r}")
    invocation = DbtInvocation.parse(dbt_args)
    if not invocation.command:
        raise UsageError(f"no dbt subcommand in {' '.join(dbt_args)!r} (e.g. `dbt build`)")
    workdir = Path(project_dir) if project_dir is not None else Path.cwd()
    environment = dict(os.environ if env is None else env)
    project = resolve_project_dir(invocation, workdir, environment)
    target = resolve_target_dir(invocation, project, environment)
    backoff = backoff or Backoff()
    _forget_attempt_files(target)

    attempts: list[Attempt] = []
    pending = _Pending(list(invocation.argv), "initial")
    adapter: str | None = None
    while True:
        number = len(attempts) + 1
        results_file = target / RUN_RESULTS_FILE
        before = _stat_key(results_file)
        executed = _execute(pending.argv, workdir, environment, on_output)
        fresh = results_file.exists() and _stat_key(results_file) != before
        run, saved, plan = _judge(target, fresh, number, executed, adapter)
        if run is not None and run.adapter_type:
            adapter = run.adapter_type
        attempt = Attempt(
            number=number,
            command=tuple(pending.argv),
            rerun=pending.rerun,
            retried=pending.retried,
            reason=pending.reason,
            evidence=pending.evidence,
            backoff_s=pending.backoff_s,
            exit_code=executed.exit_code,
            duration_s=executed.duration_s,
            outcome=dict(sorted(Counter(r.status for r in run.results).items())) if run is not None else {},
            run_results=saved,
            plan=plan,
            error=(plan.failures[0].message or None) if plan.before_nodes and plan.failures else None,
        )
        attempts.append(attempt)
        if on_attempt is not None:
            on_attempt(attempt)

        stopped = stop_reason(attempt, max_retries)
        if stopped is not None:
            return RunSummary(tuple(attempts), map_exit_code(executed.exit_code), stopped, project, target)
        delay = backoff.delay(number - 1)
        if delay > 0:
            sleep(delay)
        pending = _next(plan, invocation, pending.argv, run, strategy)
        pending.backoff_s = delay


def map_exit_code(dbt_exit: int) -> int:
    """pipewatch's exit code for dbt's: 0 and 1 as they are, 2 (dbt crashed, bad usage) and anything else 2."""
    return dbt_exit if dbt_exit in (0, 1) else 2


def resolve_project_dir(invocation: DbtInvocation, workdir: Path, env: Mapping[str, str]) -> Path:
    """The dbt project dir as dbt finds it: --project-dir, DBT_PROJECT_DIR, else the working dir or the
    nearest parent holding a dbt_project.yml (else the working dir itself)."""
    chosen = invocation.option("--project-dir") or env.get("DBT_PROJECT_DIR")
    if chosen:
        path = Path(chosen).expanduser()
        return path if path.is_absolute() else workdir / path
    for candidate in (workdir, *workdir.resolve().parents):
        if (candidate / "dbt_project.yml").is_file():
            return candidate
    return workdir


def resolve_target_dir(invocation: DbtInvocation, project: Path, env: Mapping[str, str]) -> Path:
    """Where dbt writes artifacts: --target-path, DBT_TARGET_PATH, dbt_project.yml's target-path, `target`;
    a relative path is relative to the project dir, as dbt takes it."""
    chosen = invocation.option("--target-path") or env.get("DBT_TARGET_PATH") or read_target_path(project)
    path = Path(chosen).expanduser()
    return path if path.is_absolute() else project / path


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _forget_attempt_files(target: Path) -> None:
    """Remove the attempt copies of an earlier recovery run, so the record holds only this one's."""
    if not target.is_dir():
        return
    for old in target.glob(ATTEMPT_FILE.format(n="*")):
        old.unlink(missing_ok=True)


def _execute(
    argv: Sequence[str], workdir: Path, env: Mapping[str, str], on_output: Callable[[str], None] | None
) -> _Executed:
    """Run dbt, passing each output line on as it comes and keeping the tail for triage."""
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=workdir,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    except FileNotFoundError:
        raise UsageError(f"{argv[0]}: dbt executable not found (is dbt installed and on PATH?)") from None
    except NotADirectoryError:
        raise UsageError(f"{workdir}: not a directory") from None
    except PermissionError:
        raise UsageError(f"{argv[0]}: not executable") from None
    with proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                tail.append(line)
                if on_output is not None:
                    on_output(line)
            exit_code = proc.wait()
        except BaseException:
            # An interrupt or a failing callback must not leave dbt running behind us.
            proc.kill()
            proc.wait()
            raise
    return _Executed(exit_code, time.monotonic() - started, "".join(tail))


def _judge(
    target: Path, fresh: bool, number: int, executed: _Executed, adapter: str | None
) -> tuple[Run | None, Path | None, RetryPlan]:
    """Load this attempt's artifacts (when dbt wrote any), keep a copy of its run_results, and plan."""
    if not fresh:
        return (
            None,
            None,
            plan_retry(None, exit_code=executed.exit_code, output=executed.output, adapter=adapter),
        )
    saved = target / ATTEMPT_FILE.format(n=number)
    try:
        shutil.copyfile(target / RUN_RESULTS_FILE, saved)
    except OSError as exc:
        raise PipewatchError(
            f"{saved}: cannot save this attempt's run_results: {exc.strerror or exc}"
        ) from None
    try:
        run = load_run(target)
    except ArtifactError as exc:
        plan = RetryPlan(
            should_retry=False,
            reason=f"cannot read what dbt wrote: {exc}",
            retry_nodes=(),
            rerun_selection=(),
            strategy="none",
            blocking=(),
        )
        return None, saved, plan
    return run, saved, plan_retry(run, exit_code=executed.exit_code, output=executed.output, adapter=adapter)


def stop_reason(attempt: Attempt, max_retries: int) -> str | None:
    """Why the recovery run ends after `attempt`, or None to go on."""
    plan = attempt.plan
    if attempt.exit_code == 0:
        return "succeeded" if attempt.number == 1 else f"succeeded on attempt {attempt.number}"
    if not plan.should_retry:
        return f"not retried: {plan.reason}"
    if attempt.number > max_retries:
        return f"retries exhausted ({max_retries}): {plan.reason}"
    return None


def _next(
    plan: RetryPlan, invocation: DbtInvocation, previous: list[str], run: Run | None, forced: Strategy | None
) -> _Pending:
    """The attempt that follows a retryable one."""
    evidence = tuple(
        {"unique_id": f.unique_id, "category": f.category, "evidence": str(f.evidence), "message": f.message}
        for f in plan.retryable_failures
    )
    if plan.before_nodes or plan.strategy == "rerun command":
        # Nothing ran, so nothing narrower exists: repeat what failed (the user's command or a `dbt retry`,
        # which still finds the run_results of the last attempt that ran nodes).
        return _Pending(list(previous), "command", (), plan.reason, evidence)
    strategy = forced if forced in ("dbt retry", "dbt build --select") else plan.strategy
    if strategy == "dbt retry":
        argv = invocation.retry_argv()
    else:
        argv = invocation.select_argv(selectors(plan.rerun_selection, run))
    return _Pending(argv, "nodes", plan.rerun_selection, plan.reason, evidence)


def selectors(unique_ids: Sequence[str], run: Run | None) -> list[str]:
    """dbt `--select` arguments for unique ids: each node's name (`model.shop.orders` -> `orders`)."""
    names: list[str] = []
    for unique_id in unique_ids:
        node = run.nodes.get(unique_id) if run is not None else None
        name = (node or stub_node(unique_id)).name
        if unique_id.startswith("unit_test."):
            name = f"unit_test:{name}"
        if name not in names:
            names.append(name)
    return names


def plan_last_run(project_dir: Path, target_dir: Path, log_dir: Path | None = None) -> RetryPlan:
    """The retry plan for the last dbt invocation in a project, from its artifacts and its dbt.log.

    When the log's last invocation is not the one run_results.json records and that invocation reported an
    error, dbt failed before writing results (a connection or compile error at start): that error is planned.
    """
    log_file = (log_dir if log_dir is not None else project_dir / "logs") / "dbt.log"
    log_invocation: str | None = None
    log_text = ""
    with contextlib.suppress(OSError):
        log_invocation, log_text = last_log_invocation(_read_tail(log_file))
    run: Run | None = None
    try:
        run = load_run(target_dir)
    except ArtifactError:
        if not log_text:
            raise
    has_results = run is not None and bool(run.results)
    newer = run is None or not has_results or (log_invocation and log_invocation != run.invocation_id)
    if newer and "Encountered an error" in log_text:
        adapter = run.adapter_type if run is not None else None
        version = run.dbt_version if run is not None else None
        return plan_before_nodes(log_text, adapter=adapter, dbt_version=version)
    return plan_retry(run)


def _read_tail(path: Path, limit: int = 4 * 1024 * 1024) -> str:
    """The last `limit` bytes of a (possibly huge, append-only) log file as text."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - limit))
        return handle.read().decode("utf-8", errors="replace")
