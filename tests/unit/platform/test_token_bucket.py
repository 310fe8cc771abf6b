"""The client-side token bucket (chalicelib/platform/token_bucket.py) on a fake clock."""
from __future__ import annotations

import pytest

from chalicelib.platform.token_bucket import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def test_a_full_bucket_lets_its_burst_through_then_spaces_calls_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(10, burst=2, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        bucket.acquire()
    assert clock.slept == pytest.approx([0.1, 0.1, 0.1])


def test_reservations_queue_behind_each_other_without_sleeping_in_the_bucket():
    # Threads reserve at once: each is told its own turn, one rate interval after the previous.
    clock = FakeClock()
    bucket = TokenBucket(100, burst=1, clock=clock, sleep=clock.sleep)
    waits = [bucket.reserve() for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.01, 0.02, 0.03])
    assert bucket.available() == pytest.approx(-3)
    clock.now = 0.03
    assert bucket.available() == pytest.approx(0)


def test_an_idle_bucket_refills_only_up_to_its_burst():
    clock = FakeClock()
    bucket = TokenBucket(5, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        bucket.acquire()
    clock.now = 3600.0
    assert bucket.available() == pytest.approx(5)
    assert clock.slept == []


@pytest.mark.parametrize("rate", [0, -1])
def test_a_rate_that_is_not_positive_is_refused(rate):
    with pytest.raises(ValueError):
        TokenBucket(rate)
