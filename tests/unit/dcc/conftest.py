"""Shared DCC fixtures: a fixed clock, deterministic randomness and ES256/PS256 key chains."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.dcc import LocalKeySigner, TrustStore, build_vaccination_payload
from chalicelib.dcc.pki import generate_key, issue_csca, issue_dsc

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=timezone.utc)  # DSC notBefore in these tests


def seeded_bytes(seed: int):
    rng = random.Random(seed)
    return lambda n: rng.randbytes(n)


class Chain:
    def __init__(self, alg: str, usages=("v",), dsc_days=365, start=T0):
        rnd = seeded_bytes(7)
        self.alg = alg
        self.csca_key = generate_key(alg)
        self.csca = issue_csca(self.csca_key, now=start, valid_days=3650, random_bytes=rnd)
        self.dsc_key = generate_key(alg)
        self.dsc = issue_dsc(self.dsc_key.public_key(), csca_cert=self.csca, csca_key=self.csca_key,
                             now=start, valid_days=dsc_days, random_bytes=rnd, usages=usages)
        self.signer = LocalKeySigner(self.dsc_key, self.dsc)
        self.trust = TrustStore.from_certificates([self.dsc])


@pytest.fixture(scope="session")
def es256() -> Chain:
    return Chain("ES256")


@pytest.fixture(scope="session")
def ps256() -> Chain:
    return Chain("PS256")


@pytest.fixture(params=["ES256", "PS256"])
def chain(request, es256, ps256) -> Chain:
    return es256 if request.param == "ES256" else ps256


def make_payload(uvci="URN:UVCI:01:VN:AAAAAAAAAAAAAAAAAAAAAAAAAA#C", name="Nguyễn Thị Đào"):
    return build_vaccination_payload(full_name=name, dob="1990-05-01", product="EU/1/20/1528",
                                     dose_number=2, series_doses=2, vaccination_date="2021-09-01",
                                     uvci=uvci, issuer="Ministry of Health of Viet Nam")


@pytest.fixture
def payload() -> dict:
    return make_payload()


SIGN_AT = T0 + timedelta(days=10)
VERIFY_AT = T0 + timedelta(days=20)
