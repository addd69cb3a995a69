"""Where `pipewatch check` imported its dispatcher from; the dispatcher is `pipewatch.outputs.render_check`.

Kept only because `pipewatch/commands/check.py` (not this area's file) imports it from here: once that
import says `from pipewatch.outputs import render_check`, this module can go.
"""

from __future__ import annotations

from pipewatch.outputs import render_check

__all__ = ["render_check"]
