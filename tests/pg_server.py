"""A throwaway PostgreSQL server for the second-dialect tests, started from the Debian package's binaries.

The server runs as the `postgres` system user (PostgreSQL refuses to run as root), listens only on
127.0.0.1 at a free port, trusts local connections, and is stopped and deleted when the session ends.
In CI (`CI=true`) a server that cannot be started is an error; elsewhere the tests skip with the reason.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PgServer:
    """Where the test server listens and how to reach it."""

    host: str
    port: int
    user: str
    password: str
    database: str
    data_dir: Path

    @property
    def dsn(self) -> str:
        """A libpq connection string for psycopg2."""
        return f"host={self.host} port={self.port} user={self.user} password={self.password} dbname={self.database}"

    def profile(self, schema: str = "public", threads: int = 1) -> dict[str, object]:
        """A dbt-postgres output block pointing at this server."""
        return {
            "type": "postgres",
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": self.database,
            "schema": schema,
            "threads": threads,
        }


class PgUnavailable(RuntimeError):
    """No PostgreSQL server could be started here (the message says why)."""


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise PgUnavailable("no PostgreSQL server binaries (Debian package `postgresql`) are installed")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(cmd: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *cmd] if user else cmd


def start_pg() -> tuple[PgServer, subprocess.Popen[bytes] | None]:
    """Initialise a fresh cluster in a temp dir and start it; returns the server and its process."""
    bindir = _bin_dir()
    run_as: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise PgUnavailable("running as root and there is no `postgres` user to run the server") from None
        run_as = "postgres"
    root = Path(tempfile.mkdtemp(prefix="pipewatch-pg-"))
    data = root / "data"
    sockets = root / "sock"
    sockets.mkdir()
    if run_as:
        info = pwd.getpwnam(run_as)
        for path in (root, sockets):
            os.chown(path, info.pw_uid, info.pw_gid)
    pwfile = root / "pw"
    password = "pipewatch"
    pwfile.write_text(password, encoding="utf-8")
    if run_as:
        os.chown(pwfile, pwd.getpwnam(run_as).pw_uid, pwd.getpwnam(run_as).pw_gid)
    init = subprocess.run(
        _as_postgres(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "pipewatch",
                "--pwfile",
                str(pwfile),
                "-A",
                "md5",
                "-E",
                "UTF8",
            ],
            run_as,
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    if init.returncode != 0:
        raise PgUnavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
    port = _free_port()
    log = root / "server.log"
    proc = subprocess.Popen(
        _as_postgres(
            [
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={sockets}",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ],
            run_as,
        ),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = PgServer("127.0.0.1", port, "pipewatch", password, "postgres", data)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PgUnavailable(f"postgres exited: {log.read_text(errors='replace')[-500:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
            ready = subprocess.run(
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                return server, proc
        except OSError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise PgUnavailable("postgres did not accept connections within 30 s")


def stop_pg(server: PgServer, proc: subprocess.Popen[bytes] | None) -> None:
    """Stop the server (fast shutdown) and delete its files."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    shutil.rmtree(server.data_dir.parent, ignore_errors=True)
