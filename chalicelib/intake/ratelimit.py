"""Per-caller rate limit on record submissions and corrections.

Every submitted record is cleaned against the population registry and its result can be read
back, so submissions are the other half of a registry lookup: a caller probing the registry must
do it slowly, and the access log (chalicelib/cleaning/access.py) shows who did. A caller (a
facility; a province or a national user for what they submit themselves) may send at most
`per_minute` records in each fixed minute window (the caller key is `cleaning.access.Reader.key()`).
One conditional update of the caller's own window item per call: no shared item, no read before
the write. A fixed window lets a caller send up to twice the rate across a window boundary, which
is fine for a speed bump.
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Callable, Protocol

from chalicelib import errors

WINDOW_S = 60
KEEP_WINDOWS_S = 3600  # how long a spent window item is kept before its TTL removes it


class RateWindows(Protocol):
    def try_take(self, caller: str, window_start: int, amount: int, limit: int, expires_at: int) -> bool:
        """Adds `amount` to the caller's count for the window starting at `window_start` (epoch
        seconds) if the count stays within `limit`; False, and nothing added, if it would not."""


class SubmissionLimiter:
    def __init__(self, windows: RateWindows, clock: Callable[[], datetime], per_minute: int) -> None:
        self._windows = windows
        self._now = clock
        self._limit = per_minute

    def charge(self, caller: str, records: int) -> None:
        """Counts `records` against the caller's current window; TooManyRequests if it is full."""
        records = max(1, records)
        if records > self._limit:
            raise errors.ValidationError(f"at most {self._limit} records a minute may be sent",
                                         details={"field": "records", "count": records})
        now = self._now().timestamp()
        start = int(now // WINDOW_S) * WINDOW_S
        if not self._windows.try_take(caller, start, records, self._limit, start + WINDOW_S + KEEP_WINDOWS_S):
            raise errors.TooManyRequests(
                f"more than {self._limit} records a minute; try again later",
                retry_after_s=max(1, math.ceil(start + WINDOW_S - now)), details={"limit_per_minute": self._limit})

