"""Package façades that resolve their public names lazily (PEP 562), the one way pipewatch does it.

A package whose `__init__` re-exports names from its modules would import all of them (and what they
import: sqlglot, duckdb, every decoder) as soon as any one module of the package is imported. With
`__getattr__ = lazy_names(__name__, homes, globals())` a name's module is imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from importlib import import_module
from typing import Any


def lazy_names(
    package: str, homes: Mapping[str, str], namespace: MutableMapping[str, Any]
) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: each name of `homes` (name -> module of the package)
    is imported from its module on first use and kept in `namespace` (the package's globals)."""

    def resolve(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{home}"), name)
        namespace[name] = value  # later lookups skip this function
        return value

    return resolve
