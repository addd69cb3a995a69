"""An anomaly: a metric whose latest value departs from its history.

Its own light module (no DuckDB), so that the analysis and the views can name the type without
opening the history store's machinery.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Anomaly:
    """A metric whose latest value departs from its history (found by `history.anomalies`)."""

    unique_id: str
    metric: str
    value: float
    expected_low: float
    expected_high: float
    direction: str
    points: int
