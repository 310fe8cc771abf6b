"""Dev PKI for signing tests: a government CA, facility and focal agency certificates."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.signing import facility_pki as pki

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=timezone.utc)


def seeded_bytes(seed: int):
    rng = random.Random(seed)
    return lambda n: rng.randbytes(n)


class Pki:
    """One CA and helpers to issue signer certificates under it."""

    def __init__(self, kind="EC", seed=1, start=T0):
        self.rnd = seeded_bytes(seed)
        self.ca_key = pki.generate_key(kind)
        self.ca = pki.issue_government_ca(self.ca_key, now=start, valid_days=3650, random_bytes=self.rnd)
        self.start = start

    def signer(self, subject_id, *, kind="EC", province=None, focal_agency=False, days=365, start=None,
               key_usage=None):
        key = pki.generate_key(kind)
        cert = pki.issue_signer_certificate(key.public_key(), ca_cert=self.ca, ca_key=self.ca_key,
                                            subject_id=subject_id, name=f"Signer {subject_id}",
                                            now=start or self.start, valid_days=days, random_bytes=self.rnd,
                                            province=province, focal_agency=focal_agency, key_usage=key_usage)
        return key, cert


@pytest.fixture(scope="session")
def gov() -> Pki:
    return Pki()


@pytest.fixture(scope="session")
def other_gov() -> Pki:
    return Pki(seed=2)


def ids():
    """Signing batch ids SB0001, SB0002, ..."""
    n = iter(range(1, 10**6))
    return lambda: f"SB{next(n):04d}"


@pytest.fixture
def later():
    return T0 + timedelta(days=10)
