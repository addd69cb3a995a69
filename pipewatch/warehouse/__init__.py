"""Warehouses pipewatch runs checks on: the protocol, and native DuckDB."""

from __future__ import annotations

from pipewatch.warehouse.base import QueryError, QueryResult, Warehouse

__all__ = ["QueryError", "QueryResult", "Warehouse"]
