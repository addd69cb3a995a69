"""Stopping dbt when pipewatch is told to stop (CI cancel, `docker stop`, Ctrl-C).

dbt runs in its own process group, so a signal meant for pipewatch does not reach it by itself, and
killing dbt's PID alone would leave the processes dbt started (adapters' helpers, Python models) behind.
While a recovery run is going on, `StopSignals` catches SIGTERM and SIGINT and forwards each to dbt's
whole group, lets it stop cleanly (dbt cancels its open queries) for a bounded grace period, then kills
the group. The runner then ends with `RunInterrupted`: exit 128 + the signal (143 for SIGTERM, 130 for
SIGINT), one line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from pipewatch.errors import PipewatchError

#: Seconds dbt gets to stop after the signal is forwarded, before its whole group is killed.
DEFAULT_GRACE_S = 10.0
#: The signals forwarded to dbt.
FORWARDED = (signal.SIGTERM, signal.SIGINT)


class RunInterrupted(PipewatchError):
    """pipewatch was told to stop (SIGTERM, SIGINT) during a run; dbt and its processes were stopped.

    Exit code 128 + the signal number, as a shell reports a process a signal ended.
    """

    exit_code = 128 + signal.SIGTERM

    def __init__(self, signum: int, stopped_dbt: bool) -> None:
        name = signal.Signals(signum).name
        what = "dbt and every process it started were stopped" if stopped_dbt else "no dbt was running"
        super().__init__(f"stopped by {name}: {what}; the run did not finish")
        self.signum = signum

    @staticmethod
    def for_signal(signum: int, stopped_dbt: bool) -> RunInterrupted:
        """The error for `signum`: its class carries the exit code (exit codes are class-level)."""
        cls = RunInterruptedBySigint if signum == signal.SIGINT else RunInterrupted
        return cls(signum, stopped_dbt)


class RunInterruptedBySigint(RunInterrupted):
    """SIGINT (Ctrl-C) during a run: exit 130."""

    exit_code = 128 + signal.SIGINT


class StopSignals:
    """Forwards SIGTERM/SIGINT to the process group of the dbt currently running; see the module doc.

    Use as a context manager around the whole run (handlers are installed only in the main thread,
    the one Python delivers signals to), and `running(pid)` around each dbt process.
    """

    def __init__(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        self.grace_s = grace_s
        self.received: int | None = None  # the first signal received
        self._group: int | None = None  # dbt's process group while it runs
        self._killer: threading.Timer | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            from pipewatch.runner.early import take_over

            # A signal that came while dbt was started early (`runner.early`) counts as ours.
            self.received = take_over()
            for signum in FORWARDED:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        self._cancel_killer()
        for signum, previous in self._previous.items():
            # None: the previous handler was not set from Python; the default is the closest to it.
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)  # type: ignore[arg-type]
        self._previous.clear()

    @contextlib.contextmanager
    def running(self, group: int) -> Iterator[None]:
        """Mark process group `group` (dbt's pid, it leads its own group) as the one to forward to."""
        self._group = group
        if self.received is not None:
            # Told to stop before dbt was handed over: forward (again) and bound its grace period.
            self._handle(self.received, None)
        try:
            yield
        finally:
            self._group = None
            self._cancel_killer()
            if self.received is not None:
                # dbt is gone; whatever it started that ignored the signal is not left behind.
                kill_group(group, signal.SIGKILL)

    def check(self) -> None:
        """Raise `RunInterrupted` if a signal arrived (call after dbt stopped, before starting more)."""
        if self.received is not None:
            raise RunInterrupted.for_signal(self.received, stopped_dbt=True)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        del frame  # the signal module's handler signature; the frame is not needed
        if self.received is None:
            self.received = signum
        group = self._group
        if group is None:
            # Nothing running (waiting between attempts): stop now.
            raise RunInterrupted.for_signal(signum, stopped_dbt=False)
        kill_group(group, signum)
        if self._killer is None:
            self._killer = threading.Timer(self.grace_s, kill_group, (group, signal.SIGKILL))
            self._killer.daemon = True
            self._killer.start()

    def _cancel_killer(self) -> None:
        if self._killer is not None:
            self._killer.cancel()
            self._killer = None


def kill_group(group: int, signum: int) -> None:
    """Send `signum` to every process of `group`; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)
