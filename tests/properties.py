"""Example budgets of the property tests (hypothesis), relative to the loaded profile.

tests/conftest.py registers two profiles: `ci` (the default, used by `make unit` and `make test`),
sized so that the unit suite stays fast while still finding the bugs these properties were
written for (each was checked against the bug planted back, README "Tests"), and `thorough`
(HYPOTHESIS_PROFILE=thorough), ten times as many examples, for a deeper run now and then."""
from __future__ import annotations

from hypothesis import settings


def examples(times: float) -> int:
    """`times` the loaded profile's number of examples."""
    return max(1, int(times * settings.default.max_examples))
