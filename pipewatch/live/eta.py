"""The ETA of a running build, kept current event by event at a bounded cost.

A full simulation costs O(remaining nodes); a 10,000-node build sends tens of thousands of events.
So `EtaTracker` keeps the predicted *end time* and re-simulates only when the plan may have moved:
a failure (dbt now skips part of the rest), every `every_fraction` of the build done, or when more
than `every_s` seconds of build time passed since the last forecast. Between forecasts the ETA is
that end time minus the event's time, which is what a correct plan would say anyway.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import islice

from pipewatch.live.simulate import DEFAULT_DURATION_S, Simulator, WhatIf, expected_durations
from pipewatch.live.state import BuildState

#: Finished nodes with history needed before the build's pace corrects the forecast.
MIN_PACE_NODES = 5
#: Recent finished nodes the pace is measured over (recent: a warehouse can slow down mid-build).
PACE_WINDOW = 501
#: dbt's default thread count, used until ConcurrencyLine says otherwise.
DEFAULT_THREADS = 4


@dataclass(frozen=True, slots=True)
class Eta:
    """A forecast: seconds left from `at` (POSIX s of the event it was made for), and the end time."""

    at: float
    remaining_s: float
    predicted_end: float
    done: int
    total: int

    @property
    def progress(self) -> float:
        """Fraction of the build's nodes finished (0..1)."""
        return self.done / self.total if self.total else 0.0


class EtaTracker:
    """Forecasts the end of one build from its `BuildState` (which must have a manifest)."""

    def __init__(
        self,
        state: BuildState,
        history: Mapping[str, float] | None = None,
        *,
        default_s: float = DEFAULT_DURATION_S,
        every_fraction: float = 0.05,
        every_s: float = 60.0,
    ) -> None:
        """`history`: unique id -> median seconds (see `pipewatch.live.history.median_durations`)."""
        self.state = state
        self.history = dict(history or {})
        self.default_s = default_s
        self.every_fraction = every_fraction
        self.every_s = every_s
        self._sim: Simulator | None = None
        self._selection: frozenset[str] = frozenset()
        self._last: Eta | None = None
        self._failures_seen = 0
        self._invocation: str | None = None
        self._paced = 0  # state.durations entries folded into the pace so far
        self._ratios: deque[float] = deque(maxlen=PACE_WINDOW)

    def pace(self) -> float:
        """How fast this build runs against history: the median of actual / expected seconds over
        the last PACE_WINDOW finished nodes history knows (1.0 until MIN_PACE_NODES of them
        finished; clamped to 0.25..4).

        A warehouse that is 30% slower today makes every node slower at once; history alone
        cannot see that, the nodes already finished can. A median of ratios, not a ratio of sums:
        one node's outlier (or history's own noise, which skews sums upwards) must not move it.
        """
        state = self.state
        if len(state.durations) > self._paced:
            for uid, actual in islice(state.durations.items(), self._paced, None):
                expected = self.history.get(uid)
                if expected and expected > 0 and state.status.get(uid) != "skipped":
                    self._ratios.append(actual / expected)
            self._paced = len(state.durations)
        if len(self._ratios) < MIN_PACE_NODES:
            return 1.0
        return min(max(statistics.median(self._ratios), 0.25), 4.0)

    def simulator(self) -> Simulator | None:
        """The simulator for the current selection (rebuilt when dbt's total changes it)."""
        state = self.state
        if state.graph is None:
            return None
        if self._sim is None or self._selection != state.selected or self._invocation != state.invocation_id:
            # A new invocation starts over: the simulator's pruning assumed `finished` only grows.
            if self._invocation != state.invocation_id:
                self._paced = 0
                self._ratios.clear()
            self._invocation = state.invocation_id
            self._selection = frozenset(state.selected)
            durations = expected_durations(
                state.graph, self._selection, self.history, default_s=self.default_s
            )
            self._sim = Simulator(state.graph, durations)
        return self._sim

    def _finished(self) -> set[str]:
        state = self.state
        return set(state.status) | state.will_skip

    def _running(self, now: float) -> dict[str, float]:
        return {uid: max(now - start, 0.0) for uid, start in self.state.running.items()}

    def update(self, now: float, *, force: bool = False) -> Eta | None:
        """The ETA at `now` (POSIX s), re-simulating only when due; None without a manifest."""
        state = self.state
        total = state.expected_total()
        if state.complete:
            self._last = Eta(now, 0.0, now, state.done, total)
            return self._last
        last = self._last
        force = force or self._invocation != state.invocation_id  # another invocation: start over
        due = (
            force
            or last is None
            or len(state.failures) != self._failures_seen
            or state.done - last.done >= max(self.every_fraction * total, 1.0)
            or now - last.at >= self.every_s
            # The plan ran out while nodes still run (at most once a second: when the state
            # predicts skips dbt does not make, every event would re-run the simulation).
            or (now >= last.predicted_end and now - last.at >= 1.0)
        )
        if not due:
            assert last is not None
            return Eta(now, max(last.predicted_end - now, 0.0), last.predicted_end, state.done, total)
        sim = self.simulator()
        if sim is None:
            return None
        self._failures_seen = len(state.failures)
        left = sim.makespan(
            state.threads or DEFAULT_THREADS, self._finished(), self._running(now), prune=True
        )
        left *= self.pace()
        self._last = Eta(now, left, now + left, state.done, total)
        return self._last

    def what_if(self, now: float) -> WhatIf | None:
        """Predicted remaining wall time at half, double and four times the threads, and the floor."""
        sim = self.simulator()
        if sim is None:
            return None
        threads = self.state.threads or DEFAULT_THREADS
        return sim.what_if(threads, self._finished(), self._running(now))


def eta_errors(
    etas: Sequence[Eta], end: float, fractions: Sequence[float] = (0.25, 0.5, 0.75)
) -> dict[float, float | None]:
    """How wrong the ETA was: at the first forecast at or past each progress fraction,
    |predicted remaining - actual remaining| / actual remaining (None if no forecast got there).

    `end` is when the build really ended (POSIX s): replay a recorded build to measure.
    """
    out: dict[float, float | None] = {}
    for fraction in fractions:
        hit = next((e for e in etas if e.progress >= fraction), None)
        if hit is None:
            out[fraction] = None
            continue
        actual = end - hit.at
        out[fraction] = abs(hit.remaining_s - actual) / actual if actual > 0 else 0.0
    return out
