"""Byte-compile the pipewatch package before a benchmark times whole processes.

An installed package ships (or writes on first import) its `.pyc` files; a checkout run with
`PYTHONDONTWRITEBYTECODE=1` (common in CI and containers) would instead compile every pipewatch
module from source in every process, and the benchmark would time the compiler, not pipewatch.
"""

from __future__ import annotations

import compileall
from pathlib import Path

import pipewatch


def compile_pipewatch() -> None:
    """Write the `.pyc` files of every pipewatch module (quietly; already current ones are kept)."""
    compileall.compile_dir(str(Path(pipewatch.__file__).parent), quiet=1)
