"""dbt unit tests (`unit_test` nodes, dbt >= 1.8), judged by dbt itself.

`dbt test` runs every selected unit test: it builds a manifest holding the tested model with its inputs
replaced by the `given` fixtures (rows as dicts, csv or sql, rendered to SQL by dbt's Jinja with the
columns dbt introspects from the real input relations), applies `overrides` (macros, vars, env vars),
runs the `unit` materialization (`get_unit_test_sql`: actual and expected unioned) and compares the two
sides with `daff`. Reproducing that means reimplementing dbt's parser, its Jinja context and its fixture
rendering per adapter; any difference would be a verdict of pipewatch's, not dbt's. So pipewatch asks dbt:
one `dbt test --select unit_test:<package>.<name> ...` for exactly the selected unit tests, in a process
of its own (dbt's global state, and a DuckDB file dbt-duckdb holds open, stay out of pipewatch's), writing
into a temporary target directory (the project's `target/` is never touched; its partial-parse file is
copied so dbt need not parse from scratch), and reads each verdict from the run_results.json dbt wrote:
status, failures (1 for a failed unit test) and, on failure, dbt's diff of actual against expected.

It runs only when a unit test is selected: a project without unit tests pays nothing. A unit test dbt did
not report on (dbt failed before running it) is `error` with dbt's message, and fails the gate.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipewatch.artifacts.model import Node, NodeResult
from pipewatch.rules.results import CheckResult

if TYPE_CHECKING:
    from pipewatch.rules.dbt_compile import DbtProject

#: The `type` and `engine` of a unit test's result.
UNIT_TEST = "unit_test"
ENGINE = "dbt_unit"
#: Lines of dbt's diff kept in a failed unit test's message.
_DIFF_LINES = 12


def unit_tests(nodes: Mapping[str, Node], selected: Collection[str] | None) -> list[Node]:
    """The enabled unit tests of the manifest (`selected` ids only, when given), in unique-id order."""
    return [
        nodes[uid]
        for uid in sorted(nodes)
        if nodes[uid].resource_type == "unit_test"
        and nodes[uid].enabled
        and (selected is None or uid in selected)
    ]


def unit_error(node: Node, nodes: Mapping[str, Node], message: str) -> CheckResult:
    """A unit test that could not run: `error` with the reason (it fails the gate)."""
    return _result(node, nodes, "error", None, message)


@dataclass(slots=True)
class UnitRun:
    """One `dbt test` process for the selected unit tests, started at once, read back on `results()`."""

    tests: list[Node]
    nodes: Mapping[str, Node]
    process: subprocess.Popen[str] | None = None
    tmp: tempfile.TemporaryDirectory[str] | None = None
    problem: str | None = None
    timeout_s: float = 3600
    _done: dict[str, CheckResult] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def result_for(self, node: Node) -> CheckResult:
        """This unit test's verdict (waits for dbt the first time; safe from any worker thread)."""
        return self.results()[node.unique_id]

    def results(self) -> dict[str, CheckResult]:
        """Every selected unit test's verdict by unique id, waiting for dbt to finish."""
        with self._lock:
            if self._done is None:
                self._done = self._collect()
            return self._done

    def close(self) -> None:
        """Stop dbt and remove its directory when the run ends before the verdicts were read (the
        warehouse was unreachable): nothing is left running or behind."""
        with self._lock:
            if self._done is not None:
                return
            if self.process is not None and self.process.poll() is None:
                self.process.kill()
                self.process.communicate()
            if self.tmp is not None:
                self.tmp.cleanup()
            self._done = {}

    def _collect(self) -> dict[str, CheckResult]:
        from pipewatch.rules.dbt_compile import error_of
        from pipewatch.warehouse.dbt_adapter import env_secrets, redact

        problem = self.problem
        reported: dict[str, NodeResult] = {}
        try:
            if self.process is not None and problem is None:
                try:
                    out, err = self.process.communicate(timeout=self.timeout_s)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    out, err = self.process.communicate()
                    problem = f"dbt test did not finish in {self.timeout_s:g} s"
                if self.tmp is not None:
                    reported = _run_results(Path(self.tmp.name) / "run_results.json")
                if not reported and problem is None:
                    problem = f"dbt test failed: {redact(error_of(out + err), env_secrets())}"
        finally:
            if self.tmp is not None:
                self.tmp.cleanup()
        out_results: dict[str, CheckResult] = {}
        for node in self.tests:
            got = reported.get(node.unique_id)
            if got is None:
                why = problem or "dbt test did not report on this unit test"
                out_results[node.unique_id] = unit_error(node, self.nodes, why)
                continue
            out_results[node.unique_id] = _verdict(node, self.nodes, got)
        return out_results


def start_unit_tests(
    tests: list[Node], nodes: Mapping[str, Node], dbt: DbtProject, *, target_dir: Path | None = None
) -> UnitRun:
    """Start `dbt test` on the unit tests `tests` (see the module docstring); `target_dir` is the project's
    target directory, whose partial-parse file dbt may reuse."""
    run = UnitRun(tests, nodes)
    if not tests:
        return run
    run.tmp = tempfile.TemporaryDirectory(prefix="pipewatch-unit-")
    tmp = run.tmp.name
    saved = target_dir / "partial_parse.msgpack" if target_dir is not None else None
    if saved is not None and saved.is_file():
        with contextlib.suppress(OSError):  # only a speed-up: without it dbt parses the project itself
            shutil.copyfile(saved, Path(tmp) / saved.name)
    cmd = dbt.command("test", [f"unit_test:{n.package}.{n.name}" for n in tests], tmp)
    try:
        run.process = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
        )
    except OSError as exc:
        run.problem = f"dbt test did not run: {exc}"
    return run


def _run_results(path: Path) -> dict[str, NodeResult]:
    """dbt's results by unique id, read by pipewatch's own run_results decoder ({} when dbt wrote none
    or something that is not one: every unit test is then an error saying dbt did not report)."""
    from pipewatch.artifacts.run_results import load_run_results
    from pipewatch.errors import PipewatchError

    try:
        return {r.unique_id: r for r in load_run_results(path).results}
    except PipewatchError:
        return {}


def _verdict(node: Node, nodes: Mapping[str, Node], got: NodeResult) -> CheckResult:
    """dbt's verdict as pipewatch reports it: `pass`, `fail` with dbt's failures count (1) and its diff,
    or `error` with dbt's message; any other status is not one pipewatch can judge, so `error`."""
    from pipewatch.warehouse.dbt_adapter import env_secrets, redact

    status = got.status
    message = redact(_short(got.message), env_secrets()) or None
    count = got.failures
    if status == "pass":
        return _result(node, nodes, "pass", 0, None)
    if status == "fail":
        return _result(node, nodes, "fail", count if count is not None else 1, message)
    if status == "error":
        return _result(node, nodes, "error", None, message or "dbt reported an error")
    return _result(node, nodes, "error", None, f"dbt reported status `{status}` for this unit test")


def _short(message: Any) -> str:
    """dbt's message, its diff cut to its first lines (the run's JSON keeps no more than a glance needs)."""
    if not isinstance(message, str):
        return ""
    lines = [line.rstrip() for line in message.strip().splitlines()]
    lines = [line for line in lines if line]
    if len(lines) > _DIFF_LINES:
        lines = [*lines[:_DIFF_LINES], f"... ({len(lines) - _DIFF_LINES} more lines)"]
    return "\n".join(lines)


def _result(
    node: Node, nodes: Mapping[str, Node], status: str, failures: int | None, message: str | None
) -> CheckResult:
    tested = next(
        (nodes[d] for d in node.depends_on if d in nodes and nodes[d].resource_type == "model"), None
    )
    return CheckResult(
        check_id=node.unique_id,
        name=node.name,
        type=UNIT_TEST,
        relation=(tested.relation if tested is not None else None) or f"<unit tests of {node.name}>",
        column=None,
        status=status,
        severity="error",
        failing_rows=failures,
        total_rows=None,
        threshold={},
        sql="",
        message=message,
        model=tested.unique_id if tested is not None else None,
        engine=ENGINE,
    )
