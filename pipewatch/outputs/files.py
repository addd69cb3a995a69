"""Writing output files whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pipewatch.errors import PipewatchError


def write_atomic(path: Path | str, text: str, *, what: str = "file") -> Path:
    """Write `text` to `path` via a temp file and a rename, so a reader never sees half of it.

    Readers matter here: node_exporter scrapes `*.prom` files at any moment, and a CI step may upload a
    report while a second run rewrites it. The file is made world-readable (0644) because the reader
    usually runs as another user. Any OS error becomes one line naming the file (`what` says what it is).
    """
    target = Path(path)
    try:
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
    except OSError as exc:
        raise PipewatchError(f"{target}: cannot write the {what}: {exc.strerror or exc}") from None
    return target
