"""Anomaly detection: the robust band against a plain reference implementation, its known-fault
guards (a judged value training its own band, old spikes hiding new ones), floors, seasonality, the
series it reads from checks and freshness, and precision/recall on synthetic histories with known
injected anomalies.

Most histories are written straight into a real DuckDB store's tables (thousands of series in one
INSERT); the tests of what becomes a series go through `HistoryStore.ingest`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipewatch.errors import ConfigError
from pipewatch.history import (
    AnomalyConfig,
    HistoryError,
    HistoryStore,
    detect_anomalies,
    find_anomalies,
    record_and_detect,
)
from pipewatch.history.anomalies import MAD_TO_SIGMA
from pipewatch.history.schema import MIGRATIONS, SCHEMA_VERSION
from pipewatch.history.testing import freshness_result, make_run, node_result
from pipewatch.rules.results import QualityReport
from tests.factories import make_check, make_quality

DAY = 86400.0
T0 = 1_780_000_000.0  # a fixed clock (2026-05-28 UTC)


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory database with the store's schema (the detector needs only a connection)."""
    connection = duckdb.connect()
    for step in MIGRATIONS:
        step(connection)
    connection.execute("INSERT INTO schema_version VALUES ($v)", {"v": SCHEMA_VERSION})
    yield connection
    connection.close()


def inv(t: int) -> str:
    return f"inv-{t:04d}"


def load(
    con: duckdb.DuckDBPyConnection,
    values: np.ndarray,
    *,
    metric: str = "execution_time",
    prefix: str = "model.p.s",
    start: float = T0,
) -> list[str]:
    """Write a history: row s of `values` is series s, column t is daily invocation t (NaN: no result)."""
    series, steps = values.shape
    con.execute(
        "INSERT INTO invocations (invocation_id, generated_at, ingested_at, source) "
        "SELECT i, make_timestamp(CAST(ts * 1e6 AS BIGINT)), make_timestamp(CAST(ts * 1e6 AS BIGINT)), 'artifacts' "
        "FROM (SELECT unnest($ids) AS i, unnest($ts::DOUBLE[]) AS ts) "
        "WHERE i NOT IN (SELECT invocation_id FROM invocations)",
        {"ids": [inv(t) for t in range(steps)], "ts": [start + t * DAY for t in range(steps)]},
    )
    s_idx, t_idx = np.nonzero(~np.isnan(values))
    ids = [f"{prefix}{s:05d}" for s in range(series)]
    column = "execution_time" if metric == "execution_time" else "rows_affected"
    con.execute(
        f"INSERT INTO node_results (invocation_id, unique_id, status, {column}) "
        f"SELECT unnest($inv), unnest($uid), 'success', unnest($v::DOUBLE[])",
        {
            "inv": [inv(int(t)) for t in t_idx],
            "uid": [ids[int(s)] for s in s_idx],
            "v": values[s_idx, t_idx].tolist(),
        },
    )
    return ids


def flagged(con: duckdb.DuckDBPyConnection, t: int, config: AnomalyConfig | None = None) -> set[str]:
    return {a.unique_id for a in find_anomalies(con, inv(t), config)}


# --- the band, against a reference implementation -----------------------------------------------


def reference(
    history: list[float], value: float, config: AnomalyConfig, floor: float
) -> tuple[float, float] | None:
    """median +- k * 1.4826 * max(MAD * n/(n-0.8), floors) over the last `window` points; None: not judged."""
    train = np.array(history[-config.window :])
    if len(train) < config.min_points:
        return None
    med = float(np.median(train))
    mad = float(np.median(np.abs(train - med)))
    n = len(train)
    sigma = MAD_TO_SIGMA * max(mad * n / (n - 0.8), config.relative_floor * abs(med), floor)
    return med, sigma


series_values = st.lists(
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False), min_size=2, max_size=45
)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    values=series_values,
    window=st.integers(1, 40),
    min_points=st.integers(1, 12),
    sensitivity=st.floats(1.0, 6.0),
    relative_floor=st.sampled_from([0.0, 0.05, 0.2]),
    spike=st.floats(0, 5e6),
)
def test_the_band_matches_a_plain_reference_implementation(
    values: list[float],
    window: int,
    min_points: int,
    sensitivity: float,
    relative_floor: float,
    spike: float,
) -> None:
    """Whatever the series: judged on exactly the points before it, median/MAD band, same verdict."""
    config = AnomalyConfig(
        window=window, min_points=min_points, sensitivity=sensitivity, relative_floor=relative_floor
    )
    values = [*values[:-1], spike]  # the judged value: anything, often far out
    connection = duckdb.connect()
    for step in MIGRATIONS:
        step(connection)
    load(connection, np.array([values]))
    got = find_anomalies(connection, inv(len(values) - 1), config)
    connection.close()
    expected = reference(values[:-1], values[-1], config, config.absolute_floors["execution_time"])
    if expected is None:
        assert got == []
        return
    med, sigma = expected
    z = abs(values[-1] - med) / sigma
    assume(abs(z - sensitivity) > 1e-6)  # no verdict on the knife edge of float rounding
    if z <= sensitivity:
        assert got == []
        return
    [anomaly] = got
    assert anomaly.points == min(window, len(values) - 1)
    assert anomaly.direction == ("up" if values[-1] > med else "down")
    assert anomaly.value == values[-1]
    assert anomaly.expected_high == pytest.approx(med + sensitivity * sigma, rel=1e-9, abs=1e-9)
    assert anomaly.expected_low == pytest.approx(max(0.0, med - sensitivity * sigma), rel=1e-9, abs=1e-9)


def test_the_judged_value_never_trains_its_own_band(con: duckdb.DuckDBPyConnection) -> None:
    """Judging run 20 uses runs 0-19 only: what runs 20+ hold changes nothing about run 20's band."""
    rng = np.random.default_rng(3)
    base = rng.normal(100, 5, size=(1, 30))
    base[0, 20] = 180.0
    load(con, base)
    [anomaly] = find_anomalies(con, inv(20), AnomalyConfig(window=10))
    train = base[0, 10:20]
    med = float(np.median(train))
    assert anomaly.points == 10
    assert anomaly.expected_high > med and anomaly.expected_high < 180  # the band is the history's
    assert find_anomalies(con, inv(20), AnomalyConfig(window=10)) == [anomaly]

    # A judged value allowed into its window would pull the band toward itself; it must not.
    other = duckdb.connect()
    for step in MIGRATIONS:
        step(other)
    shifted = base.copy()
    shifted[0, 21:] = 1000.0  # the future: irrelevant to run 20
    load(other, shifted)
    assert find_anomalies(other, inv(20), AnomalyConfig(window=10)) == [anomaly]
    other.close()


def test_an_old_spike_does_not_hide_a_new_one(con: duckdb.DuckDBPyConnection) -> None:
    rng = np.random.default_rng(5)
    history = rng.normal(100, 2, size=31)
    history[10] = 5000.0  # an incident three weeks ago
    history[20] = 4000.0
    history[30] = 130.0  # today: 15 sigma out
    load(con, history[None, :])
    [anomaly] = find_anomalies(con, inv(30))
    assert anomaly.direction == "up" and anomaly.expected_high < 130
    # The fault being guarded against: a mean/stddev band, inflated by the old spikes, hides it.
    train = history[:30]
    assert train.mean() + 3.5 * train.std() > 130


def test_a_series_needs_min_points_before_it_is_judged(con: duckdb.DuckDBPyConnection) -> None:
    nan = float("nan")
    values = np.array([[100.0] * 6 + [500.0, nan], [100.0] * 7 + [500.0]])
    _short, enough = load(con, values)
    assert flagged(con, 6) == set()  # six points of history: not judged
    assert flagged(con, 7) == {enough}  # seven: judged
    assert flagged(con, 7, AnomalyConfig(min_points=8)) == set()


def test_a_perfectly_flat_series_does_not_flag_a_tiny_wobble(con: duckdb.DuckDBPyConnection) -> None:
    values = np.array([[100.0] * 30 + [101.0], [100.0] * 30 + [150.0], [100.0] * 30 + [60.0]])
    ids = load(con, values)
    anomalies = {a.unique_id: a for a in find_anomalies(con, inv(30))}
    assert set(anomalies) == {ids[1], ids[2]}
    half = 3.5 * MAD_TO_SIGMA * 0.05 * 100  # the relative floor: 5% of the median
    assert anomalies[ids[1]].expected_low == pytest.approx(100 - half)
    assert anomalies[ids[1]].expected_high == pytest.approx(100 + half)
    assert (anomalies[ids[1]].direction, anomalies[ids[2]].direction) == ("up", "down")


def test_a_flat_zero_ratio_uses_the_absolute_floor(tmp_path: Path) -> None:
    """A not_null check at 0 nulls for a month: 1 null in a million is noise, 5% nulls is news."""
    store = HistoryStore(tmp_path / "h.duckdb")
    for day in range(11):
        failing = 0 if day < 10 else 1
        store.ingest(make_run(inv(day), T0 + day * DAY, []), quality=_quality(failing, 1_000_000, day))
    assert detect_anomalies(store) == []
    store.ingest(make_run(inv(11), T0 + 11 * DAY, []), quality=_quality(50_000, 1_000_000, 11))
    [anomaly] = detect_anomalies(store)
    assert (anomaly.unique_id, anomaly.metric, anomaly.direction) == (
        "orders::not_null_id",
        "null_ratio",
        "up",
    )
    assert anomaly.value == pytest.approx(0.05)


def _quality(
    failing: int, total: int, day: int, rows: float | None = None, lag: float | None = None
) -> QualityReport:
    checks = [
        make_check(
            "not_null",
            "id",
            check_id="orders::not_null_id",
            status="fail" if failing else "pass",
            failing_rows=failing,
            total_rows=total,
        )
    ]
    if rows is not None:
        checks.append(
            make_check("row_count", check_id="orders::row_count", total_rows=int(rows), metric=rows)
        )
    if lag is not None:
        checks.append(
            make_check("freshness", "created_at", name="freshness", check_id="orders::freshness", metric=lag)
        )
    return make_quality(checks)


# --- what becomes a series --------------------------------------------------------------------


def test_every_kind_of_series_is_judged_through_real_ingest(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.duckdb")
    rng = np.random.default_rng(11)
    for day in range(21):
        at = T0 + day * DAY
        last = day == 20
        results = [
            node_result("model.shop.orders", execution_time=60 * (4 if last else rng.normal(1, 0.03))),
            node_result("model.shop.customers", execution_time=10.0, rows_affected=500 if last else 1000),
            node_result("seed.shop.countries", execution_time=1.0, rows_affected=250),
            # an errored or skipped node says nothing about its usual duration
            node_result(
                "model.shop.broken", status="error" if last else "success", execution_time=0.01 if last else 9
            ),
            node_result(
                "model.shop.skipped", status="skipped" if last else "success", execution_time=0 if last else 5
            ),
            node_result(
                "test.shop.slow_test", status="pass", execution_time=100 if last else 1
            ),  # not a series
        ]
        fresh = [
            freshness_result(
                "source.shop.raw.orders", 30 * 3600 if last else 3600 + rng.normal(0, 60), at - 5
            )
        ]
        run = make_run(inv(day), at, results, freshness=fresh)
        report = _quality(0, 1000, day, rows=300.0 if last else 1000.0 + day, lag=9000.0 if last else 600.0)
        if last:
            result, anomalies = record_and_detect(store, run, quality=report)
            assert result.recorded
        else:
            store.ingest(run, quality=report)
    got = {(a.unique_id, a.metric, a.direction) for a in anomalies}
    assert got == {
        ("model.shop.orders", "execution_time", "up"),
        ("model.shop.customers", "rows_affected", "down"),
        ("orders::row_count", "row_count", "down"),
        ("orders::freshness", "freshness_lag", "up"),
        ("source.shop.raw.orders", "freshness_lag", "up"),
    }
    assert all(a.points == 20 for a in anomalies)
    assert detect_anomalies(store) == anomalies  # the latest invocation by default
    assert detect_anomalies(store, inv(10)) == []


def test_detection_on_an_absent_store_or_unknown_run(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "none.duckdb")
    assert detect_anomalies(store) == []
    assert not store.exists
    store.ingest(make_run("inv-1", T0, [node_result("model.p.a")]))
    assert detect_anomalies(store) == []  # one run is no history
    with pytest.raises(HistoryError, match="invocation nope is not in the history store"):
        detect_anomalies(store, "nope")


def test_anomaly_config_from_pipewatch_yml() -> None:
    config = AnomalyConfig.from_mapping(
        {
            "window": 14,
            "min_points": 5,
            "sensitivity": 4,
            "seasonality": True,
            "floors": {"execution_time": 2},
        }
    )
    assert (config.window, config.min_points, config.sensitivity, config.seasonality) == (14, 5, 4.0, True)
    assert config.absolute_floors["execution_time"] == 2.0 and config.absolute_floors["row_count"] == 1.0
    assert AnomalyConfig.from_mapping(None) == AnomalyConfig()
    for bad, message in [
        ({"window": 0}, "window must be at least 1"),
        ({"window": "30"}, "expected a whole number"),
        ({"sensitivity": -1}, "sensitivity must be a positive number"),
        ({"seasonality": "yes"}, "true or false"),
        ({"windw": 3}, "unknown key"),
        ({"floors": [1]}, "must map metric names"),
        ([1, 2], "must be a mapping"),
    ]:
        with pytest.raises(ConfigError, match=message):
            AnomalyConfig.from_mapping(bad, "pipewatch.yml")  # type: ignore[arg-type]


# --- seasonality --------------------------------------------------------------------------------


def _weekday(t: int) -> int:
    return datetime.fromtimestamp(T0 + t * DAY, tz=timezone.utc).weekday()


def test_weekly_seasonality_compares_like_with_like(con: duckdb.DuckDBPyConnection) -> None:
    """A Monday batch triples the rows every week: normal for Mondays, a miss when it does not come."""
    rng = np.random.default_rng(7)
    series, steps = 300, 71
    judged = steps - 1
    weekly = np.array([3.0 if _weekday(t) == _weekday(judged) else 1.0 for t in range(steps)])
    values = rng.normal(1000, 80, size=(series, steps)) * weekly
    missed = rng.random(series) < 0.5
    values[missed, judged] = rng.normal(1000, 80, size=int(missed.sum()))  # the batch did not run
    ids = np.array(load(con, values))
    plain = flagged(con, judged)
    seasonal = flagged(con, judged, AnomalyConfig(seasonality=True))
    normal_days = set(ids[~missed])
    # Without seasonality every normal batch day looks like a spike ...
    assert len(plain & normal_days) / len(normal_days) > 0.95
    # ... with it, normal batch days pass and the missed batches are caught.
    assert len(seasonal & normal_days) / len(normal_days) <= 0.02
    assert len(seasonal & set(ids[missed])) / missed.sum() >= 0.95


# --- precision and recall on synthetic histories ------------------------------------------------

JUDGED_RUNS = 10  # each series is judged at each of its last 10 runs


def _evaluate(values: np.ndarray, truth: np.ndarray, config: AnomalyConfig) -> tuple[int, int, int, int]:
    """(true pos, false pos, false neg, judgments) of detection at each of the last JUDGED_RUNS runs."""
    connection = duckdb.connect()
    for step in MIGRATIONS:
        step(connection)
    ids = load(connection, values)
    steps = values.shape[1]
    tp = fp = fn = 0
    for t in range(steps - JUDGED_RUNS, steps):
        got = flagged(connection, t, config)
        hit = np.array([uid in got for uid in ids])
        tp += int((hit & truth[:, t]).sum())
        fp += int((hit & ~truth[:, t]).sum())
        fn += int((~hit & truth[:, t]).sum())
    connection.close()
    return tp, fp, fn, values.shape[0] * JUDGED_RUNS


def test_precision_and_recall_on_injected_anomalies(capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(2026)
    steps = 30 + JUDGED_RUNS + 1
    config = AnomalyConfig()

    def noise(n: int) -> tuple[np.ndarray, np.ndarray]:
        level = rng.uniform(100, 10_000, size=(n, 1))
        sigma = level * rng.uniform(0.08, 0.12, size=(n, 1))
        return level + sigma * rng.standard_normal((n, steps)), sigma

    # 1. Stable noise: nothing to find.
    stable, _ = noise(1500)
    stable_truth = np.zeros_like(stable, dtype=bool)

    # 2. One injected anomaly per series in its judged runs: spikes up and down, or a level shift,
    #    of 5 to 8 sigma. After a shift only its first run is an anomaly; later ones are not judged.
    injected, sigma = noise(1500)
    truth = np.zeros_like(injected, dtype=bool)
    judged = np.ones_like(injected, dtype=bool)
    kinds = rng.choice(["spike_up", "spike_down", "shift_up", "shift_down"], size=len(injected))
    for s, kind in enumerate(kinds):
        at = int(rng.integers(steps - JUDGED_RUNS, steps))
        size = rng.uniform(5, 8) * sigma[s, 0] * (1 if kind.endswith("up") else -1)
        if kind.startswith("spike"):
            injected[s, at] += size
        else:
            injected[s, at:] += size
            judged[s, at + 1 :] = False
        truth[s, at] = True
    # Runs after a shift are neither right nor wrong to flag: leave them out of the count.
    injected_eval = np.where(judged, injected, np.nan)

    # 3. Slow drift: +0.5% of the level per run under 10% noise; moving, but no anomaly.
    drift, _ = noise(500)
    drift *= 1 + 0.005 * np.arange(steps)

    _, fp_stable, _, n_stable = _evaluate(stable, stable_truth, config)
    tp, fp_inj, _, _ = _evaluate(injected_eval, truth & judged, config)
    _, fp_drift, _, n_drift = _evaluate(drift, np.zeros_like(drift, dtype=bool), config)
    positives = int((truth & judged).sum())
    recall = tp / positives
    fpr_stable = fp_stable / n_stable
    fpr_drift = fp_drift / n_drift
    precision = tp / (tp + fp_inj + fp_stable)
    with capsys.disabled():
        print(
            f"\nanomaly detection on synthetic histories (window 30, sensitivity 3.5): "
            f"recall {recall:.3f} on {positives} injected 5-8 sigma anomalies, "
            f"precision {precision:.3f} ({tp} true / {fp_inj + fp_stable} false flags), "
            f"false-positive rate {fpr_stable:.4f} on {n_stable} stable-noise judgments, "
            f"{fpr_drift:.4f} on {n_drift} slow-drift judgments"
        )
    assert recall >= 0.9
    assert fpr_stable <= 0.01
    assert fpr_drift <= 0.02
    assert precision >= 0.9


def test_reingesting_a_run_does_not_change_its_verdict(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.duckdb")
    for day in range(12):
        seconds = 50.0 if day == 11 else 10.0 + day % 3
        store.ingest(make_run(inv(day), T0 + day * DAY, [node_result("model.p.a", execution_time=seconds)]))
    first = detect_anomalies(store)
    assert [a.unique_id for a in first] == ["model.p.a"]
    run = make_run(inv(11), T0 + 11 * DAY, [node_result("model.p.a", execution_time=50.0)])
    again = record_and_detect(store, run)
    assert not again[0].recorded and again[1] == first
    assert dataclasses.asdict(first[0])["points"] == 11
