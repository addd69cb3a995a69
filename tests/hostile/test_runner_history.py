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
    assert summary["attempts"][1]["command"][4] == "retry"  # after `--log-format json`
    assert result.exit_code == 1 and summary["exit_code"] == 1 and not summary["succeeded"]
    assert "succeeded" not in summary["stopped"]
    assert "exited 0 but wrote no new run_results.json" in summary["stopped"]
    assert "the failures of attempt 1 stand" in summary["stopped"]


# ------------------------------------------------------------------------------- damaged and shared stores


@pytest.fixture(scope="module")
def healthy_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real store of 40 runs x 300 nodes (about 2 MB), made once and copied by each test."""
    from pipewatch.history import HistoryStore
    from pipewatch.history.testing import make_run, node_result

    path = tmp_path_factory.mktemp("healthy") / "history.duckdb"
    store = HistoryStore(path)
    start = 1_780_000_000.0
    for i in range(40):
        nodes = [node_result(f"model.p.m{j}", execution_time=1.0 + j) for j in range(300)]
        store.ingest(make_run(f"inv-{i:02d}", start + 3600 * i, nodes))
    return path


def fingerprint(path: Path) -> tuple[bytes, list[str]]:
    """The file's bytes and the names beside it (no .wal or replacement may appear)."""
    return path.read_bytes(), sorted(p.name for p in path.parent.iterdir())


@pytest.fixture
def truncated(healthy_store: Path, tmp_path: Path) -> Path:
    """A copy of the store cut to 300,000 bytes, as `truncate -s 300000` leaves it."""
    path = tmp_path / "truncated" / "history.duckdb"
    path.parent.mkdir()
    shutil.copy(healthy_store, path)
    assert path.stat().st_size > 600_000
    with path.open("r+b") as handle:
        handle.truncate(300_000)
    return path


@pytest.fixture
def missing_table(healthy_store: Path, tmp_path: Path) -> Path:
    """A copy of the store whose node_results table was dropped."""
    import duckdb

    path = tmp_path / "missing" / "history.duckdb"
    path.parent.mkdir()
    shutil.copy(healthy_store, path)
    with duckdb.connect(str(path)) as con:
        con.execute("DROP TABLE node_results")
    return path


def history_cli(*args: str | Path) -> object:
    from click.testing import CliRunner

    from pipewatch.commands.history import history

    # catch_exceptions=False: a traceback would fail the test rather than hide in the result.
    return CliRunner().invoke(history, [str(a) for a in args], catch_exceptions=False)


def damaged_line(result: object, path: Path, problem: str) -> None:
    """Exit 2 and one error line naming the file, what is damaged, and the way out."""
    exit_code, stderr = result.exit_code, result.stderr  # type: ignore[attr-defined]
    assert exit_code == 2, stderr
    errors = [line for line in stderr.splitlines() if "warning" not in line]
    assert len(errors) == 1, stderr
    assert f"{path}: history store is damaged" in errors[0] and problem in errors[0]
    assert "left as it is" in errors[0] and "pipewatch history doctor" in errors[0]


@pytest.mark.parametrize("command", [("show",), ("show", "m1"), ("prune", "--keep", "1d")])
def test_reading_a_truncated_store_is_one_line_and_leaves_it_alone(
    truncated: Path, command: tuple[str, ...]
) -> None:
    before = fingerprint(truncated)
    result = history_cli(*command, "--history", truncated, "--lock-timeout", "2s")
    damaged_line(result, truncated, "Could not read")
    assert fingerprint(truncated) == before


def test_ingesting_into_a_truncated_store_is_one_line_and_leaves_it_alone(
    truncated: Path, tmp_path: Path
) -> None:
    from pipewatch.history import HistoryStore
    from pipewatch.history.testing import make_run, node_result

    saved = tmp_path / "saved"
    saved.mkdir()
    before = fingerprint(truncated)
    result = history_cli("ingest", saved, "--history", truncated)
    damaged_line(result, truncated, "Could not read")
    # The library call after-run makes: the typed error, before anything is written.
    from pipewatch.history import DamagedStoreError

    with pytest.raises(DamagedStoreError, match="history store is damaged"):
        HistoryStore(truncated).ingest(make_run("inv-new", 1_790_000_000.0, [node_result("model.p.m1")]))
    assert fingerprint(truncated) == before


def test_a_store_missing_a_table_is_one_line_and_left_alone(missing_table: Path) -> None:
    before = fingerprint(missing_table)
    damaged_line(
        history_cli("show", "--history", missing_table), missing_table, "missing table(s): node_results"
    )
    assert fingerprint(missing_table) == before


def test_doctor_says_what_is_wrong_and_how_to_recover(
    truncated: Path, missing_table: Path, healthy_store: Path
) -> None:
    healthy = history_cli("doctor", "--history", healthy_store)
    assert healthy.exit_code == 0, healthy.output
    assert "node_results: 12000 row(s)" in healthy.stdout and "invocations: 40 row(s)" in healthy.stdout
    assert healthy.stdout.rstrip().endswith("healthy")

    for path, problem in (
        (truncated, "table invocations cannot be read back"),
        (missing_table, "table node_results is missing"),
    ):
        before = fingerprint(path)
        result = history_cli("doctor", "--history", path)
        assert result.exit_code == 2, result.output
        assert f"problem: {problem}" in result.stdout
        assert (
            f"recovery: the file was left as it is. Move it aside (mv {path} {path}.damaged)" in result.stdout
        )
        assert "pipewatch history ingest" in result.stdout
        assert f"{path}: history store is damaged" in result.stderr
        assert fingerprint(path) == before


@pytest.mark.dbt
def test_after_run_with_a_truncated_store_still_gives_its_verdict(
    truncated: Path, clean_build: object
) -> None:
    from tests.conftest import run_pipewatch

    project = clean_build.project_dir  # type: ignore[attr-defined]
    before = fingerprint(truncated)
    args = (
        "after-run",
        "--project-dir",
        str(project),
        "--no-rules",
        "--format",
        "json",
        "--history",
        str(truncated),
    )
    done = run_pipewatch(*args)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["gate"]["passed"] is True
    assert "Traceback" not in done.stderr
    assert f"{truncated}: history store is damaged" in done.stderr
    assert fingerprint(truncated) == before


def test_show_reads_a_store_another_process_has_open(healthy_store: Path, tmp_path: Path) -> None:
    """A reader (another `history show`, a notebook) holds DuckDB's shared lock: `show` reads beside it
    instead of waiting for a write lock it does not need."""
    path = tmp_path / "history.duckdb"
    shutil.copy(healthy_store, path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time\n"
         "con = duckdb.connect(sys.argv[1], read_only=True)\nprint('open', flush=True)\ntime.sleep(120)", str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        before = fingerprint(path)
        result = history_cli("show", "--history", path, "--lock-timeout", "1s")
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        assert "40 run(s)" in result.stdout  # type: ignore[attr-defined]
        assert fingerprint(path) == before
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root writes through file modes; read-only mode is tested above"
)
def test_show_reads_a_store_in_a_read_only_directory(healthy_store: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "history.duckdb"
    shutil.copy(healthy_store, path)
    path.chmod(0o444)
    folder.chmod(0o555)
    try:
        result = history_cli("show", "--history", path)
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    finally:
        folder.chmod(0o755)
