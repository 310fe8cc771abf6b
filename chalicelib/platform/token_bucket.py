"""A client-side token bucket, for callers that must stay under someone else's request quota (the
registry gateway's rate limit, each Region's KMS Sign quota).

Pure and clock-free: `clock` and `sleep` are injected, so tests drive it with a fake clock.
Reservations may take the balance below zero: a caller that reserves when the bucket is empty is
told how long to wait for its turn, and callers after it queue behind it, so concurrent threads
are spaced at `rate` without holding the lock while they sleep.
"""
from __future__ import annotations

import threading
import time
from typing import Callable


class TokenBucket:
    """At most `rate` acquisitions per second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int | None = None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._burst = float(burst or max(1, int(rate)))
        self._tokens = self._burst
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def available(self) -> float:
        """Tokens in the bucket now; below zero while reservations wait for their turn."""
        with self._lock:
            self._refill()
            return self._tokens

    def reserve(self) -> float:
        """Takes one token; returns how many seconds to wait before using it (0: now)."""
        with self._lock:
            self._refill()
            self._tokens -= 1
            return max(0.0, -self._tokens / self.rate)

    def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
