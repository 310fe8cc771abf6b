"""Multi-Region signing (chalicelib/dcc/regional.py): signatures spread over the Regions' token
buckets, a failing Region set aside and its share signed elsewhere, one DSC for all Regions.
The "Regions" are local signers over one key, as the replicas of a multi-Region key share it."""
from __future__ import annotations

import pytest

from chalicelib.dcc import LocalKeySigner
from chalicelib.dcc.regional import RegionalKey, RegionalSigner, per_consumer_rate
from chalicelib.errors import DependencyUnavailable, Throttled
from chalicelib.platform.token_bucket import TokenBucket


def verify_es256(public_key, data: bytes, raw: bytes) -> bool:
    """Independent check of a raw r||s COSE signature."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public_key.verify(der, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


class RegionSigner:
    """One Region's signer: counts its calls, fails with `error` while it is set."""

    def __init__(self, inner: LocalKeySigner) -> None:
        self.inner, self.calls, self.error = inner, 0, None
        self.alg, self.kid, self.certificate = inner.alg, inner.kid, inner.certificate

    def sign(self, data: bytes) -> bytes:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.inner.sign(data)

    def sign_many(self, messages):
        return [self.sign(m) for m in messages]


def regions(es256, clock, rate=None, names=("ap-southeast-1", "ap-northeast-1")):
    signers = {n: RegionSigner(es256.signer) for n in names}
    keys = [RegionalKey(n, s, TokenBucket(rate, clock=clock, sleep=clock.sleep) if rate else None)
            for n, s in signers.items()]
    return signers, keys


def test_signatures_spread_over_the_regions_and_all_verify_under_the_one_dsc(es256):
    clock = FakeClock()
    signers, keys = regions(es256, clock, rate=10)
    signer = RegionalSigner(keys, clock=clock, sleep=clock.sleep)
    messages = [f"sig-structure {i}".encode() for i in range(10)]
    signatures = [signer.sign(m) for m in messages]
    assert [s.calls for s in signers.values()] == [5, 5]
    assert signer.kid == es256.signer.kid and signer.certificate == es256.dsc
    for m, sig in zip(messages, signatures):
        assert verify_es256(es256.dsc.public_key(), m, sig)


def test_each_region_is_held_to_its_share_of_the_quota(es256):
    # Two Regions at 10/s each, bursts of 10: 60 signatures are 20 in the bursts, then 40 spaced
    # at 20/s across both Regions, i.e. 2 s of waiting, never more calls per second than quota.
    clock = FakeClock()
    signers, keys = regions(es256, clock, rate=10)
    signer = RegionalSigner(keys, clock=clock, sleep=clock.sleep)
    for i in range(60):
        signer.sign(b"m%d" % i)
    assert clock.now == pytest.approx(2.0, abs=0.06)
    assert [s.calls for s in signers.values()] == [30, 30]


def test_without_buckets_the_primary_signs_everything(es256):
    clock = FakeClock()
    signers, keys = regions(es256, clock)
    signer = RegionalSigner(keys, clock=clock, sleep=clock.sleep)
    signer.sign_many([b"a", b"b", b"c"])
    assert [s.calls for s in signers.values()] == [3, 0]


@pytest.mark.parametrize("error", [DependencyUnavailable("KMS is unreachable"),
                                   Throttled("KMS signing is throttled; retry later")])
def test_a_region_down_is_set_aside_and_its_share_signs_in_the_other(es256, error):
    clock = FakeClock()
    signers, keys = regions(es256, clock, rate=100)
    down = []
    signer = RegionalSigner(keys, clock=clock, sleep=clock.sleep, cool_off_s=30,
                            on_region_down=lambda region, e: down.append((region, e.code)))
    signers["ap-southeast-1"].error = error
    messages = [b"m%d" % i for i in range(20)]
    signatures = signer.sign_many(messages)
    assert len(signatures) == 20 and all(verify_es256(es256.dsc.public_key(), m, s)
                                         for m, s in zip(messages, signatures))
    # Tried once, then left alone for the cool-off: the other Region signed all 20.
    assert signers["ap-southeast-1"].calls == 1 and signers["ap-northeast-1"].calls == 20
    assert down == [("ap-southeast-1", error.code)]

    signers["ap-southeast-1"].error = None
    clock.now += 31  # the cool-off is over: the Region takes its share again
    signer.sign_many(messages)
    assert signers["ap-southeast-1"].calls > 1


def test_when_every_region_fails_the_error_reaches_the_caller_after_one_try_each(es256):
    clock = FakeClock()
    signers, keys = regions(es256, clock, rate=100)
    signer = RegionalSigner(keys, clock=clock, sleep=clock.sleep)
    for s in signers.values():
        s.error = DependencyUnavailable("KMS is unreachable")
    with pytest.raises(DependencyUnavailable):
        signer.sign(b"m")
    assert [s.calls for s in signers.values()] == [1, 1]
    # Both set aside: the next signature still tries them (being set aside is a guess).
    for s in signers.values():
        s.error = None
    assert signer.sign(b"m")


def test_attack_a_region_with_another_certificate_is_refused(es256, ps256):
    # One Region under another DSC would issue passports under a kid the others do not have.
    clock = FakeClock()
    keys = [RegionalKey("ap-southeast-1", es256.signer), RegionalKey("ap-northeast-1", ps256.signer)]
    with pytest.raises(ValueError):
        RegionalSigner(keys, clock=clock, sleep=clock.sleep)


def test_each_consumer_takes_its_share_of_the_quota_with_headroom():
    assert per_consumer_rate(1000, 4) == pytest.approx(200)
    assert per_consumer_rate(1000, 1, headroom=1.0) == pytest.approx(1000)
    with pytest.raises(ValueError):
        per_consumer_rate(1000, 0)
