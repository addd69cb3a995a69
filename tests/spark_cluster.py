"""A real multi-process Spark cluster on 127.0.0.1: a standalone master and two workers, each its own JVM,
started with the `bin/spark-class` that pyspark ships (no Spark download).

    python -m tests.spark_cluster start [--dir DIR]   # prints the master URL; state kept in DIR
    python -m tests.spark_cluster stop  [--dir DIR]   # stops the JVMs it started (by their pids)

Point the example's `spark` target at it with `PIPEWATCH_SPARK_MASTER=spark://127.0.0.1:PORT`: dbt and
pipewatch then run their SparkSession driver in their own process and the SQL on executors in the
workers' JVMs. The warehouse dir is a local path, which every worker reads because they all run here.
Only 127.0.0.1 is bound (SPARK_LOCAL_IP, the master's and workers' --host; the web UIs on free ports).
Each worker must offer at least the `spark.executor.memory` the driver asks for (the example's target:
1g), or the application waits for executors forever.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
DEFAULT_DIR = Path(tempfile.gettempdir()) / "pipewatch-spark-cluster"
WORKERS = 2


class SparkUnavailable(RuntimeError):
    """No Spark cluster can be started here (no Java or no pyspark): the message says which."""


@dataclass(frozen=True)
class SparkCluster:
    """A running cluster: its master URL and the pids of its JVMs (master first)."""

    master_url: str
    pids: tuple[int, ...]
    state_dir: Path


def spark_home() -> Path:
    """pyspark's install dir, which holds bin/spark-class and the jars (SparkUnavailable without it)."""
    try:
        import pyspark
    except ImportError:
        raise SparkUnavailable("pyspark is not installed (pip install 'pipewatch[spark]')") from None
    return Path(pyspark.__file__).parent


def java_available() -> bool:
    """Whether a `java` (17+) is on PATH or under JAVA_HOME."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return True
    return any((Path(d) / "java").exists() for d in os.environ.get("PATH", "").split(os.pathsep) if d)


def require_spark() -> None:
    """Skip the calling test without Java or pyspark (fail instead in CI, which installs both)."""
    import pytest

    try:
        spark_home()
        if not java_available():
            raise SparkUnavailable("no java on PATH (Debian: apt-get install openjdk-17-jre-headless)")
    except SparkUnavailable as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must test Spark for real: {exc}")
        pytest.skip(f"{exc}; `make demo-spark` or `pip install -e '.[spark]'` enables the Spark tests")


def session_output(directory: Path, schema: str = "main", master: str = "local[2]") -> dict[str, object]:
    """A dbt-spark `session` output whose metastore and warehouse live in `directory` (quiet JVM)."""
    log4j = Path(__file__).resolve().parents[1] / "dbt_example_project" / "spark" / "log4j2.properties"
    return {
        "type": "spark",
        "method": "session",
        "host": "localhost",
        "schema": schema,
        "threads": 1,
        "server_side_parameters": {
            "spark.master": master,
            "spark.sql.warehouse.dir": str(directory / "spark" / "warehouse"),
            "spark.hadoop.javax.jdo.option.ConnectionURL": (
                f"jdbc:derby:;databaseName={directory / 'spark' / 'metastore_db'};create=true"
            ),
            "spark.driver.extraJavaOptions": (
                f"-Dderby.system.home={directory / 'spark'} -Dlog4j2.configurationFile=file:{log4j}"
            ),
            "spark.sql.shuffle.partitions": "4",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
        },
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _env(state_dir: Path) -> dict[str, str]:
    env = dict(os.environ, SPARK_LOCAL_IP=HOST, SPARK_HOME=str(spark_home()))
    env["SPARK_LOG_DIR"] = str(state_dir / "logs")
    env["SPARK_WORKER_DIR"] = str(state_dir / "work")
    # The daemons' JVM flags: little heap (2 cores, shared machine), no web UI.
    env["SPARK_DAEMON_MEMORY"] = "256m"
    return env


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SparkUnavailable(f"a Spark JVM exited with {proc.returncode}; see {log}")
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.3)
    raise SparkUnavailable(f"Spark did not listen on {HOST}:{port} within {timeout:.0f}s; see {log}")


def _spawn(args: list[str], state_dir: Path, name: str) -> subprocess.Popen[bytes]:
    log = state_dir / "logs" / f"{name}.log"
    with open(log, "wb") as out:
        # Its own session: `stop` signals exactly this JVM, never anything it did not start.
        return subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), *args],
            env=_env(state_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def start(
    state_dir: Path = DEFAULT_DIR, workers: int = WORKERS, cores: int = 1, memory: str = "1g"
) -> SparkCluster:
    """Start a master and `workers` workers (each `cores` cores, `memory` for executors) on 127.0.0.1."""
    if not java_available():
        raise SparkUnavailable(
            "no java on PATH or JAVA_HOME (Debian: apt-get install openjdk-17-jre-headless)"
        )
    home = spark_home()
    if not (home / "bin" / "spark-class").exists():
        raise SparkUnavailable(f"{home}/bin/spark-class is missing")
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    (state_dir / "work").mkdir(parents=True, exist_ok=True)
    port = _free_port()
    master = _spawn(
        ["org.apache.spark.deploy.master.Master", "--host", HOST, "--port", str(port), "--webui-port", "0"],
        state_dir,
        "master",
    )
    procs = [master]
    try:
        _wait_for_port(port, master, state_dir / "logs" / "master.log", 90)
        url = f"spark://{HOST}:{port}"
        for i in range(workers):
            procs.append(
                _spawn(
                    [
                        "org.apache.spark.deploy.worker.Worker",
                        "--host", HOST, "--webui-port", "0",
                        "--cores", str(cores), "--memory", memory,
                        "--work-dir", str(state_dir / "work" / f"worker{i}"),
                        url,
                    ],
                    state_dir,
                    f"worker{i}",
                )
            )  # fmt: skip
        _wait_for_workers(state_dir, workers, procs)
    except BaseException:
        _kill([p.pid for p in procs])
        raise
    cluster = SparkCluster(url, tuple(p.pid for p in procs), state_dir)
    (state_dir / "cluster.json").write_text(
        json.dumps({"master_url": url, "pids": list(cluster.pids)}), encoding="utf-8"
    )
    return cluster


def _wait_for_workers(state_dir: Path, workers: int, procs: list[subprocess.Popen[bytes]]) -> None:
    """Until each worker's log says it registered with the master."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        registered = 0
        for i in range(workers):
            if procs[i + 1].poll() is not None:
                raise SparkUnavailable(f"worker {i} exited; see {state_dir / 'logs' / f'worker{i}.log'}")
            log = state_dir / "logs" / f"worker{i}.log"
            text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
            registered += "Successfully registered with master" in text
        if registered == workers:
            return
        time.sleep(0.5)
    raise SparkUnavailable(f"workers did not register within 120s; see {state_dir / 'logs'}")


def _kill(pids: list[int]) -> None:
    for pid in reversed(pids):
        try:
            os.killpg(pid, signal.SIGTERM)  # each JVM leads its own session (start_new_session)
        except (ProcessLookupError, PermissionError):
            continue
    deadline = time.monotonic() + 20
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.2)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


def stop(cluster: SparkCluster | Path = DEFAULT_DIR) -> None:
    """Stop the JVMs a `start` recorded (a cluster, or the state dir holding cluster.json)."""
    if isinstance(cluster, SparkCluster):
        pids = list(cluster.pids)
        state = cluster.state_dir / "cluster.json"
    else:
        state = cluster / "cluster.json"
        if not state.exists():
            return
        pids = [int(p) for p in json.loads(state.read_text(encoding="utf-8"))["pids"]]
    _kill(pids)
    state.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """`start` prints the master URL; `stop` stops what `start` started."""
    parser = argparse.ArgumentParser(prog="python -m tests.spark_cluster", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state dir (logs, pids)")
    parser.add_argument("--workers", type=int, default=WORKERS)
    args = parser.parse_args(argv)
    if args.action == "stop":
        stop(args.dir)
        return 0
    try:
        cluster = start(args.dir, workers=args.workers)
    except SparkUnavailable as exc:
        print(f"spark_cluster: {exc}", file=sys.stderr)
        return 2
    print(cluster.master_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
