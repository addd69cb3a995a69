"""Start dbt before pipewatch finishes starting: what keeps `pipewatch run`'s overhead near zero.

Importing the command line (click, the commands, the artifact loader, triage) takes a few tenths
of a second. `pipewatch run -- dbt ...` does not make dbt wait for that: `spawn_from_argv`, called
first thing by `pipewatch.cli`, starts dbt's first attempt at once (standard library only), and
`runner.process.execute` adopts that process when it is asked to run the very same command in the
same place. A process nobody adopts (the flags were wrong, `--help`) is killed with its group at exit.

`json_log_argv` is the one place that asks dbt for JSON logs (`--log-format json`, right after the
executable): the live view, the alerts and the tail kept for triage read dbt's events.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

_LOG_FORMAT = "--log-format"
#: pipewatch run's own flags that stop it before dbt would run.
_NO_RUN = frozenset({"-h", "--help"})
_early: dict[str, object] = {}
#: While dbt runs before the runner's own handlers exist: the handlers replaced, the signal received.
_saved: dict[int, object] = {}
_received: list[int] = []
_FORWARDED = (signal.SIGTERM, signal.SIGINT)


def json_log_argv(argv: Sequence[str]) -> list[str]:
    """`argv` (a dbt command line) asking for JSON logs: `--log-format json` after the executable,
    any `--log-format` the user gave removed (pipewatch renders the view itself)."""
    out: list[str] = [str(argv[0])] if argv else []
    skip = False
    for token in list(argv)[1:]:
        if skip:
            skip = False
            continue
        if token == _LOG_FORMAT:
            skip = True
            continue
        if token.startswith(_LOG_FORMAT + "="):
            continue
        out.append(str(token))
    return [out[0], _LOG_FORMAT, "json", *out[1:]] if out else out


def popen_dbt(argv: Sequence[str], workdir: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """dbt started as the runner runs it: its own process group, stdout and stderr on one pipe."""
    return subprocess.Popen(
        list(argv),
        cwd=workdir,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        bufsize=0,
        start_new_session=True,
    )


def spawn_from_argv(argv: Sequence[str]) -> None:
    """If `argv` is `pipewatch run [flags] -- dbt <command> ...`, start that dbt now (see module doc)."""
    args = list(argv)
    if len(args) < 4 or Path(args[0]).name != "pipewatch" or args[1] != "run" or "--" not in args:
        return
    split = args.index("--")
    dbt = args[split + 1 :]
    if _NO_RUN & set(args[2:split]) or not dbt or not Path(dbt[0]).name.lower().endswith("dbt"):
        return
    if not any(not a.startswith("-") for a in dbt[1:]):
        return  # no subcommand: the runner refuses it with its own message
    command = json_log_argv(dbt)
    try:
        proc = popen_dbt(command, Path.cwd(), os.environ)
    except OSError:
        return  # the runner starts it again and reports the problem its own way
    _early.update(proc=proc, argv=command, cwd=str(Path.cwd()))
    atexit.register(_kill_unadopted)
    # A CI cancel or Ctrl-C while pipewatch is still starting must still reach dbt's group (it runs
    # in its own session); the runner's `StopSignals` takes the signal over (`take_over`).
    for signum in _FORWARDED:
        _saved[signum] = signal.signal(signum, _forward)


def _forward(signum: int, frame: object) -> None:
    del frame  # the signal module's handler signature
    if not _received:
        _received.append(signum)
    proc = _early.get("proc")
    if isinstance(proc, subprocess.Popen):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)


def take_over() -> int | None:
    """Put back the handlers `spawn_from_argv` replaced; the signal received meanwhile, if any."""
    for signum, previous in _saved.items():
        signal.signal(signum, previous)  # type: ignore[arg-type]
    _saved.clear()
    received = _received[0] if _received else None
    _received.clear()
    return received


def adopt(argv: Sequence[str], workdir: Path) -> subprocess.Popen[bytes] | None:
    """The early dbt if it runs exactly `argv` in `workdir` (taken once), else None."""
    proc = _early.get("proc")
    if not isinstance(proc, subprocess.Popen):
        return None
    if _early.get("argv") != list(argv) or _early.get("cwd") != str(workdir.resolve()):
        return None
    _early.clear()
    return proc


def _kill_unadopted() -> None:
    proc = _early.pop("proc", None)
    if isinstance(proc, subprocess.Popen) and proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
