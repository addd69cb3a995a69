"""Shared fixtures: real dbt builds of the example project (once per session) and the artifact corpus."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.pg_server import PgServer, PgUnavailable, start_pg, stop_pg

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "dbt_example_project"
CORPUS = REPO.parent / "shared" / "artifact-corpus"

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


def dbt_executable() -> str:
    """The dbt next to the running interpreter (the project's venv)."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def pipewatch_executable() -> str:
    """The pipewatch console script next to the running interpreter."""
    candidate = Path(sys.executable).with_name("pipewatch")
    return str(candidate) if candidate.exists() else "pipewatch"


@dataclass(frozen=True)
class BuiltProject:
    """A temp copy of the example project after real dbt commands, with their exit codes."""

    project_dir: Path
    build_exit: int
    freshness_exit: int  # -1 when freshness was not checked

    @property
    def target(self) -> Path:
        """The project's target dir (artifacts)."""
        return self.project_dir / "target"

    def artifact(self, name: str) -> Any:
        """A raw artifact, read with plain json: the independent truth the tests compare against."""
        return json.loads((self.target / name).read_text(encoding="utf-8"))


def run_dbt(project_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a real dbt command on a project whose profiles.yml sits inside it."""
    cmd = [dbt_executable(), "--no-use-colors", *args, "--project-dir", str(project_dir)]
    cmd += ["--profiles-dir", str(project_dir)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)


def build_example(tmp: Path, *extra: str, freshness: bool = True) -> BuiltProject:
    """Copy the example project, then seed, check source freshness (optionally) and build it with real dbt."""
    project = tmp / "shop"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    # The example names the repo's macros/ and rules/ by relative paths: point the copy at them.
    for name, relative, absolute in (
        ("packages.yml", "../macros", REPO / "macros"),
        ("pipewatch.yml", "../rules", REPO / "rules"),
    ):
        if (project / name).exists():
            text = (project / name).read_text(encoding="utf-8")
            (project / name).write_text(text.replace(relative, str(absolute)), encoding="utf-8")
    if (project / "packages.yml").exists():
        deps = run_dbt(project, "deps")
        assert deps.returncode == 0, deps.stdout + deps.stderr
    seeded = run_dbt(project, "seed", *extra)
    assert seeded.returncode in (0, 1), seeded.stdout + seeded.stderr
    freshness_exit = -1
    if freshness:
        checked = run_dbt(project, "source", "freshness", *extra)
        assert checked.returncode in (0, 1), checked.stdout + checked.stderr
        freshness_exit = checked.returncode
    built = run_dbt(project, "build", *extra)
    assert built.returncode in (0, 1), built.stdout + built.stderr
    return BuiltProject(project, built.returncode, freshness_exit)


@pytest.fixture(scope="session")
def faulty_build(tmp_path_factory: pytest.TempPathFactory) -> BuiltProject:
    """The example project built with its planted faults (an error, a failed test, skips, a warn)."""
    return build_example(tmp_path_factory.mktemp("faulty"))


@pytest.fixture(scope="session")
def clean_build(tmp_path_factory: pytest.TempPathFactory) -> BuiltProject:
    """The example project built with `inject_faults: false`: everything passes."""
    return build_example(
        tmp_path_factory.mktemp("clean"), "--vars", "{inject_faults: false}", freshness=False
    )


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared artifact corpus (skips when ../shared is absent)."""
    if not CORPUS.is_dir():
        pytest.skip(f"artifact corpus not found at {CORPUS}")
    return CORPUS


def run_pipewatch(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `pipewatch` console script as a user would."""
    return subprocess.run(
        [pipewatch_executable(), *args], capture_output=True, text=True, timeout=300, cwd=cwd, check=False
    )


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A real PostgreSQL server on 127.0.0.1 for this test session (skips outside CI when impossible)."""
    try:
        server, proc = start_pg()
    except PgUnavailable as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must test PostgreSQL for real, but no server could be started: {exc}")
        pytest.skip(f"no PostgreSQL server could be started: {exc}")
    try:
        yield server
    finally:
        stop_pg(server, proc)
