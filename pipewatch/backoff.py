"""Waiting between retries: exponential backoff with full jitter, the one implementation pipewatch uses.

Before retry n (0-based) a caller waits `uniform(0, min(cap, base * 2**n))`. Full jitter (as opposed to a
fixed or "equal" jitter) gives the lowest total contention when many jobs retry against the same busy
thing (a warehouse, the history store's file lock, a webhook), because it spreads them out instead of
making them collide again in lockstep. `uniform` is injectable so tests are deterministic.

Used by the dbt runner (waits between attempts) and the history store (waits for another writer's lock).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from pipewatch.errors import UsageError

#: The exponent is bounded so a huge retry count cannot overflow; the cap wins long before.
_MAX_EXPONENT = 64


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: before retry n (0-based), wait `uniform(0, min(cap, base*2**n))`.

    `base` and `cap` are seconds; `uniform(low, high)` draws the jitter (default `random.uniform`).
    """

    base: float = 1.0
    cap: float = 30.0
    uniform: Callable[[float, float], float] = field(default=random.uniform, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Refuse negative or non-finite settings with a usage error (they come from flags)."""
        for name in ("base", "cap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
                raise UsageError(f"backoff {name} must be a finite number of seconds >= 0, got {value!r}")

    def ceiling(self, retry: int) -> float:
        """The most retry `retry` (0-based) may wait: `min(cap, base * 2**retry)`."""
        return float(min(self.cap, self.base * 2.0 ** min(max(retry, 0), _MAX_EXPONENT)))

    def delay(self, retry: int, *, at_most: float | None = None) -> float:
        """A jittered wait before retry `retry` (0-based), between 0 and `ceiling(retry)`.

        `at_most` bounds it further, for a caller with a deadline (the time left before giving up).
        """
        ceiling = self.ceiling(retry)
        if at_most is not None:
            ceiling = min(ceiling, max(0.0, at_most))
        if ceiling <= 0:
            return 0.0
        return min(ceiling, max(0.0, float(self.uniform(0.0, ceiling))))
