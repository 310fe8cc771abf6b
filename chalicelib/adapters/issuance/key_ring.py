"""The countersign worker's signing keys: the DSCs registered for KMS keys, as a KeyRing of KMS
signers (adapters/dcc/kms_signer.py), each signing in every configured Region.

Multi-Region (VAXPASS_SIGNING_REGIONS): the DSC key is a KMS multi-Region key whose replicas
carry the same alias in each Region, so a DSC's `key_ref` names its key everywhere. Each Region
gets its own KMS client and a token bucket of its quota, and a `RegionalSigner`
(chalicelib/dcc/regional.py) spreads the signatures over them. A Region signs for a DSC only once
its key's public key has been read there and found equal to the certificate's: an alias pointing
elsewhere in one Region (a mistake, or someone re-pointing it) would otherwise issue passports no
verifier accepts.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Mapping

from chalicelib import errors

if TYPE_CHECKING:
    from chalicelib.dcc.signer import KeyRing


class KmsKeyRing:
    """The DSCs registered with a KMS key for the configured algorithm, as a KeyRing; reloaded
    every few minutes so a newly registered DSC takes over without a redeploy."""

    TTL_S = 300
    # A Region left out because it could not be checked is looked at again sooner.
    RETRY_REGION_S = 30

    def __init__(self, dscs, kms_client, alg: str, clock=time.monotonic, *, region: str = "primary",
                 replicas: Mapping[str, object] | None = None, sign_rate_per_s: float | None = None,
                 sleep=time.sleep) -> None:
        from chalicelib.platform.token_bucket import TokenBucket

        self._dscs = dscs
        self._alg = alg
        self._clock = clock
        self._sleep = sleep
        # Region -> its KMS client, the primary first.
        self._clients: dict[str, object] = {region: kms_client, **(replicas or {})}
        # One bucket per Region for the life of the ring: the quota is per account and Region,
        # whichever DSC signs, so reloading the DSCs must not refill it.
        self._buckets = {r: TokenBucket(sign_rate_per_s, clock=clock, sleep=sleep) for r in self._clients} \
            if sign_rate_per_s else {}
        self._ring: KeyRing | None = None
        self._loaded = 0.0
        self._ttl = float(self.TTL_S)
        self._lock = threading.Lock()

    def __call__(self, now: datetime):
        from chalicelib.dcc.signer import KeyRing

        with self._lock:
            if self._ring is None or self._clock() - self._loaded > self._ttl:
                signers, complete = self._signers()
                if not signers and not complete:
                    raise errors.DependencyUnavailable("no signing Region's KMS key could be read")
                if not signers:
                    raise errors.DependencyUnavailable(f"no {self._alg} DSC registered for a KMS key "
                                                       "(run: python -m chalicelib.cli keys provision-kms)")
                self._ring, self._loaded = KeyRing(signers), self._clock()
                self._ttl = float(self.TTL_S if complete else self.RETRY_REGION_S)
            return self._ring.current(now)

    def _signers(self) -> tuple[list, bool]:
        """A signer per usable DSC, and whether every Region could be checked."""
        from chalicelib.adapters.dcc.kms_signer import KmsSigner, public_key_of
        from chalicelib.dcc.regional import RegionalKey, RegionalSigner
        from chalicelib.dcc.signer import alg_for_public_key, same_public_key
        from chalicelib.platform.logging import get_logger

        public_keys: dict[tuple[str, str], object] = {}
        complete = True
        signers = []
        for entry in self._dscs.all():
            if not entry.key_ref or alg_for_public_key(entry.certificate.public_key()) != self._alg:
                continue
            keys = []
            for region, client in self._clients.items():
                if (entry.key_ref, region) not in public_keys:
                    try:
                        public_keys[entry.key_ref, region] = public_key_of(client, entry.key_ref)
                    except errors.DependencyUnavailable as e:
                        complete = False
                        public_keys[entry.key_ref, region] = None
                        get_logger().warning("signing Region left out: its key cannot be read", region=region,
                                             kid=entry.kid, aws_error=e.details.get("aws_error"))
                public_key = public_keys[entry.key_ref, region]
                if public_key is None:
                    continue
                if not same_public_key(public_key, entry.certificate.public_key()):
                    get_logger().warning("signing Region left out: its key is not the DSC's key", region=region,
                                         kid=entry.kid)
                    continue
                keys.append(RegionalKey(region, KmsSigner(client, entry.key_ref, entry.certificate),
                                        self._buckets.get(region)))
            if keys:
                signers.append(RegionalSigner(keys, clock=self._clock, sleep=self._sleep,
                                              on_region_down=_log_region_down))
        return signers, complete


def _log_region_down(region: str, error: errors.DependencyUnavailable) -> None:
    from chalicelib.platform.logging import get_logger

    get_logger().warning("signing Region set aside; the others sign its share", region=region, error=error.code,
                         aws_error=error.details.get("aws_error"))
