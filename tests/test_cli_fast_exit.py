"""The console script's fast exit (`pipewatch.cli:run`): the heap is not freed at exit, but every exit
handler runs, every byte written reaches the streams, and the exit code is the command's."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import atexit, sys
atexit.register(lambda: print("exit handler ran", file=sys.stderr))
sys.argv = ["pipewatch", *sys.argv[1:]]
from pipewatch.cli import run
run()
"""


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], input=stdin, capture_output=True, text=True, timeout=60
    )


def test_output_exit_handlers_and_code_survive_the_fast_exit() -> None:
    lines = "".join(f"connection reset by peer {i}\n" for i in range(2000))
    got = _run("classify", stdin=lines)
    assert got.returncode == 0
    assert len(got.stdout.splitlines()) == 2000  # buffered output, all flushed
    assert "exit handler ran" in got.stderr


def test_an_error_keeps_its_exit_code_and_message() -> None:
    got = _run("after-run", "--target-path", "/nonexistent/target")
    assert got.returncode == 2
    assert "pipewatch: error: /nonexistent/target" in got.stderr
    assert "exit handler ran" in got.stderr


def test_usage_errors_and_help_exit_as_click_says() -> None:
    assert _run("--no-such-flag").returncode == 2
    helped = _run("--help")
    assert helped.returncode == 0 and "after-run" in helped.stdout
