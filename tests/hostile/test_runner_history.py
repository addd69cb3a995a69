"""Hostile conditions for `pipewatch run` and the history store: signals, a rerun that proves nothing,
damaged and read-only stores. Each test failed before the fix it pins (issue 13, "fail closed").

The signal tests run the real pipewatch console script on a small Python program standing in for dbt
(the runner runs any argv whose program ends in `dbt`): it starts a child and sleeps, as dbt does with
its threads' helpers, and writes both pids so the test can check that neither outlives pipewatch.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import pipewatch_executable

# ------------------------------------------------------------------------------------------- helpers

FAKE_DBT = """\
#!{python}
import os, signal, subprocess, sys, time
if os.environ.get("FAKE_DBT_STUBBORN"):
    # Ignored signals stay ignored in the child too: only SIGKILL can stop these two.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
else:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # die quietly, as dbt does, not with a traceback
SLEEP = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_DFL); print(1, flush=True); time.sleep(300)"
if os.environ.get("FAKE_DBT_STUBBORN"):
    SLEEP = "import time; print(1, flush=True); time.sleep(300)"
child = subprocess.Popen([sys.executable, "-c", SLEEP], stdout=subprocess.PIPE)
child.stdout.readline()  # the child is past its start-up, where a signal would print a traceback
pids = os.environ["FAKE_DBT_PIDS"]
with open(pids + ".tmp", "w") as handle:
    handle.write(f"{{os.getpid()}} {{child.pid}}")
os.replace(pids + ".tmp", pids)
print("fake dbt is running", flush=True)
time.sleep(300)
"""


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its parent to reap it does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_until(predicate: object, timeout: float = 30.0) -> bool:
    """Poll `predicate()` until it is true or `timeout` seconds pass; its last value."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return bool(predicate())
        time.sleep(0.05)
    return True


@pytest.fixture
def fake_dbt(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(the fake dbt program, the file it writes its and its child's pid to); leftovers killed after."""
    program = tmp_path / "fake-dbt"
    program.write_text(FAKE_DBT.format(python=sys.executable))
    program.chmod(0o755)
    pids = tmp_path / "pids"
    yield program, pids
    if pids.exists():
        for pid in map(int, pids.read_text().split()):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def start_run(
    tmp_path: Path, program: Path, pids: Path, *extra: str, stubborn: bool = False
) -> subprocess.Popen[str]:
    """`pipewatch run` of the fake dbt, returned once both fake processes are up."""
    env = {**os.environ, "FAKE_DBT_PIDS": str(pids), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    if stubborn:
        env["FAKE_DBT_STUBBORN"] = "1"
    proc = subprocess.Popen(
        [pipewatch_executable(), "run", "--no-history", *extra, "--", str(program), "build"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if not wait_until(pids.exists, timeout=60):
        proc.kill()
        pytest.fail(f"the fake dbt never started: {proc.communicate()}")
    return proc


# ------------------------------------------------------------------------------------------- signals


@pytest.mark.parametrize(
    ("signum", "code", "name"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")]
)
def test_a_signal_to_pipewatch_stops_dbt_and_what_dbt_started(
    tmp_path: Path, fake_dbt: tuple[Path, Path], signum: int, code: int, name: str
) -> None:
    program, pids = fake_dbt
    proc = start_run(tmp_path, program, pids)
    dbt_pid, child_pid = map(int, pids.read_text().split())
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code
    assert "Traceback" not in stderr
    assert f"stopped by {name}: dbt and every process it started were stopped" in stderr.splitlines()[-1]
    assert wait_until(lambda: not alive(dbt_pid) and not alive(child_pid), timeout=10)


def test_a_dbt_that_ignores_the_signal_is_killed_after_the_grace_period(
    tmp_path: Path, fake_dbt: tuple[Path, Path]
) -> None:
    program, pids = fake_dbt
    proc = start_run(tmp_path, program, pids, "--grace-period", "0.5", stubborn=True)
    dbt_pid, child_pid = map(int, pids.read_text().split())
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert "stopped by SIGTERM" in stderr
    assert wait_until(lambda: not alive(dbt_pid) and not alive(child_pid), timeout=10)


# ------------------------------------------------------------------------------- a rerun that proves nothing

RETRY_PROJECT = Path(__file__).resolve().parents[1] / "data" / "retry_project"

WRAPPED_DBT = """\
#!{python}
# The real dbt, except that `dbt retry` exits 0 having done and written nothing.
import os, sys
if "retry" in sys.argv[1:]:
    print("Nothing to do. Try checking your model configs and model specification args")
    sys.exit(0)
os.execv({dbt!r}, [{dbt!r}, *sys.argv[1:]])
"""


@pytest.mark.dbt
def test_a_dbt_retry_that_exits_0_without_results_is_not_success(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pipewatch.commands.run import run_command
    from tests.conftest import dbt_executable

    project = tmp_path / "retry_project"
    shutil.copytree(RETRY_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "state"))
    wrapper = tmp_path / "wrapped-dbt"
    wrapper.write_text(WRAPPED_DBT.format(python=sys.executable, dbt=dbt_executable()))
    wrapper.chmod(0o755)
    where = str(project)
    argv = [str(wrapper), "--no-use-colors", "build", "--project-dir", where, "--profiles-dir", where]
    argv += ["--vars", "{state_dir: " + str(project / "state") + "}"]

    result = CliRunner().invoke(
        run_command, ["--backoff-base", "0", "--no-history", "--format", "json", "--", *argv]
    )
    summary = json.loads(result.stdout)
    assert [a["exit_code"] for a in summary["attempts"]] == [1, 0]
    assert summary["attempts"][1]["command"][2] == "retry"
    assert result.exit_code == 1 and summary["exit_code"] == 1 and not summary["succeeded"]
    assert "succeeded" not in summary["stopped"]
    assert "exited 0 but wrote no new run_results.json" in summary["stopped"]
    assert "the failures of attempt 1 stand" in summary["stopped"]
