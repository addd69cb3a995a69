"""Writing output files whole or not at all, and never losing a write silently."""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from pipewatch.errors import PipewatchError

# fsync on a pipe, a terminal or most devices is not supported; that is not a lost write.
_NO_FSYNC = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EROFS, errno.ENOTTY})


def write_atomic(path: Path | str, text: str, *, what: str = "file") -> Path:
    """Write `text` to `path` via a temp file and a rename, so a reader never sees half of it.

    Readers matter here: node_exporter scrapes `*.prom` files at any moment, and a CI step may upload a
    report while a second run rewrites it. The file is made world-readable (0644) because the reader
    usually runs as another user. A target that exists and is not a regular file (a device such as
    `/dev/stdout`, a FIFO) cannot be renamed over: it is written directly. Either way the data is
    flushed and synced, and any OS error (a full disk, `/dev/full`) becomes one line naming the file
    (`what` says what it is), a PipewatchError (exit 2).
    """
    target = Path(path)
    try:
        if _is_special(target):
            _write_direct(target, text)
        else:
            _write_via_rename(target, text)
    except OSError as exc:
        raise PipewatchError(f"{target}: cannot write the {what}: {exc.strerror or exc}") from None
    return target


def write_stream(text: str, stream: TextIO | None = None, *, name: str = "stdout") -> None:
    """Write `text` to `stream` (stdout by default) and flush it now, so a full disk or a closed pipe is
    a PipewatchError naming `name` (exit 2), not a write lost when the interpreter exits."""
    out = sys.stdout if stream is None else stream
    try:
        out.write(text)
        out.flush()
    except OSError as exc:
        if out is sys.stdout:
            # What is still buffered would fail again at exit, with a traceback-like note: drop it.
            _discard_stdout()
        raise PipewatchError(f"{name}: cannot write the output: {exc.strerror or exc}") from None


def _discard_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass  # no file descriptor to redirect (a test's StringIO): nothing will be flushed at exit


def _is_special(target: Path) -> bool:
    """Whether `target` exists and is something other than a regular file or a directory."""
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _write_direct(target: Path, text: str) -> None:
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        try:
            os.fsync(handle.fileno())
        except OSError as exc:
            if exc.errno not in _NO_FSYNC:
                raise


def _write_via_rename(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
