"""`pipewatch run` starts dbt before its own imports (`runner.early`) and reads dbt's JSON log.

A stand-in `dbt` script (prints JSON log lines, exits) plays dbt: what is tested is pipewatch's
handling of the process (adopted once, never started twice, killed when nobody adopts it), not dbt.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipewatch.runner import early
from pipewatch.runner.process import execute, readable

FAKE_DBT = """#!/bin/sh
echo '{"info": {"name": "MainReportVersion", "msg": "Running with dbt=1.11.0", "invocation_id": "i1"}}'
echo "$@" > "$(dirname "$0")/argv.txt"
echo started >> "$(dirname "$0")/starts.txt"
"""


def _fake_dbt(tmp_path: Path) -> Path:
    exe = tmp_path / "dbt"
    exe.write_text(FAKE_DBT)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


@given(
    st.lists(st.sampled_from(["build", "--select", "a", "--log-format", "text", "--log-format=text", "-q"]))
)
def test_json_log_argv_asks_for_json_once_and_keeps_the_rest(args: list[str]) -> None:
    out = early.json_log_argv(["dbt", *args])
    assert out[:3] == ["dbt", "--log-format", "json"]
    assert not any(a == "--log-format" or a.startswith("--log-format=") for a in out[3:])
    assert all(a in args for a in out[3:])


def test_early_dbt_is_adopted_once_and_run_only_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = _fake_dbt(tmp_path)
    monkeypatch.chdir(tmp_path)
    early.spawn_from_argv(["/venv/bin/pipewatch", "run", "--no-live", "--", str(exe), "build"])
    argv = early.json_log_argv([str(exe), "build"])
    seen: list[str] = []
    done = execute(argv, tmp_path, os.environ, seen.append)
    assert done.exit_code == 0
    assert (tmp_path / "starts.txt").read_text().count("started") == 1  # adopted, not started again
    assert (tmp_path / "argv.txt").read_text().split() == ["--log-format", "json", "build"]
    assert readable(seen[0]) == "Running with dbt=1.11.0\n"
    assert "Running with dbt=1.11.0" in done.output  # the tail triage reads is dbt's text


def test_no_early_start_for_help_or_other_commands(tmp_path: Path) -> None:
    exe = _fake_dbt(tmp_path)
    for argv in (
        ["/venv/bin/pipewatch", "run", "--help", "--", str(exe), "build"],
        ["/venv/bin/pipewatch", "watch", "-"],
        ["/venv/bin/pipewatch", "run", "--", "echo", "build"],
        ["/venv/bin/pytest", "run", "--", str(exe), "build"],
    ):
        early.spawn_from_argv(argv)
        assert (
            early.adopt(
                early.json_log_argv(argv[argv.index("--") + 1 :] if "--" in argv else ["dbt"]), tmp_path
            )
            is None
        )


def test_bad_flags_leave_no_dbt_behind(tmp_path: Path) -> None:
    exe = tmp_path / "dbt"
    exe.write_text("#!/bin/sh\nsleep 30\n")
    exe.chmod(0o755)
    pipewatch = Path(sys.executable).with_name("pipewatch")
    done = subprocess.run(
        [str(pipewatch), "run", "--max-retries", "nope", "--", str(exe), "build"],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    left = subprocess.run(["pgrep", "-f", str(exe)], capture_output=True, text=True, check=False)
    assert left.stdout.strip() == ""
