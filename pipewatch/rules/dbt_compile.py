"""Compiled SQL for dbt tests the manifest has none for, compiled by dbt itself.

A manifest from `dbt parse`, or a build that skipped some tests, lacks their compiled SQL. pipewatch then
runs `dbt compile --select <those tests>` as a subprocess of its own (dbt's global state and a DuckDB
file dbt-duckdb would hold open stay out of pipewatch's process), into a temporary target directory so
the project's own `target/` is never touched, and reads the SQL from the manifest dbt wrote there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: dbt's own entry point, run by the interpreter pipewatch runs in (the same dbt it imports).
_DBT = "from dbt.cli.main import cli; cli()"
#: The same, with `--store-failures` on: `dbt compile` has no such flag, and dbt's SQL for some tests
#: depends on it (`not_null` and dbt-utils' `expression_is_true` select `*` when they store failures), so
#: the flag's default for commands without it (dbt's own `FLAGS_DEFAULTS`) is set before dbt starts.
_DBT_STORING = (
    "import dbt.cli.flags as f; f.FLAGS_DEFAULTS['STORE_FAILURES'] = True; "
    "from dbt.cli.main import cli; cli()"
)


@dataclass(frozen=True, slots=True)
class DbtProject:
    """The dbt project as pipewatch was asked to read it (profile, target, vars), for the dbt
    subprocesses it starts (`dbt compile` here, `dbt test` of unit tests in `rules.dbt_unit`)."""

    project_dir: Path
    profiles_dir: str | Path | None = None
    target: str | None = None
    profile: str | None = None
    vars: Mapping[str, Any] | None = None

    def command(self, command: str, select: Iterable[str], tmp: str, *, entry: str = _DBT) -> list[str]:
        """`dbt <command> --select ...` on this project, run by pipewatch's interpreter, writing its
        artifacts and logs into `tmp` only."""
        cmd = [sys.executable, "-c", entry, "--no-use-colors", command, "--quiet"]
        cmd += ["--project-dir", str(self.project_dir), "--target-path", tmp, "--log-path", tmp]
        cmd += ["--select", *select]
        options = (
            ("--profiles-dir", self.profiles_dir),
            ("--target", self.target),
            ("--profile", self.profile),
        )
        for flag, value in options:
            if value is not None:
                cmd += [flag, str(value)]
        if self.vars:
            cmd += ["--vars", json.dumps(dict(self.vars), default=str)]
        return cmd


@dataclass(slots=True)
class Compiled:
    """SQL by test unique id, and why dbt could not compile (None when it could)."""

    sql: dict[str, str] = field(default_factory=dict)
    problem: str | None = None


def compile_tests(
    names: Iterable[str], dbt: DbtProject, *, timeout_s: float = 600, store_failures: bool = False
) -> Compiled:
    """Run `dbt compile` on the tests named `names` and return their compiled SQL (`store_failures`: as
    `dbt test --store-failures` compiles them)."""
    from pipewatch.artifacts.manifest import load_manifest
    from pipewatch.errors import PipewatchError
    from pipewatch.warehouse.dbt_adapter import env_secrets, redact

    chosen = sorted(set(names))
    if not chosen:
        return Compiled()
    with tempfile.TemporaryDirectory(prefix="pipewatch-compile-") as tmp:
        cmd = dbt.command("compile", chosen, tmp, entry=_DBT_STORING if store_failures else _DBT)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Compiled(problem=f"dbt compile did not run: {exc}")
        out = Compiled()
        if done.returncode != 0:
            out.problem = f"dbt compile failed: {redact(error_of(done.stdout + done.stderr), env_secrets())}"
        manifest = Path(tmp) / "manifest.json"
        if not manifest.is_file():
            out.problem = out.problem or "dbt compile wrote no manifest"
            return out
        try:
            nodes = load_manifest(manifest).nodes
        except PipewatchError as exc:
            out.problem = f"dbt compile's manifest: {exc}"
            return out
        for uid, node in nodes.items():
            if node.test is not None and node.test.compiled_code:
                out.sql[uid] = node.test.compiled_code
        return out


def error_of(output: str) -> str:
    """dbt's error from its output, on one line: from the first line naming an error up to the macro
    trace (`> in macro ...`), without dbt's header."""
    from pipewatch.triage.unwrap import unwrap

    lines = [line.strip() for line in output.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if "Error" in line), None)
    if start is None:
        return lines[-1] if lines else "no output"
    picked: list[str] = []
    for line in lines[start:]:
        if line.startswith(">") or len(picked) == 4:
            break
        picked.append(line)
    text = " ".join(picked)
    return unwrap(text).body or text
