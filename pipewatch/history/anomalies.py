"""Anomaly detection over the history store: is the latest value of a series out of its usual band?

Series: each model's (and seed's and snapshot's) `execution_time` and `rows_affected`, each quality
check's metric (`row_count`, `null_ratio`, `failing_ratio`, `freshness_lag`, or `failing_rows`
when the check's total is unknown) and each source's `freshness_lag`.

Method, per series: the training window is the last `window` points strictly before the judged
invocation (the judged value never trains its own band). Its median is the centre; the median
absolute deviation (MAD), scaled to a standard deviation, is a robust sigma, so spikes already in
the window neither move the centre nor widen the band (an old spike cannot hide a new one). The sigma has a floor, relative
to the median and absolute per metric, so a perfectly flat series is not flagged for a tiny wobble.
A value is an anomaly when it lies more than `sensitivity` robust sigmas from the median. With
`seasonality`, a series with enough points on the judged weekday is compared with those only.

The whole pass is one DuckDB query over all series (a top-N aggregate per series, then medians), not
a Python loop per series.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipewatch.errors import ConfigError
from pipewatch.history.anomaly import Anomaly
from pipewatch.history.errors import HistoryError
from pipewatch.history.store import latest_invocation

if TYPE_CHECKING:
    import duckdb

    from pipewatch.history.store import HistoryStore

#: MAD x 1.4826 estimates the standard deviation of normally distributed data; on n points the MAD
#: runs low, so it is also scaled by n / (n - 0.8) (Croux & Rousseeuw's small-sample correction),
#: which on 7-15 points cuts false alarms on Gaussian noise by about a third.
MAD_TO_SIGMA = 1.4826
#: Statuses whose timing and row counts describe real work (an errored or skipped node's do not).
JUDGED_STATUSES = ("success", "pass", "warn", "no-op", "reused", "partial success")
#: Resource types whose execution time and rows affected form series.
JUDGED_RESOURCES = ("model", "seed", "snapshot")
#: Per-metric floor on the robust sigma, in the metric's unit.
DEFAULT_ABSOLUTE_FLOORS: Mapping[str, float] = {
    "execution_time": 0.25,  # seconds: sub-second jitter of a fast model is not news
    "rows_affected": 1.0,
    "row_count": 1.0,
    "failing_rows": 1.0,
    "null_ratio": 0.001,
    "failing_ratio": 0.001,
    "freshness_lag": 300.0,  # seconds: loaders are rarely punctual to the minute
}


@dataclass(frozen=True, slots=True)
class AnomalyConfig:
    """How anomalies are judged (`anomalies:` in pipewatch.yml)."""

    window: int = 30  # training points: the last N before the judged one
    min_points: int = 7  # fewer training points than this: not judged
    sensitivity: float = 3.5  # robust z beyond which a value is an anomaly
    seasonality: bool = False  # compare with the same weekday (UTC) when min_points such exist
    relative_floor: float = 0.05  # sigma is at least this fraction of |median|
    absolute_floors: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_ABSOLUTE_FLOORS))
    default_floor: float = 1e-9  # sigma floor for a metric without its own

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ConfigError(f"anomalies.window must be at least 1 (got {self.window})")
        if self.min_points < 1:
            raise ConfigError(f"anomalies.min_points must be at least 1 (got {self.min_points})")
        if not (self.sensitivity > 0 and math.isfinite(self.sensitivity)):
            raise ConfigError(f"anomalies.sensitivity must be a positive number (got {self.sensitivity})")
        if (
            self.relative_floor < 0
            or self.default_floor < 0
            or any(v < 0 for v in self.absolute_floors.values())
        ):
            raise ConfigError("anomaly floors must not be negative")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None, where: str = "pipewatch.yml") -> AnomalyConfig:
        """Build from the `anomalies:` mapping of pipewatch.yml; ConfigError naming the bad key."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: `anomalies` must be a mapping")
        known = {"window", "min_points", "sensitivity", "seasonality", "relative_floor", "floors"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) in `anomalies`: {', '.join(map(str, unknown))}")
        kwargs: dict[str, Any] = {}
        try:
            for key in ("window", "min_points"):
                if key in raw:
                    kwargs[key] = _int(raw[key])
            for key in ("sensitivity", "relative_floor"):
                if key in raw:
                    kwargs[key] = _float(raw[key])
            if "seasonality" in raw:
                if not isinstance(raw["seasonality"], bool):
                    raise ValueError("`seasonality` must be true or false")
                kwargs["seasonality"] = raw["seasonality"]
            if "floors" in raw:
                floors = raw["floors"]
                if not isinstance(floors, Mapping):
                    raise ValueError("`floors` must map metric names to numbers")
                kwargs["absolute_floors"] = {
                    **DEFAULT_ABSOLUTE_FLOORS,
                    **{str(k): _float(v) for k, v in floors.items()},
                }
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: `anomalies`: {exc}") from None
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {value!r}")
    return int(value)


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


_SQL_TEMPLATE = """
WITH target AS (
    SELECT invocation_id, generated_at FROM invocations WHERE invocation_id = $inv
),
runs AS (
    SELECT i.invocation_id, i.generated_at,
        i.invocation_id = t.invocation_id AS judged,
        $seasonal AND dayofweek(i.generated_at) = dayofweek(t.generated_at) AS same_weekday
    FROM invocations i, target t
    WHERE i.generated_at <= t.generated_at
),
node_points AS (
    SELECT r.unique_id, runs.generated_at, runs.judged, runs.same_weekday, r.execution_time,
        CASE WHEN r.rows_affected >= 0 THEN CAST(r.rows_affected AS DOUBLE) END AS rows_affected
    FROM node_results r JOIN runs USING (invocation_id)
    WHERE r.status IN ({statuses})
      AND ({resources})
      AND r.unique_id IN (SELECT unique_id FROM node_results WHERE invocation_id = $inv)
),
node_series AS (
    SELECT unique_id,
        any_value(execution_time) FILTER (WHERE judged) AS et_value,
        max_by(execution_time, generated_at, $window) FILTER (WHERE NOT judged AND isfinite(execution_time)) AS et_recent,
        max_by(execution_time, generated_at, $window) FILTER (WHERE NOT judged AND same_weekday AND isfinite(execution_time)) AS et_weekday,
        any_value(rows_affected) FILTER (WHERE judged) AS ra_value,
        max_by(rows_affected, generated_at, $window) FILTER (WHERE NOT judged AND rows_affected IS NOT NULL) AS ra_recent,
        max_by(rows_affected, generated_at, $window) FILTER (WHERE NOT judged AND same_weekday AND rows_affected IS NOT NULL) AS ra_weekday
    FROM node_points
    GROUP BY unique_id
),
other_points AS (
    SELECT c.check_id AS unique_id, runs.generated_at, runs.judged, runs.same_weekday,
        CASE
            WHEN c.type = 'row_count' THEN 'row_count'
            WHEN c.type = 'freshness' THEN 'freshness_lag'
            WHEN c.total_rows > 0 OR c.metric IS NOT NULL THEN
                CASE WHEN c.type = 'not_null' THEN 'null_ratio' ELSE 'failing_ratio' END
            ELSE 'failing_rows'
        END AS metric,
        CASE
            WHEN c.type = 'row_count' THEN coalesce(c.metric, CAST(c.total_rows AS DOUBLE))
            WHEN c.type = 'freshness' THEN c.metric
            WHEN c.total_rows > 0 THEN CAST(coalesce(c.failing_rows, 0) AS DOUBLE) / c.total_rows
            ELSE coalesce(c.metric, CAST(c.failing_rows AS DOUBLE))
        END AS value
    FROM check_results c JOIN runs USING (invocation_id)
    WHERE c.status <> 'error'
    UNION ALL
    SELECT f.unique_id, runs.generated_at, runs.judged, runs.same_weekday, 'freshness_lag', f.age_s
    FROM source_freshness f JOIN runs USING (invocation_id)
),
other_series AS (
    SELECT unique_id, metric,
        any_value(value) FILTER (WHERE judged) AS value,
        max_by(value, generated_at, $window) FILTER (WHERE NOT judged) AS recent,
        max_by(value, generated_at, $window) FILTER (WHERE NOT judged AND same_weekday) AS weekday
    FROM other_points
    WHERE isfinite(value)
    GROUP BY unique_id, metric
),
series AS (
    SELECT unique_id, 'execution_time' AS metric, et_value AS value, et_recent AS recent, et_weekday AS weekday
    FROM node_series
    UNION ALL
    SELECT unique_id, 'rows_affected', ra_value, ra_recent, ra_weekday FROM node_series
    UNION ALL
    SELECT unique_id, metric, value, recent, weekday FROM other_series
),
centre AS (
    SELECT unique_id, metric, value, train, len(train) AS n, list_median(train) AS med
    FROM (
        SELECT unique_id, metric, value,
            CASE WHEN coalesce(len(weekday), 0) >= $min_points THEN weekday ELSE recent END AS train
        FROM series
        WHERE value IS NOT NULL
    )
    WHERE len(train) >= $min_points
),
spread AS (
    SELECT unique_id, metric, median(abs(v - med)) AS mad
    FROM (SELECT unique_id, metric, med, unnest(train) AS v FROM centre)
    GROUP BY unique_id, metric
),
floors AS (
    SELECT unnest($floor_metrics::VARCHAR[]) AS metric, unnest($floor_values::DOUBLE[]) AS floor
),
banded AS (
    SELECT c.unique_id, c.metric, c.value, c.n, c.med,
        $mad_to_sigma * greatest(
            s.mad * c.n / (c.n - 0.8), $relative_floor * abs(c.med), coalesce(f.floor, $default_floor)
        ) AS sigma
    FROM centre c
    JOIN spread s ON s.unique_id = c.unique_id AND s.metric = c.metric
    LEFT JOIN floors f ON f.metric = c.metric
)
SELECT unique_id, metric, value,
    greatest(med - $k * sigma, 0) AS expected_low,
    med + $k * sigma AS expected_high,
    CASE WHEN value > med THEN 'up' ELSE 'down' END AS direction,
    n
FROM banded
WHERE sigma > 0 AND abs(value - med) > $k * sigma
ORDER BY abs(value - med) / sigma DESC, unique_id, metric
"""


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# The status and resource filters are constants of this module, inlined so DuckDB can push them into
# the scan (an IN over a list parameter became a semi-join that cost more than the rest of the pass).
_SQL = _SQL_TEMPLATE.format(
    statuses=", ".join(_quote(s) for s in JUDGED_STATUSES),
    resources=" OR ".join(f"r.unique_id LIKE {_quote(t + '.%')}" for t in JUDGED_RESOURCES),
)


def _params(invocation_id: str, config: AnomalyConfig) -> dict[str, Any]:
    floors = dict(config.absolute_floors)
    return {
        "inv": invocation_id,
        "window": config.window,
        "min_points": config.min_points,
        "seasonal": config.seasonality,
        "floor_metrics": list(floors),
        "floor_values": [float(v) for v in floors.values()],
        "default_floor": config.default_floor,
        "relative_floor": config.relative_floor,
        "mad_to_sigma": MAD_TO_SIGMA,
        "k": config.sensitivity,
    }


def find_anomalies(
    con: duckdb.DuckDBPyConnection, invocation_id: str | None = None, config: AnomalyConfig | None = None
) -> list[Anomaly]:
    """The anomalies of one invocation (default: the latest) on an open store connection."""
    config = config or AnomalyConfig()
    if invocation_id is None:
        invocation_id = latest_invocation(con)
        if invocation_id is None:
            return []
    else:
        found = con.execute(
            "SELECT 1 FROM invocations WHERE invocation_id = $inv", {"inv": invocation_id}
        ).fetchone()
        if found is None:
            raise HistoryError(f"invocation {invocation_id} is not in the history store")
    rows = con.execute(_SQL, _params(invocation_id, config)).fetchall()
    return [
        Anomaly(
            unique_id=str(uid),
            metric=str(metric),
            value=float(value),
            expected_low=float(low),
            expected_high=float(high),
            direction=str(direction),
            points=int(n),
        )
        for uid, metric, value, low, high, direction, n in rows
    ]


def detect_anomalies(
    store: HistoryStore, invocation_id: str | None = None, config: AnomalyConfig | None = None
) -> list[Anomaly]:
    """Anomalies of one invocation (default: the latest) against its history, most extreme first.

    An absent store has no history, hence no anomalies; an unknown invocation id is a HistoryError.
    """
    if not store.exists:
        return []
    with store.connect() as con:
        return find_anomalies(con, invocation_id, config)
