"""Lines of a dbt log as they are written: from a stream (stdin) or a file followed like `tail -f`.

`Follower(source)` yields complete lines (bytes, newline stripped) until the stream ends, the
caller says stop (`stop()` returns True: the followed invocation completed), or `timeout` seconds
pass. Memory is bounded by one line: a partial line waits for its newline, one longer than
`MAX_LINE_BYTES` is dropped and counted.

A followed file starts at the newest invocation it holds (dbt appends every invocation to
`logs/dbt.log`), and survives dbt's log rotation: when the path names another file (new inode)
or the file shrank (truncated), the rest of the old file is read and the new one is read from the
start. `ended` says why the lines stopped: `eof` (a stream closed), `stopped`, `timeout`.
"""

from __future__ import annotations

import os
import select
import sys
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import BinaryIO

from pipewatch.live.events import MAX_LINE_BYTES, line_head

CHUNK = 64 * 1024
#: Seconds between looks at a file (or a quiet stream) that has nothing new: a watcher, not a busy loop.
POLL_S = 0.2


def newest_invocation_offset(path: Path) -> int:
    """Byte offset of the first line of the newest invocation in a dbt log file (0 if none)."""
    offset = 0
    start = 0
    current: str | None = None
    with path.open("rb") as f:
        for line in f:
            inv = line_head(line)[0]
            if inv is not None and inv != current:
                current = inv
                start = offset
            offset += len(line)
    return start


class Follower:
    """Iterates over the lines of `source`: `-` or a binary stream, or a file path to follow."""

    def __init__(
        self,
        source: str | Path | BinaryIO,
        *,
        timeout: float | None = None,
        poll_s: float = POLL_S,
        stop: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        from_newest: bool = True,
        idle: Callable[[], None] | None = None,
    ) -> None:
        """`from_newest=False` reads a file from its start instead of its newest invocation;
        `idle` is called each time the source had nothing new for a poll interval (for timers:
        a node running long gets noticed although dbt prints nothing)."""
        self.source = source
        self.timeout = timeout
        self.poll_s = poll_s
        self.stop = stop or (lambda: False)
        self.clock = clock
        self.sleep = sleep
        self.from_newest = from_newest
        self.idle = idle or (lambda: None)
        self.ended: str | None = None
        self.rotations = 0
        self.truncations = 0
        self.oversized = 0
        self._deadline: float | None = None

    def __iter__(self) -> Iterator[bytes]:
        """The lines, as they come."""
        self._deadline = None if self.timeout is None else self.clock() + self.timeout
        if isinstance(self.source, (str, Path)) and str(self.source) != "-":
            yield from self._follow_file(Path(self.source))
        else:
            stream = sys.stdin.buffer if isinstance(self.source, (str, Path)) else self.source
            yield from self._read_stream(stream)

    def _expired(self) -> bool:
        return self._deadline is not None and self.clock() >= self._deadline

    def _should_end(self) -> bool:
        if self.stop():
            self.ended = "stopped"
            return True
        if self._expired():
            self.ended = "timeout"
            return True
        return False

    def _split(self, buffer: bytes, chunk: bytes) -> tuple[list[bytes], bytes]:
        """Complete lines of buffer + chunk, and the partial rest (dropped past MAX_LINE_BYTES)."""
        data = buffer + chunk if buffer else chunk
        *lines, rest = data.split(b"\n")
        if len(rest) > MAX_LINE_BYTES:
            self.oversized += 1
            rest = b""
        return [ln.rstrip(b"\r") for ln in lines], rest

    def _until_stop(self, lines: list[bytes]) -> Generator[bytes, None, bool]:
        """Yield lines until the caller says stop (checked after each: the completing line is
        the last one read); return whether it did."""
        for line in lines:
            yield line
            if self.stop():
                self.ended = "stopped"
                return True
        return False

    # ------------------------------------------------------------------ streams

    def _read_stream(self, stream: BinaryIO) -> Iterator[bytes]:
        try:
            fd: int | None = stream.fileno()
        except (OSError, ValueError, AttributeError):
            fd = None  # an in-memory stream: reads never block
        buffer = b""
        while True:
            if self._should_end():
                return
            if fd is not None:
                wait = self.poll_s
                ready, _, _ = select.select([fd], [], [], wait)
                if not ready:
                    self.idle()
                    continue
                chunk = os.read(fd, CHUNK)
            else:
                chunk = stream.readline()
            if not chunk:
                if buffer:
                    yield buffer
                self.ended = "eof"
                return
            lines, buffer = self._split(buffer, chunk)
            if (yield from self._until_stop(lines)):
                return

    # -------------------------------------------------------------------- files

    def _open(self, path: Path) -> BinaryIO | None:
        while not path.exists():
            if self._should_end():
                return None
            self.sleep(self.poll_s)
        try:
            return path.open("rb")
        except FileNotFoundError:  # rotated away between the check and the open
            return self._open(path)

    def _follow_file(self, path: Path) -> Iterator[bytes]:
        f = self._open(path)
        if f is None:
            return
        if self.from_newest:
            f.seek(newest_invocation_offset(path))
        buffer = b""
        try:
            while True:
                chunk = f.read(CHUNK)
                if chunk:
                    lines, buffer = self._split(buffer, chunk)
                    if (yield from self._until_stop(lines)):
                        return
                    continue
                truncations = self.truncations
                reopened = self._check_rotation(path, f)
                if self.truncations != truncations:
                    buffer = b""
                    continue
                if reopened is not None:
                    f.close()
                    f, buffer = reopened, b""
                    continue
                if self._should_end():
                    return
                self.idle()
                self.sleep(self.poll_s)
        finally:
            f.close()

    def _check_rotation(self, path: Path, f: BinaryIO) -> BinaryIO | None:
        """A fresh handle when the path was rotated (new inode) or truncated; None otherwise."""
        try:
            now = os.stat(path)
        except FileNotFoundError:
            return None  # mid-rotation: the new file is not there yet
        mine = os.fstat(f.fileno())
        if (now.st_ino, now.st_dev) != (mine.st_ino, mine.st_dev):
            self.rotations += 1
            try:
                return path.open("rb")
            except FileNotFoundError:
                return None
        if now.st_size < f.tell():
            self.truncations += 1
            f.seek(0)
            return None
        return None
