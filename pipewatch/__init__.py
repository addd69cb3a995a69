"""pipewatch: the quality sidecar you run after `dbt build`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pipewatch.rules.api import check_dataframe

__all__ = ["__version__", "check_dataframe"]


def __getattr__(name: str) -> Any:
    # Lazy, so `pipewatch --version` and `import pipewatch.artifacts` do not pay for sqlglot.
    if name == "check_dataframe":
        from pipewatch.rules.api import check_dataframe

        return check_dataframe
    raise AttributeError(f"module 'pipewatch' has no attribute {name!r}")
