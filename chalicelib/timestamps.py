"""How times are written as text into stored items, manifests and messages, defined once.

The formats differ on purpose and must not drift, because stored strings are compared and sorted:
- `iso_seconds`: the time as given, to the second, with its offset (manifests, audit entries,
  `created_at`/`updated_at` attributes).
- `utc_iso`: converted to UTC first, so the string order of sort keys is time order (complaint
  due dates to the second, access-log reads to the microsecond).
- `utc_stamp`: fixed-width UTC with a `Z`, for conditions that compare times as strings in
  DynamoDB (signing reservations, chunk deadlines).
Pure: no clock is read here; callers pass the time.
"""
from __future__ import annotations

from datetime import datetime, timezone


def iso_seconds(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def utc_iso(t: datetime, timespec: str = "seconds") -> str:
    return t.astimezone(timezone.utc).isoformat(timespec=timespec)


def utc_stamp(t: datetime) -> str:
    """Fixed-width UTC time, so DynamoDB string comparisons order times correctly."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
