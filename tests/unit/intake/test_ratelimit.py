"""The per-caller submission rate limit, over the fake window store (its contract with the DynamoDB
adapter: tests/contracts/test_intake.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib import errors
from chalicelib.intake.ratelimit import SubmissionLimiter
from tests.fakes import FakeRateWindows


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


T0 = datetime(2026, 3, 1, 8, 0, 45, tzinfo=timezone.utc)  # 15 s before the minute ends


def test_attack_submission_flood_is_refused_with_retry_after_and_others_go_on():
    windows, clock = FakeRateWindows(), Clock(T0)
    limiter = SubmissionLimiter(windows, clock, per_minute=10)
    limiter.charge("facility#F1", 6)
    limiter.charge("facility#F1", 4)
    with pytest.raises(errors.TooManyRequests) as refused:
        limiter.charge("facility#F1", 1)
    assert refused.value.retry_after_s == 15 and refused.value.code == "RATE_LIMITED"
    limiter.charge("facility#F2", 10)  # another facility has its own window
    assert windows.requests["try_take"] == 4  # one conditional update per call, nothing read first
    assert all(expires > start for (_, start), expires in windows.expires.items())
    clock.t = T0 + timedelta(seconds=15)  # the next minute
    limiter.charge("facility#F1", 10)


def test_a_refused_call_counts_nothing():
    windows = FakeRateWindows()
    limiter = SubmissionLimiter(windows, Clock(T0), per_minute=10)
    limiter.charge("province#001", 8)
    with pytest.raises(errors.TooManyRequests):
        limiter.charge("province#001", 3)
    limiter.charge("province#001", 2)


def test_a_call_larger_than_the_whole_allowance_is_a_clear_400_not_an_endless_429():
    limiter = SubmissionLimiter(FakeRateWindows(), Clock(T0), per_minute=5)
    with pytest.raises(errors.ValidationError) as bad:
        limiter.charge("facility#F1", 6)
    assert bad.value.details["field"] == "records"
