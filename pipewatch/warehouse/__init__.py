"""Warehouses pipewatch runs checks on: the protocol, native DuckDB, and any dbt profile via its adapter."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipewatch.warehouse.base import QueryError, QueryResult, Warehouse

if TYPE_CHECKING:
    from pipewatch.warehouse.dbt_adapter import DbtAdapterWarehouse
    from pipewatch.warehouse.direct import ProfileWarehouse
    from pipewatch.warehouse.duckdb import DuckDBWarehouse

__all__ = [
    "DbtAdapterWarehouse",
    "DuckDBWarehouse",
    "QueryError",
    "QueryResult",
    "Warehouse",
    "open_warehouse",
]


def open_warehouse(
    *,
    duckdb: Path | str | None = None,
    project_dir: Path | str = ".",
    profiles_dir: Path | str | None = None,
    target: str | None = None,
    profile: str | None = None,
    vars: Mapping[str, Any] | None = None,
    threads: int | None = None,
    catalog: str | None = None,
) -> DuckDBWarehouse | DbtAdapterWarehouse | ProfileWarehouse:
    """The warehouse a check run talks to: the DuckDB file `duckdb` natively when given, else the dbt
    profile of the project (as dbt picks it: `profiles_dir`, `target`, `profile`), opened by its driver
    when the profile maps plainly onto it (`warehouse.direct`), else through dbt's adapter.

    `vars` are dbt's `--vars`; `threads` caps the connections used at once (default: the profile's
    threads); `catalog` attaches a DuckDB file under the catalog name dbt's SQL uses (a renamed copy).
    A DuckDB file opens read-only at once; a dbt profile is read and validated here (ConfigError) and
    connects on first use (WarehouseError, exit code 3, when it cannot).
    """
    if duckdb is not None:
        from pipewatch.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(duckdb, catalog=catalog, threads=threads)
    from pipewatch.warehouse.direct import open_profile

    return open_profile(
        project_dir=Path(project_dir),
        profiles_dir=profiles_dir,
        target=target,
        profile=profile,
        vars=vars,
        threads=threads,
    )


def __getattr__(name: str) -> object:
    # Lazy: importing dbt costs ~2 s, and DuckDB-only runs never need it.
    if name == "DbtAdapterWarehouse":
        from pipewatch.warehouse.dbt_adapter import DbtAdapterWarehouse

        return DbtAdapterWarehouse
    if name == "DuckDBWarehouse":
        from pipewatch.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse
    raise AttributeError(f"module 'pipewatch.warehouse' has no attribute {name!r}")
