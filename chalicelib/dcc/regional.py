"""One DSC signing in several AWS Regions: the replicas of a KMS multi-Region key.

KMS caps Sign requests per account and Region, so one Region's quota bounds a national campaign
(80 million passports at 1,000/s is 22 hours). The DSC key is a multi-Region key: its replicas
share the key material, hence one public key, one DSC certificate and one `kid`, and a verifier
cannot tell (nor needs to) which Region signed. This module spreads one consumer's signatures over
the Regions and keeps each under its share of its quota; it is pure (signers, token buckets, the
clock and sleep are given), so the choice of Region is unit-tested with a fake clock.

- Each signature goes to the Region with the most tokens left in its bucket (the primary on ties),
  waiting for that Region's turn when every bucket is empty, so throttling stays rare.
- A Region whose signer fails (unreachable, refusing, or still throttled after its own retries)
  is set aside for `cool_off_s` and the signature is retried in the others: one Region down costs
  its share of throughput, never a passport. When every Region is set aside, they are tried
  anyway (being set aside is a guess), and only if all fail does the error reach the caller, whose
  message is then redelivered.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from cryptography.hazmat.primitives.serialization import Encoding

from chalicelib.dcc.signer import Signer, sign_concurrently
from chalicelib.errors import DependencyUnavailable
from chalicelib.platform.token_bucket import TokenBucket

# Share of each Region's quota the countersign consumers use: the rest is left for the audit
# anchor's signatures, operators' tools and the quota's own measurement granularity.
QUOTA_HEADROOM = 0.8


def per_consumer_rate(quota_per_s: float, consumers: int, headroom: float = QUOTA_HEADROOM) -> float:
    """Sign requests per second one consumer may send to one Region so that `consumers` running at
    once stay under `headroom` of the Region's quota."""
    if quota_per_s <= 0 or consumers < 1:
        raise ValueError("the quota must be positive and there must be at least one consumer")
    return quota_per_s * headroom / consumers


@dataclass
class RegionalKey:
    """One Region's signer for the DSC, and the bucket of that Region's quota (shared by every
    DSC signing there: the quota is the account's, not the key's)."""

    region: str
    signer: Signer
    bucket: TokenBucket | None = None


class RegionalSigner:
    """A Signer over the same DSC in several Regions (see the module docstring)."""

    def __init__(self, keys: Sequence[RegionalKey], *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, cool_off_s: float = 30.0, max_workers: int = 16,
                 on_region_down: Callable[[str, DependencyUnavailable], None] | None = None) -> None:
        if not keys:
            raise ValueError("a regional signer needs at least one Region")
        der = {k.signer.certificate.public_bytes(Encoding.DER) for k in keys}
        if len(der) != 1:
            # Replicas share one DSC; a Region with another certificate would issue passports
            # under a kid the others do not have.
            raise ValueError("every Region must sign with the same DSC certificate")
        self._keys = list(keys)
        self.alg, self.kid, self.certificate = keys[0].signer.alg, keys[0].signer.kid, keys[0].signer.certificate
        self._clock = clock
        self._sleep = sleep
        self._cool_off_s = cool_off_s
        self._max_workers = max_workers * len(keys)
        self._on_region_down = on_region_down
        self._down_until: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def regions(self) -> list[str]:
        return [k.region for k in self._keys]

    def sign(self, data: bytes) -> bytes:
        tried: set[str] = set()
        while True:
            key, wait = self._choose(tried)
            if wait > 0:
                self._sleep(wait)
            try:
                return key.signer.sign(data)
            except DependencyUnavailable as e:  # Throttled too: the signer has retried already
                tried.add(key.region)
                self._set_aside(key.region, e)
                if len(tried) == len(self._keys):
                    raise

    def sign_many(self, messages: Sequence[bytes]) -> list[bytes]:
        return sign_concurrently(self.sign, messages, self._max_workers, "regional-sign")

    def _choose(self, tried: set[str]) -> tuple[RegionalKey, float]:
        """The Region to sign in and how long to wait for its turn. Chosen and reserved under one
        lock: concurrent threads reading the buckets before any reserved would all pick the same."""
        with self._lock:
            now = self._clock()
            left = [k for k in self._keys if k.region not in tried]
            up = [k for k in left if self._down_until.get(k.region, 0.0) <= now]
            if up:
                # max() keeps the first of equals: the primary, listed first, takes the ties.
                key = max(up, key=lambda k: k.bucket.available() if k.bucket is not None else float("inf"))
            else:  # all set aside: the one coming back first
                key = min(left, key=lambda k: self._down_until.get(k.region, 0.0))
            return key, key.bucket.reserve() if key.bucket is not None else 0.0

    def _set_aside(self, region: str, error: DependencyUnavailable) -> None:
        with self._lock:
            self._down_until[region] = self._clock() + self._cool_off_s
        if self._on_region_down is not None:
            self._on_region_down(region, error)
